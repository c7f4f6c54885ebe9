"""The first process of a process-sandbox job: set up isolation, run the job, report how it ended.

Run by the process backend as `python -I -S _jobinit.py CONFIG_JSON ARGV...`, usually as pid 1
of a fresh PID, network and mount namespace (made by `unshare`). In order it: joins the job's
cgroups, puts the working directory on a tmpfs owned by the job's user, covers home folders
and secrets (the plan comes from `sandbox._hide`), makes every mount but the working directory
read-only and gives the job a private /dev/shm, then forks the job, which sets its resource
limits, drops every capability (bounding, inheritable, ambient; no-new-privs), becomes the
job's unprivileged user where one is given, and execs the argv. It reaps every process
that ends (it is the namespace's init) until the job itself ends, writes one JSON line saying
how (`{"exit": N}` or `{"signal": N}`) to the status descriptor, and exits; when pid 1 of a
PID namespace exits, the kernel kills whatever the job left behind. If the lifeline pipe
breaks (the sandbox's process died, even by SIGKILL), it kills the job at once.

With `"probe": true` it does the setup without a job and prints what took effect as JSON.
Standard library only; never imported by the controller.
"""

import ctypes
import json
import os
import re
import resource
import select
import signal
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
_OPTION_FLAGS = {
    "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME,
}
_KEEP_WRITABLE = ("/proc", "/dev/pts", "/dev/shm")
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4

_libc = ctypes.CDLL(None, use_errno=True)


def _errno_text() -> str:
    return os.strerror(ctypes.get_errno())


def join_cgroups(procs_files):
    for path in procs_files:
        with open(path, "w") as f:
            f.write("0")  # 0: the writing process


def _mounts():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            out.append((point, fields[5].split(",")))
    return out


def _read_tree(root):
    """{relative path: bytes or None for a folder} of everything below `root`."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                found[os.path.relpath(os.path.join(folder, name), root)] = f.read()
    return found


def scratch_on_tmpfs(workdir, size_mb, owner=None):
    """Put the working directory on a tmpfs of `size_mb` (its files copied over, owned by
    `owner` (uid, gid) if given): the job may not write more than that in total, and what it
    writes counts against its memory cgroup. Returns False (nothing changed) where the tmpfs
    cannot be mounted."""
    content = _read_tree(workdir)
    options = "mode=700,size=%dm" % size_mb
    if owner is not None:
        options += ",uid=%d,gid=%d" % tuple(owner)
    if _libc.mount(b"tmpfs", workdir.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()) != 0:
        return False
    for name, value in sorted(content.items()):
        path = os.path.join(workdir, name)
        if value is None:
            os.makedirs(path, exist_ok=True)
        else:
            with open(path, "wb") as f:
                f.write(value)
        if owner is not None:
            os.chown(path, *owner)
    return True


def _inside(path, folder):
    return path.startswith(folder.rstrip("/") + "/")


def hide(covers, exposes):
    """Cover each path of `covers` (deepest first; a folder with an empty tmpfs, a file with
    /dev/null), then bind each of `exposes` that a cover hid back at its place. Returns failures."""
    failures, held = [], {}
    for path, is_dir in covers:
        for e in exposes:  # grab what must stay reachable before it is covered
            if e not in held and _inside(e, path):
                held[e] = os.open(e, os.O_PATH | os.O_CLOEXEC)
        if is_dir:
            ok = _libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=755,size=1m") == 0
        else:
            ok = _libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None) == 0
        if not ok:
            failures.append("cover %s: %s" % (path, _errno_text()))
    for e in sorted(held, key=lambda p: p.count("/")):
        fd = held.pop(e)
        try:
            if not os.path.lexists(e):  # make its mount point inside the cover
                os.makedirs(os.path.dirname(e), mode=0o755, exist_ok=True)
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.mkdir(e, 0o755)
                else:
                    os.close(os.open(e, os.O_WRONLY | os.O_CREAT, 0o644))
            source = ("/proc/self/fd/%d" % fd).encode()
            if _libc.mount(source, e.encode(), None, MS_BIND | MS_REC, None) != 0:
                failures.append("expose %s: %s" % (e, _errno_text()))
        except OSError as exc:
            failures.append("expose %s: %s" % (e, exc))
        finally:
            os.close(fd)
    return failures


def make_read_only(workdir, shm_mb, owner=None, covers=(), exposes=()):
    """Everything read-only but the working directory (a tmpfs of `shm_mb` where possible,
    owned by `owner`); `covers` hidden but `exposes` (see `hide`); a private /dev/shm.
    Returns failures; raises OSError where hiding failed (the job must not run then)."""
    failures = []
    wd = workdir.encode()
    if not scratch_on_tmpfs(workdir, shm_mb, owner) and _libc.mount(wd, wd, None, MS_BIND | MS_REC, None) != 0:
        return ["bind %s: %s" % (workdir, _errno_text())]
    os.umask(0o022)
    hidden = hide(covers, exposes)
    if hidden:
        raise OSError("cannot hide host files: " + "; ".join(hidden[:3]))
    snapshot = _mounts()
    shadowed = [c for c, is_dir in covers if is_dir]
    for point, options in snapshot:
        if "ro" in options or point == workdir or point.startswith(_KEEP_WRITABLE):
            continue
        if any(_inside(point, c) for c in shadowed) and not any(point == e or _inside(point, e) for e in exposes):
            continue  # under a cover: out of the job's reach
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in options:
            flags |= _OPTION_FLAGS.get(opt, 0)
        if _libc.mount(None, point.encode(), None, flags, None) != 0:
            failures.append("%s: %s" % (point, _errno_text()))
    if os.path.isdir("/dev/shm"):
        data = ("mode=1777,size=%dm" % shm_mb).encode()
        if _libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, data) != 0:
            failures.append("/dev/shm: %s" % _errno_text())
    return failures


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def switch_user(user):
    """Become `user` (uid, gid), with no supplementary groups; raises OSError."""
    uid, gid = user
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def drop_capabilities(user=None):
    """Empty every capability set of this process (becoming `user` (uid, gid) on the way, if
    given) and forbid gaining any back; raises OSError."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            raise OSError(ctypes.get_errno(), "cannot drop capability %d: %s" % (cap, _errno_text()))
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    failed = None
    if user:
        try:
            switch_user(user)
        except OSError as exc:
            failed = exc  # the capabilities go all the same; then say so
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset: " + _errno_text())
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "no_new_privs: " + _errno_text())
    if failed is not None:
        raise OSError(failed.errno, "cannot become uid %d: %s" % (user[0], failed.strerror))


def _capability_sets():
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, _, v in (ln.partition(":") for ln in f) if k.startswith("Cap")}


def probe(config):
    report = {"pid1": os.getpid() == 1, "uid": os.getuid()}
    try:
        join_cgroups(config.get("cgroups", ()))
        report["cgroups"] = True
    except OSError as exc:
        report["cgroups"] = str(exc)
    user = config.get("user")
    if config.get("readonly"):
        try:
            report["readonly"] = make_read_only(config["workdir"], 1, user, config.get("covers", ()),
                                                config.get("exposes", ()))
            report["hidden"] = True
        except OSError as exc:
            report["readonly"], report["hidden"] = [], str(exc)
    else:
        report["readonly"] = ["not asked"]
    report["write_blocked"] = not os.access("/", os.W_OK)
    try:
        drop_capabilities(user)
    except OSError as exc:
        report["drop_error"] = str(exc)
    report["caps_dropped"] = all(int(v, 16) == 0 for v in _capability_sets().values()) or report.get("drop_error")
    report["job_user"] = [os.getuid(), os.getgid()]
    try:
        with open("/proc/net/dev") as f:
            report["interfaces"] = [ln.split(":")[0].strip() for ln in f.readlines()[2:]]
    except OSError:
        report["interfaces"] = None
    print(json.dumps(report), flush=True)


def _child(config, argv):
    status_fd, user = config["status_fd"], config.get("user")
    try:
        for name, value in config.get("rlimits", {}).items():
            resource.setrlimit(getattr(resource, name), (value, value))
        if config.get("drop_caps"):
            drop_capabilities(user)
        elif user:
            switch_user(user)
    except (OSError, ValueError) as exc:
        os.write(status_fd, (json.dumps({"setup_error": "limits or user: %s" % exc}) + "\n").encode())
        os._exit(125)
    os.close(status_fd)
    try:
        os.chdir(config["workdir"])
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, ("evoforge sandbox: cannot run %s: %s\n" % (argv[0], exc)).encode())
    os._exit(127)


def wait_for(pid, lifeline):
    """The job's wait status; reaps orphans meanwhile. Ends everything if the lifeline breaks."""
    try:
        pidfd = os.pidfd_open(pid) if lifeline is not None else None
    except (AttributeError, OSError):
        pidfd = None
    while True:
        while True:  # reap whatever ended: the job, or orphans handed to us as the init
            try:
                done, status = os.waitpid(-1, os.WNOHANG if pidfd is not None else 0)
            except ChildProcessError:
                return None
            except InterruptedError:
                continue
            if done == pid:
                return status
            if done == 0:
                break
        ready, _, _ = select.select([pidfd, lifeline], [], [], 1.0)
        if lifeline in ready:  # the sandbox's process is gone: nobody will read the result
            os.killpg(0, signal.SIGKILL)  # this group holds the job (and, as pid 1, its namespace)
            os._exit(137)


def main():
    config = json.loads(sys.argv[1])
    argv = sys.argv[2:]
    if config.get("probe"):
        probe(config)
        return 0
    status_fd = config["status_fd"]
    for fd in (status_fd, config.get("lifeline_fd")):
        if fd is not None:
            os.set_inheritable(fd, False)  # the job gets neither
    try:
        join_cgroups(config.get("cgroups", ()))
        if config.get("readonly"):
            make_read_only(config["workdir"], config.get("shm_mb", 64), config.get("user"),
                           config.get("covers", ()), config.get("exposes", ()))
    except OSError as exc:
        os.write(status_fd, (json.dumps({"setup_error": str(exc)}) + "\n").encode())
        return 125
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the job may not open /proc/<init>/fd/<status>
    pid = os.fork()  # (exec makes the job dumpable again)
    if pid == 0:
        _child(config, argv)
    result_fd = config.get("result_fd")
    if result_fd is not None:
        os.close(result_fd)  # only the job holds the write end now
    status = wait_for(pid, config.get("lifeline_fd"))
    if status is None:
        return 125
    if os.WIFSIGNALED(status):
        report, code = {"signal": os.WTERMSIG(status)}, 128 + os.WTERMSIG(status)
    else:
        report, code = {"exit": os.WEXITSTATUS(status)}, os.WEXITSTATUS(status)
    os.write(status_fd, (json.dumps(report) + "\n").encode())
    return code


if __name__ == "__main__":
    sys.exit(main())
