"""Summaries and the markdown table of bench/kernels.py's measurements (pure functions).

Definitions used in the published table:

- judge ms: the median, over the repeated evaluations, of the judge's `runtime_ms` (itself the
  median of one evaluation's timed calls); its spread is (max - min) / median of those values;
- agreement: judge ms / `triton.testing.do_bench` median - 1, on the same candidate kernel;
- the targets (3% agreement, 1% spread) apply to kernels over 50 us by do_bench (`LONG_MS`);
- on-stream ms (a diagnostic): when the judge finds that a call left work outside its stream,
  it publishes the device-synchronised time and says so in a note giving the on-stream (CUDA
  event) time too; this column is that on-stream time (or runtime_ms where no note was given),
  with its own agreement and spread; "sync" counts the evaluations whose runtime_ms is the
  synchronised time;
- eval s: medians over the repeats of one evaluation through KernelEvaluator + the process
  sandbox: the compile stage (candidate import, CUDA build, first call with Triton's JIT),
  the stages that use the GPU (correctness trials, kernel trace, timing with the reference
  alone and torch.compile'd, re-check, roofline; waiting for the GPU included), the GPU held
  alone (`gpu_alone_s`: timing and other measurements; checks share the GPU), and the whole,
  from submission to verdict (process starts included).
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any

LONG_MS = 0.05
AGREEMENT_TARGET = 0.03
SPREAD_TARGET = 0.01


def _values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r["metrics"][key]) for r in runs if isinstance(r.get("metrics", {}).get(key), (int, float))]


# The judge's notes when it counts a call's device-synchronised time (two wordings, old and new).
_SIDE_NOTE = re.compile(r"the candidate left (?:about [0-9.eE+-]+ ms of )?work outside its stream \("
                        r"(?:device-synchronised [0-9.eE+-]+ ms vs ([0-9.eE+-]+) ms on its stream|on its stream ([0-9.eE+-]+) ms)\)")


def on_stream_ms(run: dict[str, Any]) -> tuple[float | None, bool]:
    """(the candidate's on-stream time in ms, whether runtime_ms is the synchronised time instead).

    From the judge's `runtime_stream_ms` metric (runtime_ms differs from it only when the
    synchronised time counted); evaluations older than it, from the judge's note."""
    metrics = run.get("metrics", {})
    stream, runtime = metrics.get("runtime_stream_ms"), metrics.get("runtime_ms")
    if isinstance(stream, (int, float)) and isinstance(runtime, (int, float)):
        return float(stream), float(runtime) != float(stream)
    match = _SIDE_NOTE.search(run.get("feedback", ""))
    if match:
        return float(match.group(1) or match.group(2)), True
    runtime = run.get("metrics", {}).get("runtime_ms")
    return (float(runtime) if isinstance(runtime, (int, float)) else None), False


def _spread(values: list[float]) -> float | None:
    return (max(values) - min(values)) / statistics.median(values) if len(values) > 1 else None


def summarize_op(op: dict[str, Any], baseline: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row of the table from an op's catalog entry, do_bench baseline and judge evaluations."""
    row: dict[str, Any] = {"op": op["name"], "kind": op["kind"], "language": op["language"]}
    statuses = [r.get("status") for r in runs]
    row["statuses"] = statuses
    row["errors"] = sorted({r["error"] for r in runs if r.get("error")})
    times = _values(runs, "runtime_ms")
    row["evaluations"] = len(runs)
    row["timed_evaluations"] = len(times)
    row["do_bench_ms"] = baseline.get("do_bench_ms")
    row["eager_do_bench_ms"] = baseline.get("eager_ms")
    if times:
        mid = statistics.median(times)
        row["judge_ms"] = mid
        row["judge_ms_runs"] = times
        row["spread"] = _spread(times)
        row["cv"] = statistics.stdev(times) / statistics.mean(times) if len(times) > 1 else None
        timed = [r for r in runs if isinstance(r.get("metrics", {}).get("runtime_ms"), (int, float))]
        middle = sorted(timed, key=lambda r: r["metrics"]["runtime_ms"])[(len(timed) - 1) // 2]["metrics"]
        row["ci_low"], row["ci_high"] = middle.get("runtime_ms_ci_low"), middle.get("runtime_ms_ci_high")
        if row["do_bench_ms"]:
            row["agreement"] = mid / row["do_bench_ms"] - 1.0
        streams = [on_stream_ms(r) for r in timed]
        stream = [ms for ms, _ in streams if ms is not None]
        row["sync_counted"] = sum(1 for _, synced in streams if synced)
        if stream:
            row["stream_ms"] = statistics.median(stream)
            row["stream_ms_runs"] = stream
            row["stream_spread"] = _spread(stream)
            if row["do_bench_ms"]:
                row["stream_agreement"] = row["stream_ms"] / row["do_bench_ms"] - 1.0
    for key in ("reference_ms", "compile_ref_ms", "speedup", "speedup_vs_compile", "roofline_floor_ms",
                "roofline_fraction", "graph_ms", "max_abs_err", "max_rel_err", "launches"):
        values = _values(runs, key)
        row[key] = statistics.median(values) if values else None
    for key in ("speedup", "speedup_of_medians"):  # item 7 of issue 12: the ranked figure's stability
        row[f"{key}_spread"] = _spread(_values(runs, key))
    gpu_stages = ("correctness", "kernels", "timing", "recheck", "roofline")
    stage_seconds = [r.get("stage_seconds", {}) for r in runs]
    if runs:
        row["compile_stage_s"] = statistics.median(s.get("compile", 0.0) for s in stage_seconds)
        row["gpu_stages_s"] = statistics.median(sum(s.get(n, 0.0) for n in gpu_stages) for s in stage_seconds)
        alone = _values(runs, "gpu_alone_s")
        row["gpu_alone_s"] = statistics.median(alone) if alone else None
        row["evaluation_s"] = statistics.median(float(r.get("seconds", 0.0)) for r in runs)
    row["long"] = bool(row["do_bench_ms"] and row["do_bench_ms"] > LONG_MS)
    row["agreement_ok"] = _within(row.get("agreement"), AGREEMENT_TARGET) if row["long"] else None
    row["spread_ok"] = _within(row.get("spread"), SPREAD_TARGET) if row["long"] else None
    return row


def _within(value: float | None, limit: float) -> bool | None:
    if value is None or not math.isfinite(value):
        return None
    return abs(value) < limit


def _ms(value: Any, digits: int = 4) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{100 * value:+.2f}%"


def _x(value: Any) -> str:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return "-"
    return f"{value:.2f}x"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else (" ok" if ok else " MISS")


def _throughput(run: dict[str, Any]) -> list[str]:
    cut = " (cut short by --budget-s)" if run.get("cut_by_deadline") else ""
    return ["", f"## Throughput on one GPU ({', '.join(run['ops'])})", "",
            f"{run['evaluations']} candidate evaluations{cut} through KernelEvaluator + the process sandbox, "
            f"{run['workers']} in flight: checks share the GPU, timing holds it alone, and process starts, imports "
            f"and compilation overlap both. {run['wall_s']:.1f} s wall, **{run['per_minute']:.1f} candidates per "
            f"minute**. One evaluation: {run['mean_evaluation_s']:.1f} s on average from submission to verdict; "
            f"median compile stage {run['median_compile_stage_s']:.1f} s, median GPU stages (checks, kernel trace, "
            f"timing, re-check; waiting included) {run['median_gpu_stages_s']:.1f} s, of which the GPU was held "
            f"alone {run['median_gpu_alone_s']:.1f} s; the GPU was held alone "
            f"{100 * run['gpu_alone_share_of_wall']:.0f}% of the wall time."]


def render_markdown(results: dict[str, Any]) -> str:
    """The published table: one row per op, then throughput and the device's ceilings."""
    device = results.get("device", {})
    lines = [
        f"# Kernel benchmark on {device.get('name', '?')}",
        "",
        f"torch {device.get('torch', '?')}, triton {device.get('triton', '?')}, CUDA {device.get('cuda', '?')}, "
        f"L2 {device.get('l2_bytes', 0) / 2**20:.0f} MiB, {device.get('sms', '?')} SMs; "
        f"{results.get('repeats', '?')} evaluations per candidate; written by `python bench/kernels.py`.",
        "",
        "| op | kind | lang | n | judge ms (95% CI) | do_bench ms | judge vs do_bench | spread | eager ms | "
        "torch.compile ms | floor ms | of floor | speedup eager | speedup compile | eval s: compile / GPU / GPU alone / all |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = results.get("rows", [])
    for row in rows:
        judge = _ms(row.get("judge_ms"))
        if row.get("ci_low") is not None:
            judge += f" ({_ms(row['ci_low'])}-{_ms(row['ci_high'])})"
        if row.get("judge_ms") is None:
            judge = "not timed: " + ("; ".join(row.get("errors", [])) or ", ".join(map(str, row.get("statuses", []))))
        fraction = row.get("roofline_fraction")
        lines.append("| " + " | ".join([
            row["op"], row["kind"], row["language"], str(row.get("timed_evaluations", 0)), judge,
            _ms(row.get("do_bench_ms")), _pct(row.get("agreement")) + _mark(row.get("agreement_ok")),
            _pct(row.get("spread")).lstrip("+") + _mark(row.get("spread_ok")),
            _ms(row.get("reference_ms")), _ms(row.get("compile_ref_ms")), _ms(row.get("roofline_floor_ms")),
            f"{100 * fraction:.0f}%" if isinstance(fraction, (int, float)) else "-",
            _x(row.get("speedup")), _x(row.get("speedup_vs_compile")),
            " / ".join(_ms(row.get(k), 1) for k in ("compile_stage_s", "gpu_stages_s", "gpu_alone_s", "evaluation_s")),
        ]) + " |")
    lines += ["", "n: timed evaluations. Targets (kernels over 50 us by do_bench): judge within 3% of do_bench; spread "
              "(max - min over the evaluations, / median) under 1%. 'ok' / 'MISS' mark each; kernels under 50 us "
              "are reported without a target."]
    if any(row.get("stream_ms") is not None for row in rows):
        lines += ["", "### Diagnostic: the judge's on-stream (CUDA event) times", "",
                  "| op | on-stream ms | vs do_bench | spread | runtime_ms was the synchronised time | "
                  "judge runtime_ms per evaluation |", "| --- | --- | --- | --- | --- | --- |"]
        for row in rows:
            if row.get("stream_ms") is None:
                continue
            lines.append("| " + " | ".join([
                row["op"], _ms(row["stream_ms"]), _pct(row.get("stream_agreement")),
                _pct(row.get("stream_spread")).lstrip("+"),
                f"{row.get('sync_counted', 0)} of {row.get('timed_evaluations', 0)}",
                ", ".join(_ms(v) for v in row.get("judge_ms_runs", [])),
            ]) + " |")
    if any(row.get("speedup_spread") is not None for row in rows):
        lines += ["", "### The speedup the search ranks by: spread over the evaluations", "",
                  "speedup: the median over timing iterations of reference / candidate in the same iteration "
                  "(paired; evaluators/kernel/timing_rules.py); of medians: the reference's median over the "
                  "candidate's. Target: the ranked speedup's spread (max - min, / median) under 1%.", "",
                  "| op | runtime spread | speedup spread | of medians spread |", "| --- | --- | --- | --- |"]
        for row in rows:
            lines.append("| " + " | ".join([
                row["op"], _pct(row.get("spread")).lstrip("+"),
                _pct(row.get("speedup_spread")).lstrip("+") + _mark(_within(row.get("speedup_spread"), SPREAD_TARGET)),
                _pct(row.get("speedup_of_medians_spread")).lstrip("+"),
            ]) + " |")
    for run in results.get("throughput_runs", []):
        if "median_gpu_alone_s" in run:
            lines += _throughput(run)
            continue
        lines += ["", f"## Throughput on one GPU ({', '.join(run['ops'])})", "",
                  f"{run['evaluations']} candidate evaluations through KernelEvaluator + the process sandbox, "
                  f"{run['workers']} in flight (the GPU lock serialises checks and timing; process start, imports and "
                  f"compilation overlap them): {run['wall_s']:.1f} s wall, **{run['per_minute']:.1f} candidates per "
                  f"minute**. One evaluation: {run['mean_evaluation_s']:.1f} s on average from submission to verdict "
                  f"(waiting for the GPU included); median compile stage {run['median_compile_stage_s']:.1f} s, median "
                  f"GPU-holding stages (checks, kernel trace, timing, re-check) {run['median_gpu_stages_s']:.1f} s; "
                  f"the GPU was held {100 * run['gpu_stages_share_of_wall']:.0f}% of the wall time."]
    ceilings = results.get("ceilings")
    if ceilings:
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in ceilings.items())
        lines += ["", f"Device ceilings used for the roofline floor: {shown}."]
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"
