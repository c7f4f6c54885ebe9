"""`from openevolve.evaluation_result import EvaluationResult` without OpenEvolve, in both sandboxes,
and a real `openevolve` on the path is never shadowed by evoforge's stand-in."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from agent.config import EvaluateConfig, TaskConfig
from archives.records import Status
from evaluators import ProgramEvaluator
from evaluators.program.compat import SHIM_ROOT
from sandbox import ProcessSandbox
from tests.sandbox.conftest import docker_sandbox_or_skip

EVALUATORS = Path(__file__).parent / "oe_evaluators"
OPENEVOLVE_HERE = importlib.util.find_spec("openevolve") is not None


def make_task(folder: Path, evaluator: Path, **evaluate) -> TaskConfig:
    program = folder / "initial.py"
    program.write_text("VALUE = 0\n")
    return TaskConfig(name="t", kind="program", program=program, evaluator=evaluator,
                      evaluate=EvaluateConfig(**evaluate), task_dir=folder)


def shared_copy(tmp_path: Path) -> Path:
    """The test evaluators in a folder a container's user may read."""
    folder = tmp_path / "evaluators"
    folder.mkdir()
    for path in EVALUATORS.glob("*.py"):
        (folder / path.name).write_text(path.read_text())
    for path in (tmp_path, folder, *folder.iterdir()):
        path.chmod(0o755)
    return folder


@pytest.mark.skipif(OPENEVOLVE_HERE, reason="openevolve is installed in evoforge's environment: "
                                            "it is used, not the stand-in")
@pytest.mark.parametrize("backend", ["process", "docker"])
def test_the_stand_in_serves_evaluators_when_openevolve_is_absent(backend, tmp_path):
    sandbox = ProcessSandbox() if backend == "process" else docker_sandbox_or_skip()
    folder = shared_copy(tmp_path)
    result = ProgramEvaluator(make_task(folder, folder / "with_artifacts.py"), sandbox).evaluate("VALUE = 3\n")
    assert result.status == Status.CORRECT, result.error
    assert result.fitness == pytest.approx(0.3)
    lines = result.feedback.splitlines()
    assert "shim: True" in lines
    assert 'module_feedback: {"parser": {"ok": true, "hints": ["fine"]}}' in lines


def test_the_stand_in_offers_what_openevolve_evaluators_use():
    assert Path(SHIM_ROOT, "openevolve", "evaluation_result.py").is_file()
    module = importlib.import_module("evaluators.program.compat.openevolve.evaluation_result")
    result = module.EvaluationResult.from_dict({"combined_score": 0.5})
    assert result.to_dict() == {"combined_score": 0.5} and result.artifacts == {} and not result.has_artifacts()
    result = module.EvaluationResult(metrics={"a": 1.0}, artifacts={"text": "héllo", "raw": b"abc", "n": 12})
    assert result.has_artifacts() and result.get_artifact_keys() == ["text", "raw", "n"]
    assert [result.get_artifact_size(k) for k in ("text", "raw", "n", "missing")] == [6, 3, 2, 0]
    assert result.get_total_artifact_size() == 11


FAKE_OPENEVOLVE = {
    "__init__.py": "REAL = True\n",
    "evaluation_result.py": textwrap.dedent("""
        class EvaluationResult:
            def __init__(self, metrics, artifacts=None):
                self.metrics = metrics
                self.artifacts = dict(artifacts or {}, origin="the installed openevolve")
    """),
}


@pytest.mark.parametrize("where", ["PYTHONPATH", "beside the evaluator"])
def test_an_installed_openevolve_wins_over_the_stand_in(where, tmp_path, monkeypatch):
    folder = shared_copy(tmp_path)
    # On PYTHONPATH: a folder the sandbox shows (inside the evaluator's), as site-packages would be.
    package = (folder / "site" if where == "PYTHONPATH" else folder) / "openevolve"
    package.mkdir(parents=True)
    for name, text in FAKE_OPENEVOLVE.items():
        (package / name).write_text(text)
    if where == "PYTHONPATH":
        monkeypatch.setenv("PYTHONPATH", str(folder / "site"))
    result = ProgramEvaluator(make_task(folder, folder / "with_artifacts.py"), ProcessSandbox()).evaluate("VALUE = 3\n")
    assert result.status == Status.CORRECT, result.error
    lines = result.feedback.splitlines()
    assert "origin: the installed openevolve" in lines and "shim: False" in lines
