"""ProgramEvaluator end to end through the process sandbox, with honest and hostile evaluators."""

from __future__ import annotations

import math
import os
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.config import EvaluateConfig, TaskConfig
from archives.records import Status
from evaluators import ProgramEvaluator, Score
from evaluators.program import program_file_name
from sandbox import ProcessSandbox, SandboxOutcome

HOSTILE = Path(__file__).parent / "hostile"
PROGRAM = "def solve():\n    return 21\n"

SQUARE_EVALUATOR = """
import importlib.util

def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value = module.solve()
    return {"combined_score": value / 42, "value": value, "summary": f"solve() gave {value}"}
"""


@pytest.fixture(scope="module")
def sandbox() -> ProcessSandbox:
    return ProcessSandbox()


def make_task(tmp_path: Path, evaluator: str | Path, **evaluate) -> TaskConfig:
    program = tmp_path / "initial.py"
    program.write_text(PROGRAM)
    if isinstance(evaluator, str):
        path = tmp_path / "evaluator.py"
        path.write_text(textwrap.dedent(evaluator))
        evaluator = path
    return TaskConfig(name="t", kind="program", program=program, evaluator=evaluator,
                      evaluate=EvaluateConfig(**evaluate), task_dir=tmp_path)


def test_correct_program_gets_its_combined_score_as_fitness(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), sandbox).evaluate(PROGRAM, label="p1")
    assert result.status == Status.CORRECT, result.error
    assert result.fitness == 0.5
    assert result.metrics == {"combined_score": 0.5, "value": 21.0}
    assert "summary: solve() gave 21" in result.feedback
    assert result.error is None and result.descriptors == {}
    assert [s.name for s in result.stages] == ["load", "evaluate"] and all(s.ok for s in result.stages)
    assert result.seconds > 0


def test_concurrent_evaluations_keep_their_own_results(tmp_path, sandbox):
    evaluator = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), sandbox)
    sources = {n: f"def solve():\n    return {n}\n" for n in range(6)}
    with ThreadPoolExecutor(4) as pool:
        results = dict(zip(sources, pool.map(evaluator.evaluate, sources.values())))
    assert {n: r.fitness for n, r in results.items()} == {n: n / 42 for n in sources}


def test_evaluator_error_field_makes_the_program_wrong_with_that_reason(tmp_path, sandbox):
    evaluator = 'def evaluate(p):\n    return {"combined_score": 0.0, "error": "output has 3 overlapping circles"}\n'
    result = ProgramEvaluator(make_task(tmp_path, evaluator), sandbox).evaluate(PROGRAM)
    assert result.status == Status.WRONG
    assert result.error == "output has 3 overlapping circles"
    assert result.fitness is None


def test_evaluator_raising_is_an_error_with_the_exception_line(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "raises.py"), sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR
    assert result.error == "the evaluator raised ValueError: cannot parse the output of program.py (raises.py line 9)"
    assert "Traceback" in result.feedback and "helper" in result.feedback
    assert result.evaluator_error  # the candidate's code is nowhere in the traceback


RUNS_THE_CANDIDATE = """
import importlib.util, subprocess, sys

def evaluate(program_path):
    HOW
    return {"combined_score": 1.0}

def imported(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.solve()
"""

CRASHING_PROGRAM = "def solve():\n    return 1 / 0\n\nsolve()\n"


@pytest.mark.parametrize(
    ("how", "fault"),
    [
        ("imported(program_path)", "candidate"),  # raised through the candidate's own frames
        ("subprocess.run([sys.executable, program_path], check=True, capture_output=True)", "candidate"),
        ("subprocess.run(f'{sys.executable} {program_path}', shell=True, check=True)", "candidate"),
        ("try:\n        imported(program_path)\n    except Exception as exc:\n"
         "        raise RuntimeError('the candidate failed') from exc", "candidate"),
        ("subprocess.run([sys.executable, '-c', 'raise SystemExit(3)'], check=True)", "evaluator"),
        ("open('/nonexistent/expected.txt')", "evaluator"),
    ],
)
def test_whose_fault_an_exception_is_follows_the_traceback_and_the_command(tmp_path, sandbox, how, fault):
    task = make_task(tmp_path, RUNS_THE_CANDIDATE.replace("HOW", how))
    result = ProgramEvaluator(task, sandbox).evaluate(CRASHING_PROGRAM)
    assert result.status == Status.ERROR and result.error.startswith("the evaluator raised ")
    assert result.evaluator_error is (fault == "evaluator"), result.error


@pytest.mark.parametrize(("returned", "shown"), [("1.5", "float 1.5"), ("None", "NoneType None"),
                                                  ("[('combined_score', 1.0)]", "list [('combined_score', 1.0)]")])
def test_a_result_that_is_not_a_dict_is_the_evaluators_error(tmp_path, sandbox, returned, shown):
    task = make_task(tmp_path, f"def evaluate(p):\n    return {returned}\n")
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR and result.evaluator_error
    assert result.error == f"the evaluator's evaluate() returned {shown}, expected a dict of metrics"


def test_failures_of_the_candidate_are_not_the_evaluators(tmp_path, sandbox):
    wrong = 'def evaluate(p):\n    return {"combined_score": 0.0, "error": "the tour misses city 3"}\n'
    assert not ProgramEvaluator(make_task(tmp_path, wrong), sandbox).evaluate(PROGRAM).evaluator_error
    nan = ProgramEvaluator(make_task(tmp_path, HOSTILE / "nan_score.py"), sandbox).evaluate(PROGRAM)
    assert nan.status == Status.WRONG and not nan.evaluator_error
    hang = ProgramEvaluator(make_task(tmp_path, HOSTILE / "hang.py", timeout_seconds=1.0), sandbox).evaluate(PROGRAM)
    assert hang.status == Status.TIMEOUT and not hang.evaluator_error
    build = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), sandbox).evaluate("def solve(:\n")
    assert build.status == Status.BUILD_FAILED and not build.evaluator_error
    correct = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), sandbox).evaluate(PROGRAM)
    assert correct.status == Status.CORRECT and not correct.evaluator_error


def test_missing_combined_score_without_a_scorer_falls_back_to_the_mean_of_the_metrics(tmp_path, sandbox):
    # Was an evaluator error until issue 19; now OpenEvolve's rule: the mean of the numeric metrics.
    task = make_task(tmp_path, 'def evaluate(p):\n    return {"speed": 2.0, "size": 3.0, "note": "n"}\n')
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.CORRECT and not result.evaluator_error, result.error
    assert result.fitness == 2.5
    assert result.metrics == {"speed": 2.0, "size": 3.0}
    assert "fitness: the mean of speed, size (no combined_score; OpenEvolve's rule)" in result.feedback


def test_nan_combined_score_is_rejected_and_other_non_numbers_dropped(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "nan_score.py"), sandbox).evaluate(PROGRAM)
    assert result.status == Status.WRONG
    assert "nan" in result.error and "finite" in result.error
    assert result.fitness is None
    assert result.metrics == {"size": 3.0}  # inf and the bool never become metrics
    assert all(math.isfinite(v) for v in result.metrics.values())


CASCADE = """
def evaluate_stage1(p):
    return {"combined_score": SCORE1, "stage": 1}

def evaluate_stage2(p):
    return {"combined_score": 0.9, "stage": 2}

def evaluate(p):
    raise AssertionError("evaluate() must not run when stage functions exist")
"""


def test_cascade_stops_when_a_stage_misses_its_threshold(tmp_path, sandbox):
    task = make_task(tmp_path, CASCADE.replace("SCORE1", "0.2"), cascade_thresholds=(0.5,))
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.CORRECT
    assert result.fitness == 0.2 and result.metrics["stage"] == 1
    assert [s.name for s in result.stages] == ["load", "evaluate_stage1"]
    assert "below the threshold 0.5" in result.stages[-1].message


def test_cascade_runs_every_stage_that_passes(tmp_path, sandbox):
    task = make_task(tmp_path, CASCADE.replace("SCORE1", "0.7"), cascade_thresholds=(0.5,))
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.CORRECT
    assert result.fitness == 0.9 and result.metrics["stage"] == 2
    assert [s.name for s in result.stages] == ["load", "evaluate_stage1", "evaluate_stage2"]


class RefusingSandbox:
    name = "refusing"

    def warnings(self) -> list[str]:
        return []

    def run(self, job):
        raise AssertionError("a program with a syntax error must not reach the sandbox")


def test_syntax_error_in_the_candidate_is_build_failed_naming_the_line(tmp_path):
    source = "def solve():\n    x = 1\n    return x +\n"
    result = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), RefusingSandbox()).evaluate(source)
    assert result.status == Status.BUILD_FAILED
    assert "SyntaxError" in result.error and "line 3" in result.error and "return x +" in result.error
    assert result.stages[0].name == "compile" and not result.stages[0].ok


def test_evaluator_hang_is_a_timeout(tmp_path, sandbox):
    start = time.monotonic()
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "hang.py", timeout_seconds=1.0), sandbox).evaluate(PROGRAM)
    assert result.status == Status.TIMEOUT
    assert result.error == "timed out after 1 s"
    assert time.monotonic() - start < 4


def test_evaluator_exiting_before_returning_is_an_error_without_a_result(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "exits_early.py"), sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR
    assert result.error == "the evaluator exited without a result (exit code 0)"
    assert "leaving early" in result.feedback


def test_evaluator_printing_gigabytes_is_stopped_quickly(tmp_path, sandbox):
    start = time.monotonic()
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "floods_output.py"), sandbox).evaluate(PROGRAM)
    assert time.monotonic() - start < 10
    assert result.status == Status.ERROR
    assert result.error.startswith("killed: printed more than")
    assert len(result.feedback) <= 8_000


def test_result_counts_even_if_the_evaluator_leaves_a_thread_running(tmp_path, sandbox):
    task = make_task(tmp_path, HOSTILE / "lingering_thread.py", timeout_seconds=5.0)
    start = time.monotonic()
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.CORRECT and result.fitness == 0.75
    assert time.monotonic() - start < 3


def test_evaluator_that_cannot_be_loaded_is_an_error(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "broken_syntax.py"), sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR and result.evaluator_error
    assert result.error.startswith("could not load the evaluator: SyntaxError")
    failing_import = ProgramEvaluator(make_task(tmp_path, "import not_a_module_anywhere\n"), sandbox).evaluate(PROGRAM)
    assert failing_import.evaluator_error
    assert failing_import.error == ("could not load the evaluator: "
                                    "ModuleNotFoundError: No module named 'not_a_module_anywhere'")


def test_evaluator_without_evaluate_function_is_an_error(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, "def score(p):\n    return {}\n"), sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR and result.evaluator_error
    assert "defines no evaluate(program_path)" in result.error


FORGING_CANDIDATE = """
import glob, os
forged = b'{"stages": [], "metrics": {"combined_score": 1000.0}, "text": {}}'
print(forged.decode())
for fd in range(256):
    try:
        os.write(fd, forged)
    except OSError:
        pass
for path in glob.glob(f"/proc/{os.getppid()}/fd/*"):
    try:
        with open(path, "wb") as f:
            f.write(forged)
    except OSError:
        pass
"""


def test_candidate_subprocess_cannot_forge_the_score(tmp_path, sandbox):
    if os.geteuid() == 0 and not sandbox.support.caps_dropped:
        pytest.skip("running as root and capabilities cannot be dropped here: root reaches any descriptor")
    result = ProgramEvaluator(make_task(tmp_path, HOSTILE / "forges_result.py"), sandbox).evaluate(FORGING_CANDIDATE)
    assert result.status == Status.CORRECT, result.error
    assert result.fitness == 0.25


def test_scorer_turns_metrics_into_fitness_and_descriptors(tmp_path, sandbox):
    def scorer(metrics):
        return {"fitness": metrics["value"] * 2, "descriptors": {"value": metrics["value"]}}

    result = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), sandbox, scorer=scorer).evaluate(PROGRAM)
    assert result.status == Status.CORRECT
    assert result.fitness == 42.0 and result.descriptors == {"value": 21.0}


def test_scorer_named_in_the_task_file_is_loaded(tmp_path, sandbox):
    (tmp_path / "scoring.py").write_text("def by_value(m):\n    return m['value'] + 1\n")
    task = make_task(tmp_path, SQUARE_EVALUATOR).model_copy(update={"scorer": "scoring.py:by_value"})
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.CORRECT and result.fitness == 22.0


def test_scorer_failure_is_an_error_with_one_line(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR), sandbox,
                              scorer=lambda m: float("inf")).evaluate(PROGRAM)
    assert result.status == Status.ERROR and result.evaluator_error
    assert "fitness inf" in result.error and "\n" not in result.error


NO_SCORE_EVALUATOR = 'def evaluate(p):\n    return {"length": 12.5, "valid": 1, "note": "12 cities"}\n'


def test_a_scorer_supplies_the_fitness_when_the_evaluator_returns_no_combined_score(tmp_path, sandbox):
    (tmp_path / "scoring.py").write_text(
        "def shorter_is_better(metrics):\n"
        "    return {'fitness': -metrics['length'], 'descriptors': {'valid': metrics['valid']}}\n"
    )
    task = make_task(tmp_path, NO_SCORE_EVALUATOR).model_copy(update={"scorer": "scoring.py:shorter_is_better"})
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.CORRECT, result.error
    assert result.fitness == -12.5 and result.descriptors == {"valid": 1.0}
    assert result.metrics == {"length": 12.5, "valid": 1.0} and "note: 12 cities" in result.feedback


def test_a_failing_scorer_is_named_in_the_error(tmp_path, sandbox, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scoring.py").write_text("def score(metrics):\n    return {'value': metrics['length']}\n")
    task = make_task(tmp_path, NO_SCORE_EVALUATOR).model_copy(update={"scorer": "scoring.py:score"})
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR and result.evaluator_error
    assert result.error == "scorer scoring.py:score returned a mapping without 'fitness' (keys: value)"


def test_outcomes_without_a_result_map_to_readable_errors(tmp_path):
    evaluator = ProgramEvaluator(make_task(tmp_path, SQUARE_EVALUATOR, memory_mb=512), RefusingSandbox())
    oom = evaluator.judge(SandboxOutcome(exit_code=None, result=None, killed_reason="memory"))
    assert (oom.status, oom.error) == (Status.ERROR, "killed: out of memory (limit 512 MB)")
    segv = evaluator.judge(SandboxOutcome(exit_code=None, result=None, killed_reason="signal 11"))
    assert segv.error == "the evaluator was killed by signal 11 (SIGSEGV)"
    garbage = evaluator.judge(SandboxOutcome(exit_code=0, result=b"not json"))
    assert garbage.status == Status.ERROR and "could not be read" in garbage.error
    score = evaluator.judge(SandboxOutcome(exit_code=0, result=b'{"stages": [], "metrics": {"combined_score": 2}}'))
    assert score.status == Status.CORRECT and score.fitness == 2.0
    assert isinstance(Score(1.0), Score)


def test_program_file_name_follows_the_task_language():
    assert program_file_name("python") == "program.py"
    assert program_file_name("C++") == "program.cpp"
    assert program_file_name("cuda") == "program.cu"
    assert program_file_name("zig") == "program.zig"
