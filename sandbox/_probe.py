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
from sandbox._hide import mount_plan

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
    user: tuple[int, int] | None = None  # (uid, gid) jobs run as; None: the controller's own
    hides: bool = False  # home folders and secrets covered (sandbox._hide)
    warnings: tuple[str, ...] = ()


_cache: dict[tuple, Support] = {}
_lock = threading.Lock()


def probe_support(python: str, init: str, user: tuple[int, int] | None = None) -> Support:
    """`user`: the (uid, gid) jobs should run as; only root can switch to it (None: own user)."""
    key = (python, init, user)
    with _lock:
        if key not in _cache:
            _cache[key] = _probe(python, init, user if os.geteuid() == 0 else None)
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


def _run_probe(prefix: tuple[str, ...], python: str, init: str, workdir: str,
               user: tuple[int, int] | None) -> dict | None:
    mount_ns = "--mount-proc" in prefix
    # Never ask for read-only mounts without a private mount namespace: that would be the host's.
    config = {"probe": True, "workdir": workdir, "readonly": mount_ns, "cgroups": [], "user": user}
    if mount_ns:
        config.update(mount_plan((), workdir, python, *(user or (os.geteuid(), os.getegid()))))
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


def _probe(python: str, init: str, user: tuple[int, int] | None) -> Support:
    warnings: list[str] = []
    workdir = tempfile.mkdtemp(prefix="evoforge-probe-")
    try:
        for prefix in _variants():
            report = _run_probe(prefix, python, init, os.path.realpath(workdir), user)
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
    hides = readonly and report.get("hidden") is True
    switched = user is not None and report.get("job_user") == list(user)
    if not pid_ns:
        warnings.append("process backend: no PID namespace here; processes a job leaves behind (setsid, "
                        "double fork) are killed only through its cgroup, if there is one")
    if not net_ns:
        warnings.append("process backend: no network namespace here; candidates can reach the network")
    if not readonly:
        warnings.append("process backend: no private read-only view of the file system here; "
                        "jobs can write wherever their user can, and read home folders and secrets")
    elif not hides:
        warnings.append(f"process backend: home folders and secrets cannot be hidden here ({report.get('hidden')}); "
                        "secrets on disk stay readable to jobs")
    elif mount_fails:
        warnings.append(f"process backend: {len(mount_fails)} mount(s) stay writable for jobs: "
                        + "; ".join(mount_fails[:3]))
    if not caps:
        warnings.append("process backend: cannot drop capabilities here; a candidate may reach the "
                        "harness's result channel and forge a result")
    if os.geteuid() != 0:
        warnings.append(f"process backend: not running as root, so jobs run as this user (uid {os.geteuid()}), "
                        "with no process limit of their own without a pids cgroup; files this user may read "
                        "outside the hidden folders, secrets on disk included, stay readable to them")
    elif not switched:
        reason = report.get("drop_error")
        warnings.append(f"process backend: jobs run as uid 0 (could not switch to {user}: {reason}); "
                        "files only root may read, secrets on disk included, stay readable to them")

    hierarchies = find_hierarchies()
    remove_stale_groups(hierarchies)
    memory = _cgroup_works(hierarchies, "memory")
    pids = _cgroup_works(hierarchies, "pids")
    if not memory:
        warnings.append("process backend: no writable memory cgroup; memory is limited per process "
                        "by RLIMIT_AS and RLIMIT_DATA only, and not at all for GPU jobs")
    if not pids and switched:
        warnings.append(f"process backend: no writable pids cgroup; the process limit is RLIMIT_NPROC of the "
                        f"jobs' user (uid {user[0]}): max_processes times the jobs that may run at once, "
                        f"shared by them (threads count too)")
    elif not pids:
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
        user=user if switched else None,
        hides=hides,
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
