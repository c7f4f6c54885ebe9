"""Summary and markdown table of bench/throughput.py's measurements (pure functions).

Definitions:

- candidates per minute: verdicts (of any status) x 60 / the wall seconds from the first
  submission to the last verdict;
- GPU held alone: the sum of the judge's `gpu_alone_s` (timing, the CUDA-graph time, ceilings,
  ncu hold the GPU's lock exclusively, so these never overlap) over the wall;
- GPU stages' union: the stages that use the GPU (correctness, kernels, timing, recheck,
  roofline, profile) laid end to end backwards from each verdict (stage seconds in order; the
  harness's exit after the last stage is not known and counted as nothing), their intervals
  merged over all candidates, over the wall: an upper bound on the time some judge used the
  GPU (those stages also do host work: the float64 reference, comparisons, the profiler's setup);
- nvidia-smi: `utilization.gpu` (the share of the last sample period in which a kernel ran)
  sampled every 100 ms between the first submission and the last verdict, when nvidia-smi exists;
- stage medians: over the candidates that reported that stage; `queued_s` is the wait for a
  free worker, `submit_to_verdict_s` the evaluation itself (process starts included).
"""

from __future__ import annotations

import statistics
from typing import Any

GPU_STAGES = ("correctness", "kernels", "timing", "recheck", "roofline", "profile")


def gpu_stage_intervals(row: dict[str, Any]) -> list[tuple[float, float]]:
    """A row's GPU stages as (start, end) seconds since the first submission, laid backwards from its verdict."""
    end = float(row["verdict_at_s"])
    found = []
    for stage in reversed(row.get("stages", [])):
        start = end - float(stage["seconds"])
        if stage["name"] in GPU_STAGES:
            found.append((start, end))
        end = start
    return found


def union_seconds(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def _median(values: list[float]) -> float | None:
    values = [float(v) for v in values if v is not None]
    return statistics.median(values) if values else None


def stage_medians(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The median seconds of every stage any row reports, in the order the judge runs them,
    then gpu_wait_s, gpu_alone_s, queued_s and submit_to_verdict_s."""
    names: list[str] = []
    for row in rows:
        names += [s["name"] for s in row.get("stages", []) if s["name"] not in names]
    medians = {name: _median([r["stage_seconds"][name] for r in rows if name in r["stage_seconds"]]) for name in names}
    for key in ("gpu_wait_s", "gpu_alone_s", "queued_s", "submit_to_verdict_s"):
        medians[key] = _median([r.get(key) for r in rows])
    return medians


def summarize(rows: list[dict[str, Any]], skipped: list[str], wall: float, workers: int,
              smi: dict[str, Any] | None, gpu: bool = True) -> dict[str, Any]:
    """The run's figures (module doc); without a GPU (`gpu` false) the GPU shares are None."""
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    alone = sum(float(r["gpu_alone_s"] or 0.0) for r in rows)
    gpu_union = union_seconds([i for r in rows for i in gpu_stage_intervals(r)])
    honest = [r for r in rows if r["honest"]]
    return {
        "candidates": len(rows), "not_submitted": len(skipped), "workers": workers, "wall_s": wall,
        "candidates_per_minute": 60.0 * len(rows) / wall if wall > 0 else None,
        "statuses": statuses,
        "all_honest_correct": all(r["status"] == "correct" for r in honest) and not skipped,
        "not_correct": [{"label": r["label"], "variant": r["variant"], "status": r["status"], "reason": r["reason"],
                         "honest": r["honest"]} for r in rows if r["status"] != "correct"],
        "gpu_alone_s_total": alone,
        "gpu_alone_share": alone / wall if gpu and wall > 0 else None,
        "gpu_stages_union_share": gpu_union / wall if gpu and wall > 0 else None,
        "nvidia_smi": smi,
        "stage_medians_s": stage_medians(rows),
        "runtime_ms_median": _median([r["runtime_ms"] for r in rows]),
    }


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_markdown(results: dict[str, Any]) -> str:
    summary, device = results["summary"], results["device"]
    smi = summary["nvidia_smi"]
    lines = [
        f"# Kernel judge throughput on {device['name']}", "",
        f"`python bench/throughput.py {results['argv']}`; op {results['op']} at {results['shape']}, "
        f"device {results['judge_device']}; torch {device.get('torch')}, triton {device.get('triton')}; "
        f"finished {results['finished']}. Definitions: bench/throughput_report.py.", "",
        "| candidates | workers | wall s | per minute | statuses | GPU held alone | GPU stages' union | nvidia-smi util |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        "| " + " | ".join([
            f"{summary['candidates']}" + (f" (+{summary['not_submitted']} not submitted)" if summary["not_submitted"]
                                          else ""),
            str(summary["workers"]), _s(summary["wall_s"], 1), _s(summary["candidates_per_minute"], 1),
            ", ".join(f"{k} {v}" for k, v in sorted(summary["statuses"].items())),
            _pct(summary["gpu_alone_share"]), _pct(summary["gpu_stages_union_share"]),
            "not sampled (no nvidia-smi)" if smi is None else f"mean {smi['mean_pct']:.0f}%, "
            f"busy in {100 * smi['share_above_0']:.0f}% of {smi['samples']} samples",
        ]) + " |", "",
        "Median seconds per candidate:", "",
        "| " + " | ".join(summary["stage_medians_s"]) + " |",
        "| " + " | ".join("---" for _ in summary["stage_medians_s"]) + " |",
        "| " + " | ".join(_s(v) for v in summary["stage_medians_s"].values()) + " |", "",
    ]
    if summary["not_correct"]:
        lines += ["Not judged correct:", ""]
        lines += [f"- {r['label']} ({r['variant']}{'' if r['honest'] else ', injected'}): "
                  f"**{r['status']}**: {r['reason']}" for r in summary["not_correct"]]
        lines.append("")
    lines += ["| candidate | variant | status | runtime ms | speedup | " + " | ".join(
        n for n in summary["stage_medians_s"] if n not in ("queued_s",)) + " |"]
    lines.append("| " + " | ".join("---" for _ in range(len(summary["stage_medians_s"]) + 4)) + " |")
    for row in results["rows"]:
        cells = [row["stage_seconds"].get(n) if n in row["stage_seconds"] else row.get(n)
                 for n in summary["stage_medians_s"] if n != "queued_s"]
        lines.append("| " + " | ".join([row["label"], row["variant"], row["status"], _s(row["runtime_ms"], 4),
                                         _s(row["speedup"])] + [_s(c) for c in cells]) + " |")
    for note in results.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"
