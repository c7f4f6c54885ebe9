"""Nsight Compute feedback (`evaluate.profile: ncu` / `kernel.profile: ncu`) for the next prompt.

`run_ncu` profiles one forward of the candidate in a fresh candidate process
(`runner.py` in "profile" mode: warm up, then one call between cudaProfilerStart/Stop) under
`ncu --profile-from-start off`, exports a report and reads these metrics back as CSV:

| metric | from ncu |
| --- | --- |
| ncu_dram_pct | dram__throughput.avg.pct_of_peak_sustained_elapsed |
| ncu_sm_pct | sm__throughput.avg.pct_of_peak_sustained_elapsed |
| ncu_occupancy_pct | sm__warps_active.avg.pct_of_peak_sustained_active (achieved occupancy) |
| ncu_registers | launch__registers_per_thread |
| ncu_spills | smsp__sass_inst_executed_op_local_ld.sum + ..._st.sum (local-memory accesses: spills) |

With several kernels, percentages are averaged weighted by each kernel's duration,
registers are the maximum and spills the sum. A missing `ncu`, or one refused access to the
counters, gives a note in the text, never a failure of the candidate.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

METRICS = {
    "dram__throughput.avg.pct_of_peak_sustained_elapsed": "ncu_dram_pct",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed": "ncu_sm_pct",
    "sm__warps_active.avg.pct_of_peak_sustained_active": "ncu_occupancy_pct",
    "launch__registers_per_thread": "ncu_registers",
    "smsp__sass_inst_executed_op_local_ld.sum": "_local_ld",
    "smsp__sass_inst_executed_op_local_st.sum": "_local_st",
    "gpu__time_duration.sum": "_duration",
}


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def parse_raw_csv(text: str) -> list[dict[str, float]]:
    """One dict per kernel (our names) from `ncu --import ... --csv --page raw` output."""
    lines = [ln for ln in text.splitlines() if ln.startswith('"')]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    if len(rows) < 2:
        return []
    header = rows[0]
    kernels = []
    for row in rows[1:]:
        values = dict(zip(header, row))  # the units row gives no numbers and is skipped
        got = {ours: _number(values[theirs]) for theirs, ours in METRICS.items() if theirs in values}
        if any(v is not None for v in got.values()):
            kernels.append({k: v for k, v in got.items() if v is not None})
    return kernels


def aggregate(kernels: list[dict[str, float]]) -> dict[str, float]:
    if not kernels:
        return {}
    weights = [k.get("_duration", 1.0) or 1.0 for k in kernels]
    total = sum(weights)
    out: dict[str, float] = {}
    for name in ("ncu_dram_pct", "ncu_sm_pct", "ncu_occupancy_pct"):
        pairs = [(k[name], w) for k, w in zip(kernels, weights) if name in k]
        if pairs:
            out[name] = sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
    registers = [k["ncu_registers"] for k in kernels if "ncu_registers" in k]
    if registers:
        out["ncu_registers"] = max(registers)
    if any("_local_ld" in k or "_local_st" in k for k in kernels):
        out["ncu_spills"] = sum(k.get("_local_ld", 0.0) + k.get("_local_st", 0.0) for k in kernels)
    out["ncu_kernels"] = float(len(kernels))
    out["ncu_time_ms"] = total / 1e6 if all("_duration" in k for k in kernels) else 0.0
    return out


def run_ncu(config: dict[str, Any], build_dir: Path, env: dict[str, str], timeout: float,
            python: str = sys.executable) -> tuple[dict[str, float], str]:
    """(metrics, one-line note) from profiling one forward of the candidate with ncu."""
    ncu = shutil.which("ncu", path=env.get("PATH")) or shutil.which("ncu")
    if ncu is None:
        return {}, "profile: ncu not found on this machine"
    report = build_dir / "profile"
    runner = [python, "-m", "evaluators.kernel.runner", json.dumps({**config, "mode": "profile"})]
    record = [ncu, "--profile-from-start", "off", "--target-processes", "all", "--metrics", ",".join(METRICS),
              "--export", str(report), "--force-overwrite", *runner]
    try:
        done = subprocess.run(record, env=env, cwd=str(build_dir), capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not report.with_suffix(".ncu-rep").is_file():
            tail = [ln for ln in (done.stdout + done.stderr).splitlines() if "ERR" in ln or "rror" in ln]
            return {}, f"profile: ncu failed: {(tail or ['exit code %d' % done.returncode])[-1][:300]}"
        shown = subprocess.run([ncu, "--import", str(report.with_suffix(".ncu-rep")), "--csv", "--page", "raw",
                                "--metrics", ",".join(METRICS)], env=env, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {}, f"profile: ncu took longer than {timeout:g} s"
    metrics = aggregate(parse_raw_csv(shown.stdout))
    if not metrics:
        return {}, "profile: ncu reported no kernels for one forward"
    note = (f"profile (ncu, {int(metrics['ncu_kernels'])} kernel(s)): DRAM {metrics.get('ncu_dram_pct', 0):.0f}% "
            f"of peak, SM {metrics.get('ncu_sm_pct', 0):.0f}%, achieved occupancy "
            f"{metrics.get('ncu_occupancy_pct', 0):.0f}%, {metrics.get('ncu_registers', 0):.0f} registers/thread, "
            f"{metrics.get('ncu_spills', 0):.0f} local-memory (spill) accesses")
    return metrics, note
