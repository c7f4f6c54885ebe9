"""Find out once per process which isolation the process backend can give on this machine.

Cheap: the namespaces are tried with one short subprocess (a fallback variant only when the
first fails), the cgroups by making and removing an empty group. The answer is cached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field

from sandbox._cgroup import JobCgroup, _Hierarchy, find_hierarchies, remove_stale_groups

_NS_FLAGS = ("--pid", "--fork", "--kill-child", "--mount-proc")


@dataclass(frozen=True)
class Support:
    unshare: tuple[str, ...] = ()  # argv prefix that enters the namespaces; () for none
    pid_namespace: bool = False
    net_namespace: bool = False
    readonly: bool = False  # mounts made read-only in a private mount namespace
    caps_dropped: bool = False
    hierarchies: dict[str, _Hierarchy] = field(default_factory=dict)
    memory_cgroup: bool = False
    pids_cgroup: bool = False
    warnings: tuple[str, ...] = ()


_cache: dict[tuple[str, str], Support] = {}
_lock = threading.Lock()


def probe_support(python: str, init: str) -> Support:
    key = (python, init)
    with _lock:
        if key not in _cache:
            _cache[key] = _probe(python, init)
        return _cache[key]


def _variants() -> list[tuple[str, ...]]:
    unshare = shutil.which("unshare")
    if unshare is None:
        return [()]
    user = ("--user", "--map-root-user") if os.geteuid() != 0 else ()
    return [
        (unshare, *user, "--net", *_NS_FLAGS),
        (unshare, *user, *_NS_FLAGS),
        (unshare, *user, "--net"),
        (),
    ]


def _run_probe(prefix: tuple[str, ...], python: str, init: str, workdir: str) -> dict | None:
    mount_ns = "--mount-proc" in prefix
    # Never ask for read-only mounts without a private mount namespace: that would be the host's.
    config = {"probe": True, "workdir": workdir, "readonly": mount_ns, "cgroups": []}
    argv = [*prefix, python, "-I", "-S", init, json.dumps(config)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL, cwd=workdir)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    try:
        return json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def _probe(python: str, init: str) -> Support:
    warnings: list[str] = []
    workdir = tempfile.mkdtemp(prefix="evoforge-probe-")
    try:
        for prefix in _variants():
            report = _run_probe(prefix, python, init, os.path.realpath(workdir))
            if report is not None:
                break
        else:
            prefix, report = (), {}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    pid_ns = bool(report.get("pid1")) and "--pid" in prefix
    net_ns = "--net" in prefix and report.get("interfaces") is not None and set(report["interfaces"]) <= {"lo"}
    mount_fails = report.get("readonly") or []
    readonly = "--mount-proc" in prefix and bool(report.get("write_blocked"))
    caps = report.get("caps_dropped") is True
    if not pid_ns:
        warnings.append("process backend: no PID namespace here; processes a job leaves behind (setsid, "
                        "double fork) are killed only through its cgroup, if there is one")
    if not net_ns:
        warnings.append("process backend: no network namespace here; candidates can reach the network")
    if not readonly:
        warnings.append("process backend: no private read-only view of the file system here; "
                        "jobs can write wherever their user can")
    elif mount_fails:
        warnings.append(f"process backend: {len(mount_fails)} mount(s) stay writable for jobs: "
                        + "; ".join(mount_fails[:3]))
    if not caps:
        warnings.append("process backend: cannot drop capabilities here; a candidate may reach the "
                        "harness's result channel and forge a result")
    if os.geteuid() == 0 or report.get("uid") == 0:
        warnings.append("process backend: jobs run as uid 0 (without capabilities where dropped); "
                        "files only root may read, secrets on disk included, stay readable to them")

    hierarchies = find_hierarchies()
    remove_stale_groups(hierarchies)
    memory = _cgroup_works(hierarchies, "memory")
    pids = _cgroup_works(hierarchies, "pids")
    if not memory:
        warnings.append("process backend: no writable memory cgroup; memory is limited per process "
                        "by RLIMIT_AS only, and not at all for GPU jobs")
    if not pids:
        warnings.append("process backend: no writable pids cgroup; the number of processes a job "
                        "starts is not limited")
    usable = {k: v for k, v in hierarchies.items() if (k == "memory" and memory) or (k == "pids" and pids)}
    return Support(
        unshare=tuple(prefix),
        pid_namespace=pid_ns,
        net_namespace=net_ns,
        readonly=readonly,
        caps_dropped=caps,
        hierarchies=usable,
        memory_cgroup=memory,
        pids_cgroup=pids,
        warnings=tuple(warnings),
    )


def _cgroup_works(hierarchies: dict[str, _Hierarchy], controller: str) -> bool:
    if controller not in hierarchies:
        return False
    limits = {"memory_mb": 64, "max_pids": None} if controller == "memory" else {"memory_mb": None, "max_pids": 8}
    try:
        group = JobCgroup.create({controller: hierarchies[controller]}, **limits)
    except OSError:
        return False
    group.remove()
    return True
