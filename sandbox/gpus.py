"""GPU slots: which GPUs this machine has, what the driver calls them, and one lock per GPU.

Compilation runs in parallel on the CPUs; checks share a GPU and timing holds it alone. A job
is given a GPU index (`SandboxJob.gpu`, an index among the GPUs this process sees) by
`GpuSlots.pick()` (round robin) and the path of that GPU's lock file; the trusted harness
inside the job takes the lock around its GPU work only (evaluators/kernel/gpu_lock.py: shared
for checks, exclusive for timing, `fcntl.flock` on the file and on its `.gate` beside it), so
jobs compile and check while another is timed.

The locks are the machine's, not the run's: every evoforge process on the machine, of any
user, uses the same file for the same physical GPU (named by its UUID, so two runs with
different CUDA_VISIBLE_DEVICES still meet), in `EVOFORGE_GPU_LOCK_DIR` or
/tmp/evoforge-gpu-locks (sticky, writable by all). Two searches on one GPU therefore never time
at once. Where that folder cannot be used, a private one stands in and `GpuSlots.warning` says
that other runs are not excluded. The path is no secret (it is in the harness's arguments): a
hostile candidate can hold a lock until its job's time limit ends it; it cannot forge a time.

`job_device(i)` is what visible GPU i is to the driver (the CUDA_VISIBLE_DEVICES entry this
process was given, or the index): what a job's own CUDA_VISIBLE_DEVICES or Docker device
request must name. Without torch: the controller stays light.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import stat
import subprocess
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

LOCK_DIR_VAR = "EVOFORGE_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "evoforge-gpu-locks"
_DRIVER_DIR = Path("/proc/driver/nvidia/gpus")
_SMI_LINE = re.compile(r"^GPU (\d+):.*\(UUID: ([^)\s]+)\)")


def _listed() -> list[str] | None:
    """CUDA_VISIBLE_DEVICES's entries ([] hides every GPU), or None when it is not set."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return None
    items = [p.strip() for p in listed.split(",") if p.strip()]
    return [] if not items or items[0].startswith("-") else items


def visible_gpus() -> list[int]:
    """Indices of the NVIDIA GPUs this process may use ([] without a GPU or driver)."""
    listed = _listed()
    if listed is not None:
        return list(range(len(listed)))
    if _DRIVER_DIR.is_dir():
        count = len([p for p in _DRIVER_DIR.iterdir() if p.is_dir()])
        if count:
            return list(range(count))
    return list(range(len(gpu_uuids())))


def job_device(gpu: int) -> str:
    """What visible GPU `gpu` is to the driver: this process's CUDA_VISIBLE_DEVICES entry, or the index."""
    listed = _listed()
    if listed and 0 <= gpu < len(listed):
        return listed[gpu]
    return str(gpu)


@lru_cache(maxsize=1)
def gpu_uuids() -> dict[str, str]:
    """Physical index -> UUID of every GPU, from `nvidia-smi -L` ({} where it is missing)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {}
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {m.group(1): m.group(2) for m in map(_SMI_LINE.match, listing.splitlines()) if m}


def gate_path(lock: str) -> str:
    """The gate beside a GPU's lock file (evaluators/kernel/gpu_lock.py queues on it)."""
    return f"{lock}.gate"


def lock_name(device: str) -> str:
    """The machine-wide lock file's name for a driver device name (an index, a UUID or its prefix)."""
    uuids = gpu_uuids()
    uuid = uuids.get(device) or next((u for u in uuids.values() if device.startswith("GPU-") and u.startswith(device)),
                                     None)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", uuid or f"index-{device}") + ".lock"


class GpuSlots:
    """Hands out GPU indices round robin and names each GPU's (machine-wide) lock file."""

    def __init__(self, gpus: list[int], lock_dir: str | os.PathLike[str] | None = None) -> None:
        if not gpus:
            raise ValueError("GpuSlots needs at least one GPU")
        self.gpus = list(gpus)
        self._cycle = itertools.cycle(self.gpus)
        self._lock = threading.Lock()
        self.warning: str | None = None
        self._private: Path | None = None
        folder = Path(lock_dir or os.environ.get(LOCK_DIR_VAR) or DEFAULT_LOCK_DIR)
        try:
            self._locks = _make_locks(folder, self.gpus)
        except OSError as exc:
            self._private = Path(tempfile.mkdtemp(prefix="evoforge-gpus-"))
            os.chmod(self._private, 0o755)
            self._locks = _make_locks(self._private, self.gpus)
            self.warning = (f"GPU locks: {folder} is not usable ({exc.strerror or exc}); other evoforge runs on this "
                            f"machine are not kept from timing on the same GPU at the same time (set {LOCK_DIR_VAR})")
            atexit.register(self.close)

    def pick(self) -> int:
        with self._lock:
            return next(self._cycle)

    def lock_path(self, gpu: int) -> str:
        return self._locks[gpu]

    def close(self) -> None:
        """Remove a private lock folder; the machine's lock files stay for every run."""
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)


def _make_locks(folder: Path, gpus: list[int]) -> dict[int, str]:
    """Lock file (and its gate) per GPU in `folder`, which every user may create files in."""
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(folder, 0o1777)
        except PermissionError:
            pass  # made meanwhile by another user, who set its mode
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "not writable")
    locks = {}
    for gpu in gpus:
        path = folder / lock_name(job_device(gpu))
        for name in (path, Path(gate_path(str(path)))):
            _touch_shared(name)
        locks[gpu] = str(path)
    return locks


def _touch_shared(path: Path) -> None:
    """Create `path` readable and writable by all (a container's user opens it too); keep one that exists."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        if os.fstat(fd).st_uid == os.geteuid() and stat.S_IMODE(os.fstat(fd).st_mode) != 0o666:
            os.fchmod(fd, 0o666)  # the umask took bits away
    finally:
        os.close(fd)


_shared: dict[tuple[int, ...], GpuSlots] = {}
_shared_lock = threading.Lock()


def shared_slots(gpus: list[int]) -> GpuSlots:
    """The one GpuSlots of this process for these GPUs (every evaluator shares its round robin)."""
    key = tuple(gpus)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = GpuSlots(list(gpus))
        return _shared[key]
