"""A candidate that hangs once timed costs seconds: the deadline follows from the checked calls,
the watchdog kills the candidate's whole process group and the GPU lock is free again at once.

On a CPU nothing is timed by the judge, so the watchdog is driven directly: a real candidate
process, correct for its checked calls, blocks on the first call of the "time" request (the
loop runs on the host timer on a CPU), under the GPU lock held exclusively, with a tiny deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evaluators.kernel import deadline
from evaluators.kernel.deadline import timing_deadline, timing_timeout_message
from evaluators.kernel.timing import TimingOptions

CAP = 340.0  # what the judge allowed before: max_time_s * 4 + run_timeout


def test_a_fast_candidate_gets_about_the_time_budget_not_minutes():
    limit = timing_deadline(0.003, TimingOptions(max_seconds=10.0), CAP)
    assert 10.0 < limit < 20.0


def test_the_deadline_never_drops_under_its_floor():
    assert timing_deadline(0.0, TimingOptions(max_seconds=0.1), CAP) == deadline.FLOOR_S


def test_an_honest_slow_candidate_gets_time_for_every_call_the_loop_must_make():
    opts = TimingOptions(max_seconds=10.0)
    call_s = 0.5
    fixed = 2 * (opts.warmup_reps + opts.min_reps + deadline.HONEST_GAP_REPS)
    limit = timing_deadline(call_s, opts, 10_000.0)
    assert limit >= opts.max_seconds + fixed * call_s * 2


def test_a_loop_that_stops_at_max_reps_bounds_the_deadline_below_the_time_budget():
    opts = TimingOptions(max_seconds=60.0, max_reps=20, min_reps=10)
    every = 2 * (opts.warmup_reps + opts.max_reps + deadline.HONEST_GAP_REPS)
    limit = timing_deadline(0.01, opts, CAP)
    assert limit == pytest.approx(deadline.SAFETY * 0.01 * every + deadline.SLACK_S)
    assert limit < opts.max_seconds


def test_a_candidate_slow_on_purpose_while_checked_gains_no_more_than_the_cap():
    assert timing_deadline(60.0, TimingOptions(), CAP) == CAP


def test_the_timeout_message_is_one_line_with_the_deadline_and_the_checked_calls():
    line = timing_timeout_message(7.5, [0.002, 0.004])
    assert line.startswith("timing did not finish within 7.5 s; the correctness calls took 0.006 s")
    assert "\n" not in line and "4 ms" in line


def test_the_evaluator_stores_a_timing_hang_as_timeout():
    from archives.records import Status
    from evaluators.kernel.evaluator import _status_of
    from archives.records import StageResult

    stage = StageResult("timing", False, message=timing_timeout_message(7.5, [0.01]))
    assert _status_of(stage) == Status.TIMEOUT


# ----- the watchdog, with a real candidate process --------------------------------------------

_REFERENCE = """
import torch
import torch.nn as nn

class Model(nn.Module):
    def forward(self, x):
        return x * 2.0

def get_inputs():
    return [torch.randn(4, 8)]

def get_init_inputs():
    return []
"""

_HANGS_WHEN_TIMED = """
import os
import subprocess
import time
import torch.nn as nn

CALLS = [0]

class ModelNew(nn.Module):
    def forward(self, x):
        CALLS[0] += 1
        if CALLS[0] > {checked}:  # past the warm-up and the checks: timing has started
            helper = subprocess.Popen(["sleep", "600"])
            with open(os.path.join(os.environ["HOME"], "helper.pid"), "w") as f:
                f.write(str(helper.pid))
            while True:
                time.sleep(1.0)
        return x * 2.0
"""


def _live(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _taken_exclusively_by_another_process(path: str) -> bool:
    code = ("import fcntl, sys; f = open(sys.argv[1], 'rb'); fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)")
    return subprocess.run([sys.executable, "-c", code, path], capture_output=True).returncode == 0


def _wait_for(predicate, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_a_candidate_hanging_once_timed_is_killed_at_the_deadline_and_the_gpu_lock_freed(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from evaluators.kernel.gpu_lock import GpuLock
    from evaluators.kernel.judge import JudgeOptions
    from evaluators.kernel.judgement import Judgement
    from evaluators.kernel.report import Rejected, Report

    monkeypatch.setattr(deadline, "FLOOR_S", 1.0)
    monkeypatch.setattr(deadline, "SLACK_S", 0.5)
    reference, candidate = tmp_path / "reference.py", tmp_path / "candidate.py"
    reference.write_text(_REFERENCE)
    checked = 1 + 1 + 2  # warm-up, trial 1, trial 2 run twice
    candidate.write_text(_HANGS_WHEN_TIMED.replace("{checked}", str(checked)))
    lock = tmp_path / "gpu0.lock"
    lock.touch()
    (tmp_path / "gpu0.lock.gate").touch()
    build = tmp_path / "build"
    options = JudgeOptions(device="cpu", trials=2, compile_timeout=240.0, run_timeout=240.0, max_time_s=0.2)
    judgement = Judgement(str(reference), str(candidate), options, build, Report())
    judgement.gpu = GpuLock(str(lock))  # on a CPU the judge takes no lock: this one stands for a GPU's
    try:
        judgement._start_child()
        group = judgement.child.proc.pid  # its own session: the group id is its pid
        judgement._compile()
        with judgement.gpu.shared():
            judgement._correctness()
        assert len(judgement.call_times) == 2  # one per trial: its slowest run
        topts = TimingOptions(max_seconds=0.2, min_reps=2, max_reps=5, warmup_reps=1, flush_l2=False)
        assert len(judgement.ref_times) == 2
        limit = judgement._timing_limit(topts)
        ref_median = 0.5 * sum(judgement.ref_times)  # the reference is timed beside the candidate too
        assert limit == timing_deadline(max(max(judgement.call_times), ref_median), topts, 340.0)
        assert limit < 30.0
        command = {"op": "time", "seeds": [1, 2, 3], "wseed": 4, "options": vars(topts), "atol": 1e-4, "rtol": 1e-4}
        start = time.monotonic()
        with pytest.raises(Rejected):
            with judgement.report.stage("timing"):
                with judgement.gpu.exclusive():
                    judgement._timed_request(command, topts)
        took = time.monotonic() - start
        assert limit <= took < limit + 15.0
        message = judgement.report.stages[-1]["message"]
        assert message.startswith(f"timing did not finish within {limit:.3g} s; the correctness calls took")
        assert _taken_exclusively_by_another_process(str(lock)), "the GPU lock was not released"
        assert _wait_for(lambda: not _group_members(group), 10.0), "the candidate's process group outlived it"
        helper = build / "helper.pid"
        assert helper.is_file(), "the candidate never reached the timing stage"
        assert _wait_for(lambda: not _live(int(helper.read_text())), 10.0), "a process the candidate started survived"
    finally:
        judgement._finish_child()
        if (build / "helper.pid").is_file():
            try:
                os.kill(int((build / "helper.pid").read_text()), 9)
            except (ProcessLookupError, ValueError):
                pass


def test_the_cuda_graph_request_gets_seconds_for_its_replays_and_no_more_than_its_cap():
    from evaluators.kernel.deadline import GRAPH_CALLS, calls_deadline

    assert calls_deadline(0.0005, GRAPH_CALLS, 300.0) < deadline.FLOOR_S + deadline.SLACK_S
    slow = calls_deadline(0.05, GRAPH_CALLS, 300.0)
    assert slow >= 0.05 * GRAPH_CALLS * 2 and slow < 60.0
    assert calls_deadline(10.0, GRAPH_CALLS, 300.0) == 300.0


def test_a_slow_reference_timed_beside_a_fast_candidate_widens_the_deadline_but_its_first_call_does_not(tmp_path):
    from evaluators.kernel.judge import JudgeOptions
    from evaluators.kernel.judgement import Judgement
    from evaluators.kernel.report import Report

    judgement = Judgement("reference.py", "candidate.py", JudgeOptions(max_time_s=10.0), tmp_path, Report())
    judgement.call_times = [0.0001, 0.0002]
    judgement.ref_times = [4.0, 0.2, 0.2]  # the first includes the judge's own CUDA start-up
    topts = TimingOptions(max_seconds=10.0)
    assert judgement._timing_limit(topts) == timing_deadline(0.2, topts, 340.0)
    assert judgement._timing_limit(topts) > timing_deadline(0.0002, topts, 340.0) + 2 * 43 * 0.2
