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
    assert "ValueError: cannot parse the output of program.py" in result.error
    assert "\n" not in result.error
    assert "Traceback" in result.feedback and "helper" in result.feedback


def test_missing_combined_score_is_wrong(tmp_path, sandbox):
    task = make_task(tmp_path, 'def evaluate(p):\n    return {"speed": 2.0}\n')
    result = ProgramEvaluator(task, sandbox).evaluate(PROGRAM)
    assert result.status == Status.WRONG
    assert result.error == "evaluator returned no combined_score"
    assert result.metrics == {"speed": 2.0}


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
    assert result.status == Status.ERROR
    assert result.error.startswith("could not load the evaluator: SyntaxError")


def test_evaluator_without_evaluate_function_is_an_error(tmp_path, sandbox):
    result = ProgramEvaluator(make_task(tmp_path, "def score(p):\n    return {}\n"), sandbox).evaluate(PROGRAM)
    assert result.status == Status.ERROR
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
    assert result.status == Status.ERROR
    assert "fitness inf" in result.error and "\n" not in result.error


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
