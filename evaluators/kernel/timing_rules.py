"""How the judge reads timing samples: which time counts, and which reference time speedups divide.

Both rules run in the judge's process, on the samples the candidate's process measured
(timing.py) and on the reference timed alone in the judge's process (reference.py). They add
notes to the report, or reject through it.

- `time_of(report, reply, name, other_streams)`: a callable's time is its stream's event time,
  unless it left work elsewhere. Two signs count. The profiled forward ran work on streams
  other than the caller's (`other_streams`, from the kernels stage): then the synchronised time
  counts, whatever the gap. Or the gap between the calling stream's end and the whole-device
  sync exceeds what the same wait costs a kernel on one stream (`honest_gap_ms`) by more than
  max(25% of the time, 50 us): that catches work that threads issue outside the profiled
  forward. The host's wake-up makes that gap noisy: on an H100 honest kernels showed up to 20
  us beyond the honest gap, on an H200 beside five other judges up to 44 us; a fully hidden
  2.7 ms matmul shows all of it.
- `paired_speedup(reference, candidate)`: the median over timing iterations of the reference's
  time over the candidate's in the same iteration (the loop interleaves them). A GPU whose
  clock sinks as a compute-bound load heats it slows both calls of an iteration alike, so the
  ratio holds where each time drifts (bench/results: a matmul's do_bench time moved 6.4% within
  seconds on an H200). The judge ranks by it when the reference's interleaved time counts.
- `reference_time(report, beside, alone, drift)`: the reference's time interleaved with the
  candidate, unless it is slower than alone (out of the candidate's reach) by more than
  `drift` and `DRIFT_MS`; then the time alone counts, so a candidate cannot gain by slowing
  the reference. Far slower (x1.5, over `DRIFT_REJECT_MS`, intervals apart) rejects. The
  absolute terms keep microsecond kernels, where a microsecond of jitter is a large share,
  from being misread.
"""

from __future__ import annotations

from typing import Any

from evaluators.kernel import stats
from evaluators.kernel.report import Report

SIDE_WORK_SHARE, SIDE_WORK_MS = 0.25, 0.050
FALLBACK_GAP_MS = 0.03  # where the honest gap could not be measured
DRIFT_MS = 0.002  # a reference this much slower beside the candidate is still taken as it was measured
DRIFT_REJECT_MS = 0.020


def time_of(report: Report, reply: dict[str, Any], name: str, other_streams: int = 0) -> stats.Summary:
    """Statistics of one callable's samples (see the module doc)."""
    samples = reply["samples"][name]
    event, sync = samples["event_ms"], samples["sync_ms"]
    if not event:
        report.fail(f"no timing samples for the {name}")
    if stats.median(event) > stats.median(samples["wall_ms"]) * 1.1 + 0.02:
        report.fail(f"the {name}'s device time exceeds the host wall time: the timers are not trustworthy")
    honest = (reply.get("honest_gap_ms") or {}).get(name)
    honest = float(honest) if honest is not None else FALLBACK_GAP_MS
    side = stats.median([s - e for s, e in zip(sync, event)]) - honest
    if other_streams:
        report.note(f"the {name} ran work on {other_streams} stream(s) besides the caller's (on its stream "
                    f"{stats.median(event):.4g} ms): the device-synchronised time counts")
    elif side > max(SIDE_WORK_SHARE * stats.median(event), SIDE_WORK_MS):
        report.note(f"the {name} left about {side:.4g} ms of work outside its stream (on its stream "
                    f"{stats.median(event):.4g} ms): the device-synchronised time counts")
    else:
        return stats.summarize(event)
    return stats.summarize([max(s - honest, e) for s, e in zip(sync, event)])


def reference_time(report: Report, beside: stats.Summary, alone: stats.Summary, drift: float) -> float:
    """The reference time speedups divide (see the module doc)."""
    excess = beside.median - alone.median
    share = excess / alone.median
    if share > 0.5 and excess > DRIFT_REJECT_MS and beside.ci_low > alone.ci_high:
        report.fail(f"the reference ran {share:.0%} slower beside the candidate ({beside.median:.4g} ms) than "
                    f"alone ({alone.median:.4g} ms): the candidate's process changed how torch runs")
    if share > drift and excess > DRIFT_MS:
        report.note(f"the reference ran {share:.0%} slower beside the candidate than alone: the speedup "
                    "uses its time alone")
        return alone.median
    return beside.median


def paired_speedup(reference: stats.Summary, candidate: stats.Summary) -> stats.Summary | None:
    """Statistics of reference / candidate over the iterations both were timed in (see the module doc)."""
    if not reference.values or len(reference.values) != len(candidate.values):
        return None
    ratios = [r / c for r, c in zip(reference.values, candidate.values) if c > 0]
    return stats.summarize(ratios) if ratios else None
