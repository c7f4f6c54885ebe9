"""The baselines cache: the reference's torch.compile time, measured once per problem and device.

No GPU here: a small `nvidia-smi` script on PATH names the GPUs (as tests/sandbox/test_gpus.py
does), and a scripted sandbox answers with the judge's payloads, as tests of the evaluator do.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import load_task
from evaluators.kernel.baseline_cache import (
    BASELINES_VAR, Baseline, BaselineCache, BaselineKey, baseline_key, cache_path,
)  # fmt: skip
from evaluators.kernel.evaluator import KernelEvaluator
from sandbox.base import SandboxOutcome

ROOT = Path(__file__).resolve().parents[3]
SOFTMAX = ROOT / "tasks" / "softmax_triton"
H100 = "NVIDIA H100 80GB HBM3"
TIMED = [("policy", True, ""), ("compile", True, ""), ("correctness", True, ""), ("timing", True, "")]
KEY = BaselineKey("ab" * 32, '{"n": 1}', H100, "2.5.1")


class _ScriptedSandbox:
    name = "scripted"

    def __init__(self, *outcomes: SandboxOutcome) -> None:
        self.outcomes, self.jobs = list(outcomes), []

    def warnings(self):
        return []

    def run(self, job):
        self.jobs.append(job)
        return self.outcomes.pop(0)

    def asked(self) -> list[bool]:
        """Whether each job was asked to time torch.compile of the reference."""
        return [json.loads(j.argv[j.argv.index("--options") + 1])["compile_reference"] for j in self.jobs]


def _outcome(metrics: dict) -> SandboxOutcome:
    payload = {"stages": [{"name": n, "ok": ok, "seconds": 0.1, "message": m, "log": ""} for n, ok, m in TIMED],
               "metrics": metrics, "text": {}}
    return SandboxOutcome(exit_code=0, result=json.dumps(payload).encode())


def _evaluator(*outcomes: SandboxOutcome, **kernel) -> tuple[KernelEvaluator, _ScriptedSandbox]:
    task = load_task(SOFTMAX / "task.yaml")
    task = task.model_copy(update={"kernel": task.kernel.model_copy(update={"device": "cuda", **kernel})})
    sandbox = _ScriptedSandbox(*outcomes)
    return KernelEvaluator(task, sandbox, gpus=[0]), sandbox


def _smi(folder: Path, *names: str) -> None:
    """An nvidia-smi in `folder` that lists GPUs with these names."""
    lines = "".join(f"{i}, GPU-{i:04d}aaaa-0000, {name}\\n" for i, name in enumerate(names))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nvidia-smi").write_text(f"#!/bin/sh\nprintf '{lines}'\n")
    (folder / "nvidia-smi").chmod(0o755)


@pytest.fixture
def cache_file(tmp_path, monkeypatch) -> Path:
    """Two H100s on PATH, no CUDA_VISIBLE_DEVICES, and this test's cache file."""
    _smi(tmp_path / "bin", H100, H100)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv(BASELINES_VAR, str(tmp_path / "cache" / "baselines.json"))
    return tmp_path / "cache" / "baselines.json"


def test_a_later_run_of_the_same_problem_on_the_same_device_does_not_compile_the_reference_again(cache_file):
    measured = {"runtime_ms": 0.1, "reference_ms": 0.15, "speedup": 1.5, "compile_ref_ms": 0.12,
                "speedup_vs_compile": 1.2}
    first, sandbox = _evaluator(_outcome(measured))
    first.evaluate("x = 1\n")
    assert sandbox.asked() == [True]
    (entry,) = json.loads(cache_file.read_text()).values()
    assert entry["compile_ms"] == 0.12 and entry["eager_ms"] == 0.15 and entry["gpu"] == H100
    assert entry["torch"] == importlib.metadata.version("torch") and entry["shape"] is None

    later, sandbox = _evaluator(_outcome({"runtime_ms": 0.06, "reference_ms": 0.15, "speedup": 2.5}))
    result = later.evaluate("x = 2\n")
    assert sandbox.asked() == [False]
    assert result.metrics["compile_ref_ms"] == 0.12
    assert result.metrics["speedup_vs_compile"] == pytest.approx(0.12 / 0.06)


def test_another_shape_or_gpu_measures_its_own_and_an_unknown_gpu_caches_nothing(cache_file, tmp_path, monkeypatch):
    BaselineCache(cache_file).put(baseline_key(SOFTMAX / "reference.py", None, [0]), Baseline(0.12, 0.15))
    other_shape, sandbox = _evaluator(_outcome({"runtime_ms": 0.1, "speedup": 1.0}), shape={"batch_size": 1024})
    other_shape.evaluate("x = 1\n")
    assert sandbox.asked() == [True]
    _smi(tmp_path / "other", "NVIDIA H200")
    monkeypatch.setenv("PATH", f"{tmp_path / 'other'}{os.pathsep}{os.environ['PATH']}")
    other_gpu, sandbox = _evaluator(_outcome({"runtime_ms": 0.1, "speedup": 1.0}))
    other_gpu.evaluate("x = 1\n")
    assert sandbox.asked() == [True]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no nvidia-smi: the device has no name
    assert baseline_key(SOFTMAX / "reference.py", None, [0]) is None
    before = cache_file.read_text()
    evaluator, sandbox = _evaluator(_outcome({"runtime_ms": 0.1, "speedup": 1.0, "compile_ref_ms": 0.5}))
    evaluator.evaluate("x = 1\n")
    assert sandbox.asked() == [True] and cache_file.read_text() == before


def test_with_compile_reference_off_the_cache_is_neither_read_nor_written(cache_file):
    BaselineCache(cache_file).put(baseline_key(SOFTMAX / "reference.py", None, [0]), Baseline(0.12))
    evaluator, sandbox = _evaluator(_outcome({"runtime_ms": 0.1, "speedup": 1.0}), compile_reference=False)
    result = evaluator.evaluate("x = 1\n")
    assert sandbox.asked() == [False] and "speedup_vs_compile" not in result.metrics


def test_the_key_names_the_reference_shape_gpu_and_torch(cache_file, tmp_path, monkeypatch):
    key = baseline_key(SOFTMAX / "reference.py", {"dim": 300, "batch_size": 8}, [0, 1])
    assert key.gpu == H100 and key.shape == '{"batch_size": 8, "dim": 300}'
    assert key.torch == importlib.metadata.version("torch") and len(key.reference) == 64
    _smi(tmp_path / "mixed", H100, "NVIDIA A100-SXM4-80GB")
    monkeypatch.setenv("PATH", f"{tmp_path / 'mixed'}{os.pathsep}{os.environ['PATH']}")
    assert baseline_key(SOFTMAX / "reference.py", None, [1]).gpu == "NVIDIA A100-SXM4-80GB"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-0001")  # a UUID prefix: the job's GPU 0 is the host's GPU 1
    assert baseline_key(SOFTMAX / "reference.py", None, [0]).gpu == "NVIDIA A100-SXM4-80GB"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert baseline_key(SOFTMAX / "reference.py", None, [0, 1]) is None  # two kinds of GPU: no one time


def test_the_cache_file_lives_beside_the_ceilings_unless_named(monkeypatch, tmp_path):
    monkeypatch.delenv(BASELINES_VAR)
    assert cache_path(tmp_path / "ceilings.json") == tmp_path / "baselines.json"
    monkeypatch.setenv(BASELINES_VAR, str(tmp_path / "x.json"))
    assert cache_path(tmp_path / "ceilings.json") == tmp_path / "x.json"


def test_a_damaged_file_is_ignored_and_replaced_and_an_unwritable_place_raises_nothing(tmp_path):
    path = tmp_path / "baselines.json"
    cache = BaselineCache(path)
    for damaged in ("{not json", "[1, 2]", json.dumps({KEY.text(): {"compile_ms": "fast"}}),
                    json.dumps({KEY.text(): {"compile_ms": -1.0}})):
        path.write_text(damaged)
        assert cache.get(KEY) is None
    assert cache.put(KEY, Baseline(0.5, 0.7, measured_at=123.0))
    assert cache.get(KEY) == Baseline(0.5, 0.7, 123.0)
    assert cache.get(BaselineKey(KEY.reference, KEY.shape, KEY.gpu, "2.6.0")) is None
    (tmp_path / "a-file").write_text("")
    assert BaselineCache(tmp_path / "a-file" / "baselines.json").put(KEY, Baseline(0.5)) is False
    assert BaselineCache(tmp_path / "missing.json").get(KEY) is None


_WRITER = """
import sys
from evaluators.kernel.baseline_cache import Baseline, BaselineCache, BaselineKey
cache = BaselineCache(sys.argv[1])
for i in range(15):
    cache.put(BaselineKey(sys.argv[2], str(i), "gpu", "torch"), Baseline(1.0 + i))
"""


def test_runs_writing_at_once_keep_every_entry_and_a_whole_file(tmp_path):
    path = tmp_path / "baselines.json"
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"ref{w}"], cwd=ROOT)
               for w in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 4
    entries = json.loads(path.read_text())
    assert len(entries) == 4 * 15
    cache = BaselineCache(path)
    assert cache.get(BaselineKey("ref3", "14", "gpu", "torch")).compile_ms == 15.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baselines.json", "baselines.json.lock"]  # no temp files
