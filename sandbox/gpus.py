"""GPU slots: which GPUs this machine has, and a lock per GPU that timing holds.

Compilation runs in parallel on the CPUs; checking and timing hold one GPU at a time. A job
is given a GPU index (`SandboxJob.gpu`) by `GpuSlots.pick()` (round robin) and the path of that
GPU's lock file; the trusted harness inside the job takes the lock (`fcntl.flock`, which works
across the sandbox's read-only mounts and namespaces) around its GPU work only, so one job
compiles while another is timed.

The lock files live in a folder of this process with an unguessable name and no read
permission (mode 0o300): a job can open a lock whose name it was told, but cannot list the
folder to find the others. The harness is told in its environment, which candidate code never
sees. Without torch: the controller stays light.
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path


def visible_gpus() -> list[int]:
    """Indices of the NVIDIA GPUs this process may use ([] without a GPU or driver)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        items = [p.strip() for p in listed.split(",") if p.strip()]
        if not items or items[0].startswith("-"):
            return []
        return list(range(len(items)))
    driver = Path("/proc/driver/nvidia/gpus")
    if driver.is_dir():
        count = len([p for p in driver.iterdir() if p.is_dir()])
        if count:
            return list(range(count))
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return list(range(sum(1 for line in listing.splitlines() if line.startswith("GPU "))))


class GpuSlots:
    """Hands out GPU indices round robin and names each GPU's lock file."""

    def __init__(self, gpus: list[int]) -> None:
        if not gpus:
            raise ValueError("GpuSlots needs at least one GPU")
        self.gpus = list(gpus)
        self._cycle = itertools.cycle(self.gpus)
        self._lock = threading.Lock()
        base = Path(tempfile.gettempdir()) / f"evoforge-gpus-{secrets.token_hex(16)}"
        base.mkdir(mode=0o700)
        self._locks = {}
        for gpu in self.gpus:
            path = base / f"gpu{gpu}-{secrets.token_hex(8)}.lock"
            path.touch(mode=0o600)
            self._locks[gpu] = str(path)
        os.chmod(base, 0o300)  # no listing: a job only finds the lock it is told about
        self._base = base
        atexit.register(self.close)

    def pick(self) -> int:
        with self._lock:
            return next(self._cycle)

    def lock_path(self, gpu: int) -> str:
        return self._locks[gpu]

    def close(self) -> None:
        if self._base.exists():
            os.chmod(self._base, 0o700)
            shutil.rmtree(self._base, ignore_errors=True)


_shared: dict[tuple[int, ...], GpuSlots] = {}
_shared_lock = threading.Lock()


def shared_slots(gpus: list[int]) -> GpuSlots:
    """The one GpuSlots of this process for these GPUs: every evaluator in the process shares its locks.

    Two separate processes (two `agent evolve` runs) on one GPU do not exclude each other.
    """
    key = tuple(gpus)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = GpuSlots(list(gpus))
        return _shared[key]

