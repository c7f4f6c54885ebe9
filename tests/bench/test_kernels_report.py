"""The benchmark's summary arithmetic and table: agreement, spread and targets computed as documented."""

from __future__ import annotations

import pytest

from bench.kernels import gpu_slug
from bench.kernels_report import on_stream_ms, render_markdown, summarize_op

OP = {"name": "softmax", "kind": "normalisation", "language": "triton"}


def _run(ms: float, seconds: float = 10.0, **extra: float) -> dict:
    metrics = {"runtime_ms": ms, "runtime_ms_ci_low": ms * 0.99, "runtime_ms_ci_high": ms * 1.01,
               "speedup": 1.5, "reference_ms": 0.3, "roofline_floor_ms": 0.17, "roofline_fraction": 0.17 / ms,
               "compile_s": 1.0, "check_s": 2.0, "time_s": 3.0, **extra}
    return {"status": "correct", "metrics": metrics, "seconds": seconds, "error": None,
            "stage_seconds": {"compile": 1.5, "correctness": 4.0, "timing": 3.0, "recheck": 0.5}}


def test_agreement_and_spread_are_relative_to_do_bench_and_the_median() -> None:
    runs = [_run(0.200, 20.0), _run(0.201), _run(0.202), _run(0.199), _run(0.200)]
    row = summarize_op(OP, {"do_bench_ms": 0.196}, runs)
    assert row["judge_ms"] == pytest.approx(0.200)
    assert row["agreement"] == pytest.approx(0.200 / 0.196 - 1)
    assert row["spread"] == pytest.approx((0.202 - 0.199) / 0.200)
    assert row["agreement_ok"] is True and row["spread_ok"] is False  # 2.0% agreement, 1.5% spread
    assert row["compile_stage_s"] == 1.5 and row["gpu_stages_s"] == 7.5 and row["evaluation_s"] == 10.0


def test_targets_do_not_apply_under_50_us_and_failures_are_not_filled_in() -> None:
    small = summarize_op(OP, {"do_bench_ms": 0.009}, [_run(0.012), _run(0.010)])
    assert small["long"] is False and small["agreement_ok"] is None and small["spread_ok"] is None
    failed = summarize_op(OP, {"do_bench_ms": 0.2}, [{"status": "wrong", "metrics": {}, "seconds": 3.0,
                                                     "error": "trial 1: 12 of 64 elements out of tolerance"}])
    assert failed.get("judge_ms") is None and failed.get("agreement") is None
    table = render_markdown({"device": {"name": "NVIDIA H100 80GB HBM3"}, "rows": [failed], "repeats": 1})
    assert "not timed: trial 1: 12 of 64 elements out of tolerance" in table


def test_table_marks_misses_and_gpu_names_become_file_prefixes() -> None:
    row = summarize_op(OP, {"do_bench_ms": 0.150}, [_run(0.200), _run(0.200)])
    table = render_markdown({"device": {"name": "x"}, "rows": [row], "repeats": 2})
    assert "+33.33% MISS" in table and "0.00% ok" in table
    assert gpu_slug("NVIDIA H100 80GB HBM3") == "h100"
    assert gpu_slug("NVIDIA H200") == "h200"
    assert gpu_slug("NVIDIA GeForce RTX 4090") == "nvidia-geforce-rtx-4090"


def test_on_stream_time_is_read_from_either_wording_of_the_judges_side_work_note() -> None:
    old = {"feedback": "notes: the candidate left work outside its stream (device-synchronised 0.2397 ms vs "
                       "0.1843 ms on its stream): the synchronised time counts", "metrics": {"runtime_ms": 0.2397}}
    new = {"feedback": "the reference left about 0.03 ms of work outside its stream (on its stream 0.18 ms)\n"
                       "the candidate left about 0.02434 ms of work outside its stream (on its stream 0.2194 ms): "
                       "the device-synchronised time counts", "metrics": {"runtime_ms": 0.2509}}
    plain = {"feedback": "timing: 0.2 ms", "metrics": {"runtime_ms": 0.2}}
    metric = {"feedback": "the candidate ran work on 1 stream(s) besides the caller's (on its stream 0.55 ms): "
                          "the device-synchronised time counts",
              "metrics": {"runtime_ms": 0.61, "runtime_stream_ms": 0.55}}
    assert on_stream_ms(metric) == (0.55, True)
    assert on_stream_ms({"feedback": "", "metrics": {"runtime_ms": 0.2, "runtime_stream_ms": 0.2}}) == (0.2, False)
    reference_only = {"feedback": "the reference left about 0.06 ms of work outside its stream (on its stream 0.3 ms): "
                                  "the device-synchronised time counts",
                      "metrics": {"runtime_ms": 0.2, "runtime_stream_ms": 0.2}}
    assert on_stream_ms(reference_only) == (0.2, False)  # the reference's note is not the candidate's
    assert on_stream_ms(old) == (0.1843, True)
    assert on_stream_ms(new) == (0.2194, True)
    assert on_stream_ms(plain) == (0.2, False)
    row = summarize_op(OP, {"do_bench_ms": 0.2}, [{**_run(0.2397), "feedback": old["feedback"]}, _run(0.2)])
    assert row["sync_counted"] == 1 and row["stream_ms"] == pytest.approx((0.1843 + 0.2) / 2)
