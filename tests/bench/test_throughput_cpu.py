"""bench/throughput.py on the CPU: honest candidates judged through the real path, every row reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.ops.catalog import by_name
from bench.throughput import Candidate, candidates_for, row_of
from bench.throughput_report import gpu_stage_intervals, summarize, union_seconds

REPO = Path(__file__).resolve().parents[2]


def test_three_honest_candidates_and_an_injected_broken_one_are_all_reported(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="the judge needs torch")
    pytest.importorskip("triton", reason="the candidates are Triton kernels")
    done = subprocess.run([sys.executable, "bench/throughput.py", "--device", "cpu", "--n", "3", "--workers", "2",
                           "--inject-broken", "--no-compile-reference", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "cpu-throughput.json").read_text())
    rows = {r["label"]: r for r in results["rows"]}
    assert sorted(rows) == ["broken", "c000", "c001", "c002"]
    honest = [r for r in rows.values() if r["honest"]]
    assert [r["status"] for r in honest] == ["correct"] * 3, [r["reason"] for r in honest]
    assert len({r["variant"] for r in honest}) == 3
    broken = rows["broken"]
    assert broken["status"] == "wrong" and broken["reason"].startswith("correctness:")
    summary = results["summary"]
    assert summary["candidates"] == 4 and summary["statuses"] == {"correct": 3, "wrong": 1}
    assert summary["all_honest_correct"] is True
    assert [r["label"] for r in summary["not_correct"]] == ["broken"]
    assert summary["candidates_per_minute"] > 0
    medians = summary["stage_medians_s"]
    for key in ("compile", "correctness", "kernels", "submit_to_verdict_s"):
        assert medians[key] is not None and medians[key] > 0, key
    assert summary["gpu_alone_share"] is None and summary["nvidia_smi"] is None  # no GPU: not pretended
    table = (tmp_path / "cpu-throughput.md").read_text()
    assert "| candidates | workers |" in table and "| policy | compile | correctness | kernels |" in table
    assert "broken" in table and "**wrong**" in table


def test_candidates_are_distinct_honest_variants_that_pass_the_policy() -> None:
    from evaluators.kernel import policy

    op = by_name("softmax")
    found = candidates_for(op, 125, inject_broken=False)
    assert len(found) == 125 and len({c.source for c in found}) == 125
    assert all(c.honest for c in found) and len({c.label for c in found}) == 125
    reference = op.reference.read_text()
    assert all(policy.check(c.source, reference, "triton") == [] for c in found[:40])
    with_broken = candidates_for(op, 2, inject_broken=True)
    assert [c.honest for c in with_broken] == [True, False, True]


def _result(status: str, stages: list[tuple[str, bool, float, str]], error: str | None = None,
            feedback: str = "", metrics: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(status=status, error=error, feedback=feedback, evaluator_error=False,
                           metrics=metrics or {}, stages=[SimpleNamespace(name=n, ok=ok, seconds=s, message=m)
                                                          for n, ok, s, m in stages])


def test_a_row_that_is_not_correct_keeps_its_reason_even_without_an_error_line() -> None:
    candidate = Candidate("c007", "v", "src")
    failed = _result("wrong", [("policy", True, 0.01, ""), ("compile", True, 2.0, ""),
                               ("correctness", False, 1.0, "NaN at trial 2")])
    row = row_of(candidate, failed, started=1.0, finished=4.5, origin=0.0)
    assert row["reason"] == "correctness: NaN at trial 2" and row["submit_to_verdict_s"] == 3.5
    silent = row_of(candidate, _result("timeout", [], feedback="timed out after 600 s"), 0.0, 1.0, 0.0)
    assert silent["reason"] == "timed out after 600 s"
    ok = row_of(candidate, _result("correct", [("compile", True, 2.0, "")], metrics={"gpu_alone_s": 1.5}),
                0.0, 3.0, 0.0)
    assert ok["reason"] is None and ok["gpu_alone_s"] == 1.5


def test_gpu_busy_shares_come_from_the_judges_own_seconds() -> None:
    def row(end: float, alone: float) -> dict:
        stages = [{"name": "compile", "seconds": 4.0}, {"name": "correctness", "seconds": 2.0},
                  {"name": "timing", "seconds": 1.0}]
        return {"label": f"r{end}", "variant": "", "honest": True, "status": "correct", "reason": None,
                "stages": stages, "stage_seconds": {s["name"]: s["seconds"] for s in stages}, "verdict_at_s": end,
                "gpu_alone_s": alone, "gpu_wait_s": 0.0, "queued_s": 0.0, "submit_to_verdict_s": 7.0,
                "runtime_ms": 0.1}

    assert gpu_stage_intervals(row(10.0, 1.0)) == [(9.0, 10.0), (7.0, 9.0)]
    assert union_seconds([(7.0, 10.0), (8.0, 11.0), (20.0, 21.0)]) == 5.0
    summary = summarize([row(10.0, 1.0), row(11.0, 1.0)], [], 20.0, 2, None)
    assert summary["gpu_alone_share"] == pytest.approx(0.1)
    assert summary["gpu_stages_union_share"] == pytest.approx(4.0 / 20.0)
    assert summary["stage_medians_s"]["correctness"] == 2.0 and summary["candidates_per_minute"] == 6.0
    assert summarize([row(10.0, 1.0)], ["c9"], 20.0, 2, None)["all_honest_correct"] is False


def test_the_utilization_sampler_reads_nvidia_smi_lines_within_the_run(tmp_path: Path, monkeypatch) -> None:
    import time

    from bench.throughput import SmiSampler

    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nwhile true; do echo '0, 40'; echo '0, 0'; sleep 0.1; done\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    sampler = SmiSampler()
    origin = time.monotonic()
    assert sampler.start()
    deadline = origin + 30
    while len(sampler.samples) < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    end = time.monotonic()
    sampler.stop()
    summary = sampler.summary(origin, end)
    assert summary is not None and summary["samples"] >= 6 and summary["gpus"] == [0]
    assert 15 <= summary["mean_pct"] <= 25 and 0.3 <= summary["share_above_0"] <= 0.7
    assert sampler.summary(end + 1, end + 2) is None  # nothing sampled then
