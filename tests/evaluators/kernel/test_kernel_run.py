"""`agent evolve` on the example Triton task without a GPU: a real run, interpreter-checked, not timed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

from archives.store import Store  # noqa: E402
from tests.e2e.helpers import run_agent  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def test_the_softmax_task_runs_without_a_gpu_with_the_tuner(tmp_path):
    folder = tmp_path / "softmax_triton"
    shutil.copytree(ROOT / "tasks" / "softmax_triton", folder)
    folder.chmod(0o755)  # a container backend reads the reference as another user
    store = f"sqlite:///{tmp_path / 'runs.db'}"
    done = run_agent("evolve", str(folder / "task.yaml"), "--evaluations", "3", "--workers", "2",
                     "--store", store, "-q", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with Store(store) as db:
        run = db.list_runs()[0].run
        programs = db.programs(run.id)
    evaluated = [p for p in programs if p.status != "pending"]
    assert len(evaluated) >= 3
    initial = programs[0]
    assert initial.status == "correct" and initial.fitness == 0.0, initial.error
    assert initial.descriptors["num_warps"] == 8.0 and initial.descriptors["block_size"] == 512.0
    assert "timing not measured" in initial.feedback


def test_new_task_writes_a_task_that_agent_can_load(tmp_path):
    done = run_agent("new-task", "--from-kernelbench", str(ROOT / "tasks/gelu_cuda/reference.py"),
                     "--language", "triton", "--out", "made", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote made/task.yaml" in done.stdout
    again = run_agent("new-task", "--from-kernelbench", str(ROOT / "tasks/gelu_cuda/reference.py"), "--out", "made",
                      cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("error: made: exists and is not empty")
