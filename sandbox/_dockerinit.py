"""pid 1 of a Docker-sandbox container: run jobs one after another, reap, enforce limits, and
sign each verdict; between jobs, wipe every trace of the last one.

Run as `python -I -S /evoforge-init.py` (the container's only command; Docker's own init is not
used, see below). For each job it reads a header from stdin, 4 bytes of big-endian length then
JSON:

    {"key": hex, "argv": [...], "env": {...}, "files": {relative path: base64},
     "workdir": "/job", "wall_seconds": s, "flood_bytes": n, "rlimits": {"RLIMIT_FSIZE": n}}

It writes the files and forks the job with /dev/null as stdin, two pipes as stdout and stderr
and a third pipe named by EVOFORGE_RESULT_FD (the same result channel as in the process
backend: the harness takes it over with `open_result_channel`). Everything leaves on the
container's stdout as frames: one kind byte, 4 bytes of big-endian length, the payload. b"o"
and b"e" carry the job's output; the job's last frame, b"f", carries HMAC-SHA256(key, report)
followed by the JSON report

    {"status": {"exit": n} | {"signal": n} | {"killed": "timeout" | "output" | "lost"}
               | {"setup_error": s},
     "result": base64 or null, "result_overflow": bool, "oom": bool or null, "clean": bool}

Before the report goes out the container is wiped: every other process killed (kill -1 from
pid 1, until none is left), the scratch folders (/job, /tmp, /dev/shm, /dev/mqueue) emptied and
System V IPC objects removed. "clean" says whether that worked; the host reuses the container
for its next job only then. "oom" says whether the kernel killed a process of this job for
memory (from the container's memory cgroup), null where that cannot be read.

Why the verdict is unforgeable: each job's key arrives on stdin and lives only in this
process's memory (never in a file, the environment or an argv); the job starts after its header
was read; this process is pid 1 (no job can signal it) and non-dumpable (a job without
capabilities cannot open its /proc/1/fd/* or /proc/1/mem), and it is the only process holding
the container's stdin and stdout. Docker's `--init` (tini) is not used: it would hold them too,
dumpable.

The job ends when its first process ends (all it left behind is killed), when the wall clock
runs out, or when it printed more than `flood_bytes`. The host keeps stdin open as a lifeline:
end of file there means the sandbox's process is gone (or is done with this container), and
everything stops at once. Standard library only; never imported by the controller.
"""

import base64
import ctypes
import hashlib
import hmac
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time

MAX_HEADER = 256 << 20
MAX_RESULT = 8 << 20  # as sandbox.channel.MAX_RESULT_BYTES
DRAIN_SECONDS = 2.0  # after the job ended or was killed: how long to wait for the pipes to close
_PR_SET_DUMPABLE = 4


def _read_exactly(fd, size):
    data = bytearray()
    while len(data) < size:
        chunk = os.read(fd, min(size - len(data), 1 << 20))
        if not chunk:
            raise EOFError("stdin closed after %d of %d header bytes" % (len(data), size))
        data += chunk
    return bytes(data)


def read_header(fd=0):
    (size,) = struct.unpack(">I", _read_exactly(fd, 4))
    if size > MAX_HEADER:
        raise ValueError("header of %d bytes is too big" % size)
    return json.loads(_read_exactly(fd, size).decode("utf-8"))


def write_frame(kind, payload):
    data = memoryview(kind + struct.pack(">I", len(payload)) + payload)
    while data:
        data = data[os.write(1, data):]


def kill_all(job_pid):
    """Kill every process of the job: all but us when we are pid 1, else the job's group."""
    try:
        if os.getpid() == 1:
            os.kill(-1, signal.SIGKILL)
        else:
            os.killpg(job_pid, signal.SIGKILL)
    except OSError:
        pass


def write_files(workdir, files):
    root = os.path.realpath(workdir)
    for name, content in files.items():
        path = os.path.realpath(os.path.join(root, name))
        if not path.startswith(root + os.sep):
            raise ValueError("%r is outside the job folder" % name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(content))
    os.makedirs(os.path.join(root, "tmp"), exist_ok=True)


def _child(header, out_w, err_w, result_w):
    try:
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.set_inheritable(result_w, True)  # every other descriptor closes on exec
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # under memory pressure the job goes first, never this init
        except OSError:
            pass
        for name, value in header.get("rlimits", {}).items():
            resource.setrlimit(getattr(resource, name), (value, value))
        os.chdir(header["workdir"])
        env = dict(header["env"])
        env["EVOFORGE_RESULT_FD"] = str(result_w)
        argv = header["argv"]
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, ("evoforge sandbox: cannot run %s: %s\n" % (header["argv"][0], exc)).encode())
    except Exception as exc:  # noqa: BLE001 - reported like a failed exec
        os.write(2, ("evoforge sandbox: cannot start the job: %s\n" % exc).encode())
    os._exit(127)


class Job:
    """The running job: its pipes, the wall clock, the output budget and how it ended."""

    def __init__(self, header):
        self.header = header
        self.pid = None
        self.status = None  # wait status of the job's first process, once reaped
        self.killed = None  # "timeout" | "output"
        self.result = bytearray()
        self.result_overflow = False
        self.forwarded = 0

    def start(self):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.result_r, result_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            _child(self.header, out_w, err_w, result_w)
        for fd in (out_w, err_w, result_w):
            os.close(fd)
        self.streams = {out_r: b"o", err_r: b"e"}
        self.open = {out_r, err_r, self.result_r}

    def reap(self):
        """Reap every process that ended (we are pid 1: orphans come to us)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and self.status is None:
                self.status = status

    def kill(self, reason=None):
        if reason is not None and self.killed is None:
            self.killed = reason
        kill_all(self.pid)

    def on_data(self, fd, data):
        if fd == self.result_r:
            if len(self.result) + len(data) > MAX_RESULT:
                self.result_overflow = True
                self.result.clear()
            elif not self.result_overflow:
                self.result += data
            return
        write_frame(self.streams[fd], data)
        self.forwarded += len(data)
        if self.forwarded > self.header["flood_bytes"] and self.killed is None:
            self.kill("output")

    def pump(self, wakeup_r):
        """Forward output until the job ended and its pipes closed, or time is up."""
        deadline = time.monotonic() + float(self.header["wall_seconds"])
        give_up = None
        while True:
            now = time.monotonic()
            self.reap()
            if self.killed is None and now >= deadline:
                self.kill("timeout")
            if give_up is None and (self.status is not None or self.killed is not None):
                self.kill()  # the job's first process ended: nothing it left behind may stay
                give_up = now + DRAIN_SECONDS
            if give_up is not None and (not self.open or now >= give_up):
                break
            wait = max(0.0, (give_up or deadline) - now)
            ready, _, _ = select.select([*self.open, 0, wakeup_r], [], [], wait)
            for fd in ready:
                if fd == wakeup_r:
                    os.read(wakeup_r, 4096)
                elif fd == 0:  # the lifeline: the host went away (or broke the protocol)
                    self.kill()
                    os._exit(137)
                else:
                    data = os.read(fd, 1 << 16)
                    if data:
                        self.on_data(fd, data)
                    else:
                        self.open.discard(fd)
                        os.close(fd)
        for fd in self.open:  # stragglers that outlived the drain: nothing of this job stays open
            os.close(fd)
        self.open.clear()
        if self.status is None:
            self.kill()
            end = time.monotonic() + DRAIN_SECONDS
            while self.status is None and time.monotonic() < end:
                self.reap()
                time.sleep(0.01)

    def report(self):
        if self.killed is not None:
            status = {"killed": self.killed}
        elif self.status is None:
            status = {"killed": "lost"}
        elif os.WIFSIGNALED(self.status):
            status = {"signal": os.WTERMSIG(self.status)}
        else:
            status = {"exit": os.WEXITSTATUS(self.status)}
        result = base64.b64encode(bytes(self.result)).decode() if self.result else None
        return {"status": status, "result": result, "result_overflow": self.result_overflow}


def kill_leftovers(seconds=DRAIN_SECONDS):
    """Kill and reap every process but this one; True once none is left (only as pid 1)."""
    if os.getpid() != 1:
        return False
    end = time.monotonic() + seconds
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not [p for p in os.listdir("/proc") if p.isdigit() and int(p) != 1]:
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.005)


def _mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def empty_folder(path, keep):
    """Remove everything in `path` but mount points and their parents (`keep`); True if done."""
    try:
        entries = os.listdir(path)
    except OSError:
        return not os.path.exists(path)
    for name in entries:
        full = os.path.join(path, name)
        if full in keep:
            continue
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                os.chmod(full, 0o700)  # a job may have taken its own rights away
                for root, dirs, _files in os.walk(full):
                    for d in dirs:
                        if not os.path.islink(os.path.join(root, d)):
                            os.chmod(os.path.join(root, d), 0o700)
                shutil.rmtree(full)
            else:
                os.unlink(full)
        except OSError:
            pass
    return all(os.path.join(path, name) in keep for name in os.listdir(path))


def remove_ipc():
    """Remove every System V shared memory segment, message queue and semaphore set."""
    libc = ctypes.CDLL(None, use_errno=True)
    calls = {"shm": lambda i: libc.shmctl(i, 0, None), "msg": lambda i: libc.msgctl(i, 0, None),
             "sem": lambda i: libc.semctl(i, 0, 0)}  # 0: IPC_RMID
    left = 0
    for kind, remove in calls.items():
        for _ in range(2):
            try:
                with open("/proc/sysvipc/" + kind) as f:
                    ids = [int(line.split()[1]) for line in f.readlines()[1:] if line.strip()]
            except (OSError, ValueError, IndexError):
                ids = []
            for ident in ids:
                remove(ident)
        left += len(ids)
    return left == 0


def wipe(workdir):
    """Leave nothing of the last job: processes, files, IPC. True when all of it went."""
    clean = kill_leftovers()
    keep = set()
    for point in _mount_points():
        while point not in ("/", ""):
            keep.add(point)
            point = os.path.dirname(point)
    for folder in (workdir, "/tmp", "/dev/shm", "/dev/mqueue"):
        if os.path.isdir(folder):
            clean = empty_folder(folder, keep) and clean
    return remove_ipc() and clean


def oom_kills():
    """How many processes the kernel killed for memory in this container; None if unknown."""
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def send_report(key, report):
    payload = json.dumps(report, separators=(",", ":")).encode()
    write_frame(b"f", hmac.new(key, payload, hashlib.sha256).digest() + payload)


def serve(header, key, wakeup_r):
    """Run one job and send its signed report; False when the container is no longer clean."""
    workdir = header["workdir"]
    oom_before = oom_kills()
    try:
        write_files(workdir, header.get("files", {}))
    except (OSError, ValueError) as exc:
        clean = wipe(workdir)
        send_report(key, {"status": {"setup_error": "cannot write the job's files: %s" % exc},
                          "result": None, "result_overflow": False, "oom": None, "clean": clean})
        return clean
    job = Job(header)
    job.start()
    job.pump(wakeup_r)
    report = job.report()
    report["clean"] = wipe(workdir)
    oom_after = oom_kills()
    report["oom"] = None if oom_before is None or oom_after is None else oom_after > oom_before
    send_report(key, report)
    return report["clean"]


def main():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    wakeup_r, wakeup_w = os.pipe()
    os.set_blocking(wakeup_w, False)
    signal.set_wakeup_fd(wakeup_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select when any process ends
    while True:
        try:
            header = read_header()
            key = bytes.fromhex(header.pop("key"))
        except EOFError:  # the host is done with this container (or gone)
            kill_leftovers()
            return 0
        except (ValueError, KeyError, OSError) as exc:
            os.write(2, ("evoforge sandbox init: no valid header: %s\n" % exc).encode())
            kill_leftovers()
            return 125
        try:
            serve(header, key, wakeup_r)
        except OSError:  # our stdout is gone: nobody reads verdicts any more
            kill_leftovers()
            return 137


if __name__ == "__main__":
    sys.exit(main())
