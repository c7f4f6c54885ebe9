"""One line that says what holds a program back, from the metrics its evaluator reported.

`diagnose(program, language)` reads `program.metrics` and returns a line such as
"memory-bound at 84% of DRAM bandwidth (SM 23%); achieved occupancy 47%; at 79% of the
roofline floor; 2.15x the reference's speed", or None when the metrics say nothing it can read
(or the program failed: its error is the feedback then). The prompt shows it next to the
numbers as "Diagnosis: ..." (`learning.diagnosis`).

Kernel tasks (language "triton" or "cuda"), by what the judge reports
(evaluators/kernel/judgement.py, profile.py):

- with `evaluate.profile: ncu`: the busier of DRAM (`ncu_dram_pct`) and SM (`ncu_sm_pct`)
  throughput sets the bound when it reaches `BOUND_PCT` of peak; when neither does, the kernel
  is latency-bound (too little work in flight). Achieved occupancy (`ncu_occupancy_pct`) under
  `LOW_OCCUPANCY_PCT` is named, with the registers per thread when they are many; spills
  (`ncu_spills`, local-memory accesses) are always named.
- without a profile: the roofline (`roofline_fraction`, `work_bytes`, `work_flops`,
  `runtime_ms`): an op with no FLOPs, or fewer than `MEMORY_INTENSITY` FLOPs per byte (below the
  ridge point of any current GPU), is called memory-bound and its achieved bandwidth is given;
  otherwise its achieved TFLOP/s and FLOPs per byte are.
- always, when measured: the share of the roofline floor reached, the speed-up over the
  reference (`speedup`), and the kernel launches per forward (`launches`) when there are several.

Program tasks: an evaluator gives a profile as metrics named `profile_<part>`, the time (any
unit, the same for all) the program spent in each part. The line names the part that took the
largest share ("`solve` takes 62% of the profiled time (of 3 parts; next: parse 20%)").
"""

from __future__ import annotations

from typing import Mapping

from archives.records import Program

__all__ = ["BOUND_PCT", "LOW_OCCUPANCY_PCT", "MEMORY_INTENSITY", "PROFILE_PREFIX", "diagnose"]

KERNEL_LANGUAGES = ("triton", "cuda")
BOUND_PCT = 60.0
"""A unit busy at this share of its peak or more is what bounds the kernel (Nsight Compute's
own 'speed of light' analysis flags units above 60% as the limiter)."""
LOW_OCCUPANCY_PCT = 40.0
MANY_REGISTERS = 128.0
"""Registers per thread from which a block of 256 threads no longer fits twice on an SM's 64K."""
MEMORY_INTENSITY = 10.0
"""FLOPs per byte under which an op is memory-bound on any current GPU (ridge points: ~50-300)."""
PROFILE_PREFIX = "profile_"
MAX_CHARS = 300


def diagnose(program: Program, language: str) -> str | None:
    """One line of diagnosis from `program.metrics`, or None (see the module's docstring)."""
    if not program.is_correct or not program.metrics:
        return None
    metrics = program.metrics
    if language.strip().lower() in KERNEL_LANGUAGES:
        clauses = _kernel(metrics, language.strip().lower())
    else:
        clauses = _profile(metrics)
    line = "; ".join(c for c in clauses if c)
    return line[:MAX_CHARS] or None


# ---- kernels -------------------------------------------------------------------------------------


def _kernel(m: Mapping[str, float], language: str) -> list[str]:
    clauses = _ncu(m, language) if "ncu_dram_pct" in m or "ncu_sm_pct" in m else [_roofline_bound(m)]
    if "roofline_fraction" in m:
        clauses.append(f"at {m['roofline_fraction']:.0%} of the roofline floor")
    if "speedup" in m:
        clauses.append(f"{m['speedup']:.3g}x the reference's speed")
    if m.get("launches", 0) > 1:
        clauses.append(f"{m['launches']:.0f} kernel launches per forward")
    return clauses


def _ncu(m: Mapping[str, float], language: str) -> list[str]:
    dram, sm = m.get("ncu_dram_pct", 0.0), m.get("ncu_sm_pct", 0.0)
    if max(dram, sm) >= BOUND_PCT:
        if dram >= sm:
            clauses = [f"memory-bound at {dram:.0f}% of DRAM bandwidth (SM {sm:.0f}%)"]
        else:
            clauses = [f"compute-bound at {sm:.0f}% of SM throughput (DRAM {dram:.0f}%)"]
    else:
        clauses = [f"latency-bound: neither DRAM ({dram:.0f}%) nor SM ({sm:.0f}%) is near its peak"]
    registers = m.get("ncu_registers")
    occupancy = m.get("ncu_occupancy_pct")
    if occupancy is not None and occupancy < LOW_OCCUPANCY_PCT:
        many = registers is not None and registers >= MANY_REGISTERS
        clauses.append(f"achieved occupancy {occupancy:.0f}%" + (f" ({registers:.0f} registers/thread)" if many else ""))
    if m.get("ncu_spills", 0) > 0:
        cure = "smaller tiles or fewer values live per thread" if language == "triton" else \
            "fewer values live per thread or __launch_bounds__"
        reg = f" at {registers:.0f} registers/thread" if registers is not None else ""
        clauses.append(f"{m['ncu_spills']:.0f} register spill accesses{reg}: {cure}")
    return clauses


def _roofline_bound(m: Mapping[str, float]) -> str:
    moved, flops, ms = m.get("work_bytes"), m.get("work_flops", 0.0), m.get("runtime_ms")
    if not moved or not ms:
        return ""
    if flops / moved < MEMORY_INTENSITY:
        return f"memory-bound op ({flops / moved:.2g} FLOP/byte): moves {moved / ms / 1e6:.0f} GB/s"
    return f"{flops / moved:.0f} FLOP/byte: reaches {flops / ms / 1e9:.1f} TFLOP/s and {moved / ms / 1e6:.0f} GB/s"


# ---- programs ------------------------------------------------------------------------------------


def _profile(m: Mapping[str, float]) -> list[str]:
    parts = {k[len(PROFILE_PREFIX):]: v for k, v in m.items() if k.startswith(PROFILE_PREFIX) and v >= 0}
    total = sum(parts.values())
    if not parts or total <= 0:
        return []
    ranked = sorted(parts.items(), key=lambda kv: -kv[1])
    name, value = ranked[0]
    line = f"`{name}` takes {value / total:.0%} of the profiled time"
    if len(ranked) > 1:
        line += f" (of {len(ranked)} parts; next: {ranked[1][0]} {ranked[1][1] / total:.0%})"
    return [line]
