"""A GPU's lock, shared between the judges of one machine: checks side by side, timing alone.

Checking a candidate (its first call, the correctness trials, the kernel trace) may share the
GPU with other judges' checks: nothing is measured then. Timing (and measuring the device's
ceilings, and Nsight Compute's counters) needs the GPU to itself, or another judge's Triton
autotuning or correctness trials would run inside the timed region. So the lock is a
readers-writer lock over the lock file the controller names (sandbox/gpus.py): `shared()` for
checks, `exclusive()` for measurements, both `fcntl.flock`, which works across processes,
sandbox namespaces and read-only mounts.

A judge waiting to time must not wait forever behind a stream of checks: both kinds first pass
a gate (`<lock>.gate`, an exclusive flock held only while queueing), so a waiting measurement
stops new checks from starting until it has the GPU. Checks hold the lock one trial at a time
(judgement.py), so a measurement waits for the trials under way, not for whole stages. Where the gate file is missing (a lock
file mounted alone), the lock still excludes correctly, without that fairness.

Standard library only (and sandbox.gpus, which names the files): this runs in the judge's
process inside the sandbox.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from typing import Iterator

from sandbox.gpus import gate_path


class GpuLock:
    """`shared()` and `exclusive()` context managers over one lock file; None: no lock (no GPU)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.waited = 0.0  # seconds spent waiting for the GPU, all holds together
        self.held_alone = 0.0  # seconds the GPU was held exclusively
        self._shared_depth = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Reentrant: a shared hold inside one already held is a no-op (queueing again at the gate
        behind a waiting measurement, while holding the GPU it waits for, would deadlock)."""
        if self._shared_depth:
            self._shared_depth += 1
            try:
                yield
            finally:
                self._shared_depth -= 1
            return
        with self._hold(fcntl.LOCK_SH):
            self._shared_depth = 1
            try:
                yield
            finally:
                self._shared_depth = 0

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._hold(fcntl.LOCK_EX):
            yield

    @contextmanager
    def _hold(self, mode: int) -> Iterator[None]:
        if self.path is None:
            yield
            return
        start = time.monotonic()
        with open(self.path, "rb") as handle:  # read-only: the sandbox mounts it so
            gate = _open_gate(self.path)
            try:
                if gate is not None:
                    fcntl.flock(gate, fcntl.LOCK_EX)
                fcntl.flock(handle, mode)
            finally:
                if gate is not None:
                    os.close(gate)  # closing releases the gate
            got = time.monotonic()
            self.waited += got - start
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                if mode == fcntl.LOCK_EX:
                    self.held_alone += time.monotonic() - got


def _open_gate(path: str) -> int | None:
    try:
        return os.open(gate_path(path), os.O_RDONLY)
    except OSError:
        return None
