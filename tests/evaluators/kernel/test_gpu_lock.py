"""The GPU's readers-writer lock: checks share the GPU, timing has it alone, and timing is not starved.

flock treats every open of the lock file on its own, so threads of this process stand for the
judges of separate jobs here.
"""

from __future__ import annotations

import threading
import time

from evaluators.kernel.gpu_lock import GpuLock
from sandbox.gpus import GpuSlots, gate_path


def _lock_file(tmp_path) -> str:
    path = tmp_path / "gpu0.lock"
    path.touch()
    (tmp_path / "gpu0.lock.gate").touch()
    return str(path)


def _hold(lock: GpuLock, kind: str, seconds: float, log: list, name: str, entered: threading.Event | None = None):
    with getattr(lock, kind)():
        log.append(("in", name, time.monotonic()))
        if entered is not None:
            entered.set()
        time.sleep(seconds)
        log.append(("out", name, time.monotonic()))


def _start(*args) -> threading.Thread:
    thread = threading.Thread(target=_hold, args=args, daemon=True)
    thread.start()
    return thread


def _inside(log: list, name: str) -> tuple[float, float]:
    times = {kind: t for kind, who, t in log if who == name}
    return times["in"], times["out"]


def test_checks_share_the_gpu(tmp_path):
    path, log = _lock_file(tmp_path), []
    first, second = threading.Event(), threading.Event()
    a = _start(GpuLock(path), "shared", 0.6, log, "a", first)
    first.wait(5)
    b = _start(GpuLock(path), "shared", 0.1, log, "b", second)
    assert second.wait(0.4), "a second check had to wait for the first"
    a.join(), b.join()


def test_timing_waits_for_checks_and_keeps_the_gpu_to_itself(tmp_path):
    path, log = _lock_file(tmp_path), []
    entered = threading.Event()
    check = _start(GpuLock(path), "shared", 0.4, log, "check", entered)
    entered.wait(5)
    timing_lock = GpuLock(path)
    timing = _start(timing_lock, "exclusive", 0.4, log, "timing")
    time.sleep(0.1)
    later = _start(GpuLock(path), "shared", 0.05, log, "later")
    for thread in (check, timing, later):
        thread.join(5)
    check_in, check_out = _inside(log, "check")
    timing_in, timing_out = _inside(log, "timing")
    later_in, _ = _inside(log, "later")
    assert timing_in >= check_out  # timing started only after the check ended
    assert later_in >= timing_out  # the check that queued behind the waiting timing went after it
    assert timing_lock.waited >= 0.2
    assert 0.35 <= timing_lock.held_alone < 2.0


def test_two_measurements_never_overlap(tmp_path):
    path, log = _lock_file(tmp_path), []
    threads = [_start(GpuLock(path), "exclusive", 0.1, log, f"m{i}") for i in range(3)]
    for thread in threads:
        thread.join(5)
    spans = sorted(_inside(log, f"m{i}") for i in range(3))
    assert all(spans[i][1] <= spans[i + 1][0] for i in range(2))


def test_without_a_gate_file_the_lock_still_excludes(tmp_path):
    path = tmp_path / "alone.lock"
    path.touch()
    log: list = []
    entered = threading.Event()
    check = _start(GpuLock(str(path)), "shared", 0.3, log, "check", entered)
    entered.wait(5)
    timing = _start(GpuLock(str(path)), "exclusive", 0.01, log, "timing")
    check.join(5), timing.join(5)
    assert _inside(log, "timing")[0] >= _inside(log, "check")[1]


def test_no_lock_file_means_no_waiting():
    lock = GpuLock(None)
    with lock.exclusive(), lock.exclusive():
        pass
    assert lock.waited == 0.0


def test_the_controller_makes_a_gate_beside_each_gpu_lock():
    slots = GpuSlots([0, 1])
    try:
        for gpu in (0, 1):
            path = slots.lock_path(gpu)
            with open(path, "rb"), open(gate_path(path), "rb"):
                pass
    finally:
        slots.close()


def test_a_shared_hold_inside_one_does_not_queue_again_behind_a_waiting_measurement(tmp_path):
    path = _lock_file(tmp_path)
    judge, log = GpuLock(path), []
    outer_in, nested_done = threading.Event(), threading.Event()

    def checks():
        with judge.shared():  # e.g. the re-check after timing: a trial's hold inside the stage's
            outer_in.set()
            time.sleep(0.3)  # meanwhile another judge queues to time, taking the gate
            with judge.shared():
                log.append("nested")
            nested_done.set()

    thread = threading.Thread(target=checks, daemon=True)
    thread.start()
    outer_in.wait(5)
    timing = _start(GpuLock(path), "exclusive", 0.05, log, "timing")
    assert nested_done.wait(10), "the nested shared hold waited for the measurement that waits for it"
    thread.join(5), timing.join(5)
    assert log[0] == "nested" and ("in", "timing") == log[1][:2]
