"""OpenEvolve-style evaluators scored by evoforge's program evaluator and by OpenEvolve's rules.

Every case runs through the real ProgramEvaluator in the process sandbox and must give the
fitness and metrics written here, derived by hand from OpenEvolve 0.3.2's rules (its
`Evaluator` cascade and `get_fitness_score`). Where /work/oe-venv (or $EVOFORGE_OPENEVOLVE_PYTHON)
holds OpenEvolve, the same cases also run through OpenEvolve's own `Evaluator` and must give the
same numbers; CI has no such venv, so there the written numbers alone keep the rules from drifting.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.config import DescriptorSpec, EvaluateConfig, MapElitesConfig, SearchConfig, TaskConfig
from archives.records import Status
from evaluators import ProgramEvaluator
from sandbox import ProcessSandbox

HERE = Path(__file__).parent
EVALUATORS = HERE / "oe_evaluators"
OE_PYTHON = Path(os.environ.get("EVOFORGE_OPENEVOLVE_PYTHON", "/work/oe-venv/bin/python"))


@dataclass(frozen=True)
class Case:
    evaluator: str
    value: float  # the candidate's VALUE
    fitness: float  # what OpenEvolve's rules give, worked out by hand
    metrics: dict[str, float]  # evoforge's metrics: OpenEvolve's, less bools and text
    thresholds: tuple[float, ...] = (0.5, 0.75)
    cascade: bool = True
    descriptors: tuple[str, ...] = ()
    stages: tuple[str, ...] = ("evaluate",)
    feedback: tuple[str, ...] = field(default=())  # lines the feedback must hold

    @property
    def program(self) -> str:
        return f"VALUE = {self.value!r}\n"


CASES = {
    # evaluate() returning a dict: combined_score is the fitness.
    "dict": Case("dict_result", 6, 0.6, {"combined_score": 0.6, "value": 6.0}, feedback=("summary: VALUE is 6",)),
    # An EvaluationResult: artifacts are feedback (non-text as JSON), never metrics.
    "artifacts": Case("with_artifacts", 2, 0.2, {"combined_score": 0.2, "accuracy": 2 / 3}, feedback=(
        "stdout: ran 3 cases with VALUE 2", "raw: raw bytes", "elapsed_ms: 12",
        'cases: [{"case": 0, "ok": true}, {"case": 1, "ok": true}, {"case": 2, "ok": false}]',
        'module_feedback: {"parser": {"ok": true, "hints": ["fine"]}}')),
    # Three stages with combined_score, thresholds 0.5 and 0.75.
    "combined: stage 1 fails": Case(
        "cascade_combined", 3, 0.3, {"combined_score": 0.3, "stage1_only": 7.0}, stages=("evaluate_stage1",),
        feedback=("evaluate_stage1: combined_score 0.3 below the threshold 0.5; later stages skipped",)),
    "combined: stage 2 fails": Case(
        "cascade_combined", 6, 0.65,
        {"runs_successfully": 1.0, "combined_score": 0.65, "stage1_only": 7.0, "speed": 12.0},
        stages=("evaluate_stage1", "evaluate_stage2")),
    "combined: all pass": Case(
        "cascade_combined", 8, 0.9,
        {"runs_successfully": 1.0, "combined_score": 0.9, "stage1_only": 7.0, "speed": 24.0, "final": 1.0},
        stages=("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")),
    "combined: no threshold for stage 3": Case(
        "cascade_combined", 8, 0.85,
        {"runs_successfully": 1.0, "combined_score": 0.85, "stage1_only": 7.0, "speed": 16.0},
        thresholds=(0.5,), stages=("evaluate_stage1", "evaluate_stage2")),
    # Three stages without combined_score: the gates compare means (bools counted, error not),
    # the fitness is the mean of the merged metrics (stage 1's bool became 1.0 in the merge).
    "mean: stage 1 fails": Case(
        "cascade_mean", 1, 1.1 / 3, {"runs_successfully": 1.0, "correct": 0.1, "error": 0.0},
        stages=("evaluate_stage1",), feedback=("status: stage 1 ran",)),
    "mean: stage 2 fails": Case(
        "cascade_mean", 3, 2.9 / 4, {"runs_successfully": 1.0, "correct": 0.3, "valid": 1.0, "speedup": 0.6},
        stages=("evaluate_stage1", "evaluate_stage2"),
        feedback=("evaluate_stage2: mean of 4 numeric metrics 0.725 below the threshold 0.75; later stages skipped",)),
    "mean: all pass": Case(
        "cascade_mean", 6, 4.6 / 5,
        {"runs_successfully": 1.0, "correct": 0.6, "valid": 1.0, "speedup": 1.5, "robust": 0.5},
        stages=("evaluate_stage1", "evaluate_stage2", "evaluate_stage3"),
        feedback=("fitness: the mean of runs_successfully, correct, valid, speedup, robust "
                  "(no combined_score; OpenEvolve's rule)",)),
    "mean: all pass, low": Case(
        "cascade_mean", 4, 3.9 / 5,
        {"runs_successfully": 1.0, "correct": 0.4, "valid": 1.0, "speedup": 1.0, "robust": 0.5},
        stages=("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")),
    # cascade_evaluation: false: evaluate() alone, its bool left out of the fitness.
    "cascade off, combined": Case("cascade_combined", 6, 0.6, {"combined_score": 0.6, "stage1_only": 7.0},
                                  cascade=False),
    "cascade off, mean": Case("cascade_mean", 6, 1.6 / 3, {"runs_successfully": 1.0, "correct": 0.6, "error": 0.0},
                              cascade=False),
    # No combined_score at all: the mean of the numbers (bool out, numeric error in) ...
    "no combined_score": Case("no_combined_score", 6, 43.6 / 4,
                              {"accuracy": 0.6, "speed": 3.0, "error": 0.0, "loc": 40.0},
                              feedback=("fitness: the mean of accuracy, speed, error, loc "
                                        "(no combined_score; OpenEvolve's rule)",)),
    # ... less the MAP-Elites feature dimensions (evoforge's descriptors).
    "no combined_score, descriptor left out": Case(
        "no_combined_score", 6, 3.6 / 3, {"accuracy": 0.6, "speed": 3.0, "error": 0.0, "loc": 40.0},
        descriptors=("loc",)),
}


@pytest.fixture(scope="module")
def sandbox() -> ProcessSandbox:
    return ProcessSandbox()


def make_task(tmp_path: Path, evaluator: Path, descriptors: tuple[str, ...] = (), **evaluate) -> TaskConfig:
    program = tmp_path / "initial.py"
    program.write_text("VALUE = 0\n")
    search = SearchConfig(map_elites=MapElitesConfig(descriptors=tuple(
        DescriptorSpec(name=name, low=0, high=100) for name in descriptors)))
    return TaskConfig(name="t", kind="program", program=program, evaluator=evaluator, search=search,
                      evaluate=EvaluateConfig(**evaluate), task_dir=tmp_path)


def evoforge_result(tmp_path: Path, sandbox, case: Case, **evaluate):
    task = make_task(tmp_path, EVALUATORS / f"{case.evaluator}.py", case.descriptors,
                     cascade_thresholds=case.thresholds, cascade_evaluation=case.cascade, **evaluate)
    return ProgramEvaluator(task, sandbox).evaluate(case.program)


@pytest.mark.parametrize("name", sorted(CASES))
def test_evoforge_scores_as_openevolves_rules_say(name, tmp_path, sandbox):
    case = CASES[name]
    result = evoforge_result(tmp_path, sandbox, case)
    assert result.status == Status.CORRECT, result.error
    assert result.fitness == pytest.approx(case.fitness, rel=1e-12, abs=1e-12)
    assert result.metrics == pytest.approx(case.metrics, rel=1e-12, abs=1e-12)
    assert tuple(s.name for s in result.stages) == ("load", *case.stages)
    for line in case.feedback:
        assert line in result.feedback.splitlines(), result.feedback


def openevolve_scores(cases: list[Case]) -> list[dict]:
    requests = [{"evaluator": str(EVALUATORS / f"{c.evaluator}.py"), "program": c.program,
                 "cascade_evaluation": c.cascade, "cascade_thresholds": list(c.thresholds),
                 "feature_dimensions": list(c.descriptors)} for c in cases]
    done = subprocess.run([str(OE_PYTHON), str(HERE / "oe_score.py")], input=json.dumps(requests),
                          capture_output=True, text=True, timeout=600, cwd=HERE)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def as_evoforge_metrics(metrics: dict) -> dict[str, float]:
    """OpenEvolve's metrics as evoforge keeps them: finite numbers, no bools, no text."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


@pytest.fixture(scope="module")
def openevolve() -> dict[str, dict]:
    try:
        found = subprocess.run([str(OE_PYTHON), "-c", "import openevolve.evaluator"], capture_output=True).returncode == 0
    except OSError:  # no such Python
        found = False
    if not found:
        pytest.skip(f"OpenEvolve 0.3.2 is not installed at {OE_PYTHON} (set EVOFORGE_OPENEVOLVE_PYTHON): "
                    "the written expectations were checked against it, the live comparison is skipped")
    names = sorted(CASES)
    return dict(zip(names, openevolve_scores([CASES[n] for n in names])))


@pytest.mark.parametrize("name", sorted(CASES))
def test_openevolve_itself_gives_the_written_scores(name, openevolve):
    case, got = CASES[name], openevolve[name]
    assert got["fitness"] == pytest.approx(case.fitness, rel=1e-12, abs=1e-12)
    assert as_evoforge_metrics(got["metrics"]) == pytest.approx(case.metrics, rel=1e-12, abs=1e-12)


def test_openevolve_keeps_the_same_artifacts_evoforge_feeds_back(openevolve):
    assert openevolve["artifacts"]["artifacts"] == ["cases", "elapsed_ms", "module_feedback", "raw", "shim", "stdout"]


def test_a_named_fitness_metric_is_the_fitness(tmp_path, sandbox, openevolve_or_none):
    case = CASES["no combined_score"]
    result = evoforge_result(tmp_path, sandbox, case, fitness_metric="speed")
    assert result.status == Status.CORRECT and result.fitness == 3.0
    assert "fitness: speed (evaluate.fitness_metric)" in result.feedback.splitlines()
    if openevolve_or_none is not None:  # the same number is among OpenEvolve's metrics
        assert openevolve_or_none["no combined_score"]["metrics"]["speed"] == 3.0


@pytest.fixture(scope="module")
def openevolve_or_none(request):
    try:
        return request.getfixturevalue("openevolve")
    except pytest.skip.Exception:
        return None


def test_a_named_fitness_metric_the_cascade_never_reached_makes_the_program_wrong(tmp_path, sandbox):
    result = evoforge_result(tmp_path, sandbox, CASES["mean: stage 1 fails"], fitness_metric="robust")
    assert result.status == Status.WRONG and not result.evaluator_error
    assert result.error == "the cascade stopped before robust (evaluate.fitness_metric) was measured"


def test_a_named_fitness_metric_the_evaluator_never_returns_is_its_error(tmp_path, sandbox):
    result = evoforge_result(tmp_path, sandbox, CASES["dict"], fitness_metric="speed")
    assert result.status == Status.ERROR and result.evaluator_error
    assert result.error == ("the evaluator returned no speed (evaluate.fitness_metric); "
                            "its metrics: combined_score, value")


def test_without_thresholds_every_stage_runs(tmp_path, sandbox):
    case = CASES["combined: stage 1 fails"]
    task = make_task(tmp_path, EVALUATORS / "cascade_combined.py")
    result = ProgramEvaluator(task, sandbox).evaluate(case.program)
    assert result.status == Status.CORRECT and result.fitness == pytest.approx(0.4)
    assert [s.name for s in result.stages] == ["load", "evaluate_stage1", "evaluate_stage2", "evaluate_stage3"]


def test_cascade_off_needs_evaluate(tmp_path, sandbox):
    path = tmp_path / "stages_only.py"
    path.write_text("def evaluate_stage1(program_path):\n    return {'combined_score': 1.0}\n")
    result = ProgramEvaluator(make_task(tmp_path, path, cascade_evaluation=False), sandbox).evaluate("VALUE = 1\n")
    assert result.status == Status.ERROR and result.evaluator_error
    assert result.error == ("could not load the evaluator: the evaluator defines no evaluate(program_path) "
                            "function (cascade_evaluation is off)")
