"""The timing loop (on the CPU clock here) and how the judge reads its samples.

On a GPU the same loop uses CUDA events and a whole-device sync (checked on the H100 by
evaluators/kernel/gpu_selfcheck.py); these tests pin the loop's logic and the judge's rules for
work left on side streams and for a reference slowed beside the candidate.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from evaluators.kernel.launches import streams_besides_first  # noqa: E402
from evaluators.kernel.report import Rejected, Report  # noqa: E402
from evaluators.kernel.stats import summarize  # noqa: E402
from evaluators.kernel.timing import HIDE_LAUNCH_MAX_MS, TimingOptions, launch_cover_ms, measure  # noqa: E402
from evaluators.kernel.timing_rules import reference_time, time_of  # noqa: E402


def test_reference_and_candidate_are_interleaved_on_fresh_inputs_and_checked_together():
    seen_inputs, checked = [], []

    def fresh(i):
        x = torch.full((4,), float(i))
        seen_inputs.append(x)
        return [x]

    result = measure({"reference": lambda x: x * 2, "candidate": lambda x: x + x}, fresh,
                     lambda outs: checked.append(torch.equal(outs["reference"], outs["candidate"])),
                     TimingOptions(min_reps=10, max_reps=30, target_rel_se=0.0, max_seconds=5.0), "cpu")
    assert result["reps"] == 30 and len(checked) == 30 and all(checked)
    assert len({float(x[0]) for x in seen_inputs}) == len(seen_inputs)  # never the same data twice
    for name in ("reference", "candidate"):
        assert len(result["samples"][name]["event_ms"]) == 30


def test_repetition_stops_once_the_median_is_precise_or_time_is_up():
    steady = measure({"a": lambda x: x + 1}, lambda i: [torch.ones(8)], None,
                     TimingOptions(min_reps=10, max_reps=100_000, target_rel_se=0.5, max_seconds=30.0), "cpu")
    assert steady["reps"] == 10
    capped = measure({"a": lambda x: x + 1}, lambda i: [torch.ones(8)], None,
                     TimingOptions(min_reps=10, max_reps=100_000, target_rel_se=0.0, max_seconds=0.3), "cpu")
    assert 10 <= capped["reps"] < 100_000 and capped["seconds"] < 3.0


def _reply(event, sync, honest):
    return {"samples": {"x": {"event_ms": event, "sync_ms": sync, "wall_ms": [s + 0.01 for s in sync]}},
            "honest_gap_ms": {"x": honest}}


def test_an_honest_gap_after_the_sync_is_not_side_work():
    report = Report()
    event = [0.100, 0.101, 0.099, 0.100, 0.102]
    summary = time_of(report, _reply(event, [e + 0.030 for e in event], 0.015), "x")
    assert summary.median == pytest.approx(0.100) and not report.notes


def test_work_left_on_a_side_stream_is_counted():
    report = Report()
    event = [0.002] * 9
    summary = time_of(report, _reply(event, [2.75] * 9, 0.01), "x")
    assert summary.median == pytest.approx(2.74)
    assert "left about" in report.notes[0]


def test_a_host_wake_up_jitter_of_tens_of_microseconds_is_not_side_work():
    report = Report()  # the H200's honest swish: 44 us beyond the honest gap at 0.133 ms
    event = [0.133] * 9
    summary = time_of(report, _reply(event, [e + 0.059 for e in event], 0.015), "x")
    assert summary.median == pytest.approx(0.133) and not report.notes


def test_work_on_another_stream_in_the_profiled_forward_counts_the_synchronised_time():
    report = Report()
    event = [0.100] * 9
    summary = time_of(report, _reply(event, [0.130] * 9, 0.015), "x", other_streams=1)
    assert summary.median == pytest.approx(0.115)
    assert "1 stream(s) besides the caller's" in report.notes[0]


def test_streams_are_counted_besides_the_one_the_marker_ran_on():
    assert streams_besides_first([7, 7, 7]) == 0
    assert streams_besides_first([7, 7, 13, 13, 21]) == 2
    assert streams_besides_first([]) is None


def test_device_time_beyond_host_wall_time_is_rejected():
    report = Report()
    reply = _reply([1.0] * 5, [1.0] * 5, 0.0)
    reply["samples"]["x"]["wall_ms"] = [0.1] * 5
    with pytest.raises(Rejected), report.stage("timing"):
        time_of(report, reply, "x")
    assert "exceeds the host wall time" in report.text["error"]


def test_a_reference_slowed_beside_the_candidate_cannot_raise_the_speedup():
    report = Report()
    alone = summarize([0.100, 0.101, 0.099])
    assert reference_time(report, summarize([0.104, 0.105, 0.103]), alone, 0.10) == pytest.approx(0.104)
    assert reference_time(report, summarize([0.125, 0.126, 0.124]), alone, 0.10) == pytest.approx(0.100)
    with pytest.raises(Rejected), report.stage("timing"):
        reference_time(report, summarize([0.200, 0.201, 0.199]), alone, 0.10)
    assert "slower beside the candidate" in report.text["error"]


def test_microsecond_references_are_not_rejected_for_jitter():
    report = Report()
    alone = summarize([0.0074, 0.0075, 0.0076])
    # the H100 false rejection: 175% slower beside the candidate, 13 us in all: the time alone counts
    assert reference_time(report, summarize([0.0205, 0.0206, 0.0207]), alone, 0.10) == pytest.approx(0.0075)
    assert "uses its time alone" in report.notes[0]
    # a microsecond is jitter at this size, not drift: the interleaved time stands
    assert reference_time(report, summarize([0.0084, 0.0085, 0.0086]), alone, 0.10) == pytest.approx(0.0085)
    assert len(report.notes) == 1
    # far slower and by much more than jitter still rejects
    with pytest.raises(Rejected), report.stage("timing"):
        reference_time(report, summarize([0.0500, 0.0501, 0.0502]), alone, 0.10)


def test_the_stream_is_held_about_as_long_as_the_host_takes_to_launch_up_to_a_cap():
    assert launch_cover_ms(0.010) == pytest.approx(0.040)
    assert launch_cover_ms(0.0) == pytest.approx(0.020)
    assert launch_cover_ms(5.0) == HIDE_LAUNCH_MAX_MS  # host work beyond the cap stays in the time


def test_the_host_time_to_issue_each_call_is_reported():
    import time

    result = measure({"slow": lambda x: time.sleep(0.002) or x, "fast": lambda x: x}, lambda i: [torch.ones(4)], None,
                     TimingOptions(min_reps=10, max_reps=10, target_rel_se=0.0, max_seconds=5.0), "cpu")
    assert result["host_ms"]["slow"] >= 2.0 > result["host_ms"]["fast"]


def test_the_paired_speedup_holds_while_a_sinking_clock_drifts_both_times():
    from evaluators.kernel.timing_rules import paired_speedup

    # A compute-bound pair timed interleaved while the clock sinks 6% over the loop: every
    # iteration's reference takes 1.5x its candidate's time.
    slowdown = [1.0 + 0.06 * i / 29 for i in range(30)]
    cand = summarize([0.200 * s for s in slowdown])
    ref = summarize([0.300 * s for s in slowdown])
    paired = paired_speedup(ref, cand)
    assert paired.median == pytest.approx(1.5) and paired.rel_spread == pytest.approx(0.0, abs=1e-12)
    # The candidate's own times spread by 3% (IQR over median), the speedup not at all.
    assert cand.rel_spread > 0.025
    # Two judgments during different stretches of the sinking clock agree on the speedup.
    early = paired_speedup(summarize([0.300 * s for s in slowdown[:10]]), summarize([0.200 * s for s in slowdown[-10:]]))
    assert early.median < 1.45  # unpaired stretches do not: that is what the pairing removes
    assert paired_speedup(summarize([0.3, 0.3]), summarize([0.2, 0.2, 0.2])) is None
