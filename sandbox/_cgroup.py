"""Per-job control groups for the process backend: a memory limit and a process limit.

Works with cgroup v1 (one hierarchy per controller) and v2 (one unified hierarchy, where our
own cgroup must delegate the controllers). Each job gets a fresh group below the controller
process's own group, named `evoforge-<pid>-<n>`; the job's first process joins it itself (so
nothing it starts escapes), and the group is emptied and removed when the job ends.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_counter = itertools.count(1)
_counter_lock = threading.Lock()


@dataclass(frozen=True)
class _Hierarchy:
    version: int  # 1 or 2
    parent: Path  # our own group; job groups are made below it


def _own_groups() -> dict[str, tuple[int, str]]:
    """controller ("memory", "pids", or "" for v2) -> (version, path of our group)."""
    groups: dict[str, tuple[int, str]] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and controllers == "":
            groups[""] = (2, path)
        for name in controllers.split(","):
            if name in ("memory", "pids"):
                groups[name] = (1, path)
    return groups


def _mount_points() -> dict[str, Path]:
    """controller ("memory", "pids", or "" for the v2 hierarchy) -> where it is mounted."""
    points: dict[str, Path] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return points
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, tail_fields = head.split(), tail.split()
        if len(fields) < 5 or len(tail_fields) < 3 or fields[3] != "/":
            continue
        fstype, options = tail_fields[0], tail_fields[2].split(",")
        if fstype == "cgroup2":
            points.setdefault("", Path(fields[4]))
        elif fstype == "cgroup":
            for name in ("memory", "pids"):
                if name in options:
                    points.setdefault(name, Path(fields[4]))
    return points


def find_hierarchies() -> dict[str, _Hierarchy]:
    """Where memory and pids job groups could be made: {"memory": ..., "pids": ...}, as found."""
    groups, points = _own_groups(), _mount_points()
    found: dict[str, _Hierarchy] = {}
    for name in ("memory", "pids"):
        if name in groups and name in points:
            found[name] = _Hierarchy(1, points[name] / groups[name][1].lstrip("/"))
        elif "" in groups and "" in points:
            found[name] = _Hierarchy(2, points[""] / groups[""][1].lstrip("/"))
    return found


def remove_stale_groups(hierarchies: dict[str, _Hierarchy]) -> list[Path]:
    """Remove empty job groups left by sandbox processes that died (e.g. killed by SIGKILL)."""
    removed = []
    for h in {h.parent: h for h in hierarchies.values()}.values():
        try:
            entries = list(h.parent.glob("evoforge-*-*"))
        except OSError:
            continue
        for path in entries:
            owner = path.name.split("-")[1]
            if not owner.isdigit() or int(owner) == os.getpid() or Path(f"/proc/{owner}").exists():
                continue
            try:
                path.rmdir()  # fails, harmlessly, while the group still holds processes
                removed.append(path)
            except OSError:
                pass
    return removed


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class JobCgroup:
    """The groups of one job. `procs_files` are what the job's first process writes itself into."""

    def __init__(self, dirs: dict[str, tuple[int, Path]]) -> None:
        self._dirs = dirs  # controller -> (version, directory)

    @classmethod
    def create(cls, hierarchies: dict[str, _Hierarchy], memory_mb: int | None, max_pids: int | None) -> JobCgroup:
        """Make the groups and set the limits; raises OSError (the half-made groups removed)."""
        with _counter_lock:
            name = f"evoforge-{os.getpid()}-{next(_counter)}"
        made: dict[str, tuple[int, Path]] = {}
        job = cls(made)
        try:
            for controller, limit in (("memory", memory_mb), ("pids", max_pids)):
                h = hierarchies.get(controller)
                if h is None or limit is None:
                    continue
                path = h.parent / name
                if not any(d == path for _, d in made.values()):
                    path.mkdir(mode=0o755)
                made[controller] = (h.version, path)
                if controller == "memory":
                    job._set_memory(h.version, path, limit)
                else:
                    _write(path / "pids.max", str(limit))
        except OSError:
            job.remove()
            raise
        return job

    @staticmethod
    def _set_memory(version: int, path: Path, mb: int) -> None:
        limit = str(mb * 1024 * 1024)
        if version == 1:
            _write(path / "memory.limit_in_bytes", limit)
            try:
                _write(path / "memory.memsw.limit_in_bytes", limit)  # no swapping past the limit
            except OSError:
                pass
        else:
            _write(path / "memory.max", limit)
            try:
                _write(path / "memory.swap.max", "0")
            except OSError:
                pass

    @property
    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for _, d in self._dirs.values()})

    def oom_killed(self) -> bool:
        """True when the kernel killed a process of this job for going over the memory limit."""
        entry = self._dirs.get("memory")
        if entry is None:
            return False
        version, path = entry
        name = "memory.oom_control" if version == 1 else "memory.events"
        try:
            for line in (path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
            if version == 1:
                return int((path / "memory.failcnt").read_text()) > 0 and self._at_limit(path)
        except (OSError, ValueError):
            pass
        return False

    @staticmethod
    def _at_limit(path: Path) -> bool:
        used = int((path / "memory.max_usage_in_bytes").read_text())
        limit = int((path / "memory.limit_in_bytes").read_text())
        return used >= limit - 4 * 1024 * 1024

    def pids(self) -> set[int]:
        found: set[int] = set()
        for _, path in self._dirs.values():
            try:
                found.update(int(p) for p in (path / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return found

    def kill_all(self, wait: float = 2.0) -> bool:
        """SIGKILL every process in the groups, until they are empty or `wait` seconds pass."""
        end = time.monotonic() + wait
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if time.monotonic() >= end:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        """Remove the (emptied) groups; a group still busy after a short wait is left behind."""
        for _, path in self._dirs.values():
            for _attempt in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
