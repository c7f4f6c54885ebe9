"""The process backend: run a job as a local process tree, isolated as far as this OS allows.

Per job: a fresh private working directory (mode 700; HOME and TMPDIR inside it) removed
afterwards; a scrubbed environment; and, where the machine allows (probed once per process,
gaps listed by `warnings()`):

- new PID, network and mount namespaces (`unshare`): the job's first process is the PID
  namespace's init, so when it ends or is killed every process the job started dies with it,
  setsid and double forks included; the job sees no network but loopback;
- every mount read-only except the working directory, and a private /dev/shm;
- home folders and secrets hidden (/root, /home, /etc/shadow, /etc/ssh, /run/secrets, the
  controller's working directory, the folders beside what the job reads: `sandbox._hide`);
  what the job needs (its Python, `SandboxJob.read_paths`) stays readable;
- an unprivileged user of its own when the controller is root: uid and gid 65534 (nobody), or
  those in EVOFORGE_SANDBOX_USER ("uid" or "uid:gid"); otherwise the controller's own user;
- no capabilities at all (bounding set emptied, no-new-privs), even when running as root;
- a memory cgroup (covers all of the job's processes; an OOM kill is reported as "memory")
  and a pids cgroup (the process limit; it counts threads too). Without a memory cgroup,
  RLIMIT_AS and RLIMIT_DATA per process stand in (not for GPU jobs: CUDA reserves huge address
  ranges); without a pids cgroup, RLIMIT_NPROC of the job's own user (so only as root). That
  limit counts every process and thread of the user, across all the jobs running at once, so
  it is `max_processes` times `jobs_at_once` (default: the number of CPUs): a torch process
  alone starts dozens of threads, and eight kernel jobs under a limit of 64 failed to
  initialise CUDA ("cudaGetDeviceCount ... OS call failed");
- RLIMIT_FSIZE (largest file) and RLIMIT_CORE 0; in the private mount namespace the working
  directory is a tmpfs of `limits.disk_mb`, which caps the total the job writes (and counts
  against its memory cgroup).

Output is read while the job runs, keeping at most `limits.output_bytes` of each stream (head
and tail); a job printing more than 50 times that is killed ("output"). The harness's result
comes back over the result channel (`sandbox.channel`); stdout and stderr are never parsed.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath

from sandbox._cgroup import JobCgroup
from sandbox._hide import mount_plan
from sandbox._jobuser import chown_tree, job_user, user_name
from sandbox._probe import Support, probe_support
from sandbox.base import SandboxJob, SandboxOutcome
from sandbox.channel import ENV_VAR, MAX_RESULT_BYTES
from sandbox.errors import SandboxError
from sandbox.gpus import job_device
from sandbox.started_job import StartedJob

_INIT = str(Path(__file__).with_name("_jobinit.py"))
_FLOOD_FACTOR = 50  # kill a job once it printed this many times its output cap
_EXIT_GRACE = 0.5  # seconds to wait for the pipes to close after the job's first process ended
_READ_CHUNK = 1 << 16
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TERM")
_FIXED_ENV = ("HOME", "TMPDIR", "CUDA_VISIBLE_DEVICES", ENV_VAR)


class ProcessSandbox:
    """Runs each job as a local process tree; thread-safe (one `run` per calling thread)."""

    name = "process"

    def __init__(self, *, python: str = sys.executable, user: tuple[int, int] | None = None,
                 hide: tuple[str, ...] = (), jobs_at_once: int | None = None) -> None:
        """`user`: (uid, gid) for jobs when running as root (default: `job_user()`); `hide`:
        paths to hide from jobs on top of `sandbox._hide`'s; `jobs_at_once`: how many jobs the
        user-wide process limit must hold (only without a pids cgroup; default: the CPUs)."""
        self._python = python
        self._jobs_at_once = max(1, jobs_at_once or os.cpu_count() or 1)
        self._user = tuple(user) if user is not None else job_user()
        self._hide = tuple(hide)
        self._active: set[_Run] = set()
        self._active_lock = threading.Lock()

    @property
    def support(self) -> Support:
        """What isolation this machine allows (probed on first use, once per process)."""
        return probe_support(self._python, _INIT, self._user)

    def warnings(self) -> list[str]:
        return list(self.support.warnings)

    def cancel_all(self) -> None:
        """Kill every job running now (their outcomes say killed_reason="cancelled")."""
        with self._active_lock:
            runs = list(self._active)
        for run in runs:
            run.cancel()

    def start(self, job: SandboxJob) -> StartedJob:
        """Start the job now; files delivered later appear, read-only, in the folder its
        environment names (`StartedJob.deliver`, sandbox/started_job.py)."""
        _check_job(job)
        return StartedJob(self.run, job)

    def run(self, job: SandboxJob) -> SandboxOutcome:
        _check_job(job)
        support = self.support
        workdir = Path(tempfile.mkdtemp(prefix="evoforge-job-")).resolve()
        cgroup = None
        try:
            _write_files(workdir, job.files)
            (workdir / "tmp").mkdir(exist_ok=True)
            if support.user is not None:
                chown_tree(workdir, *support.user)
            plan: dict = {}
            if support.readonly:
                owner = support.user or (os.geteuid(), os.getegid())
                try:
                    plan = mount_plan(job.read_paths, str(workdir), self._python, *owner, extra_hidden=self._hide)
                except ValueError as exc:
                    raise SandboxError(str(exc)) from None
            if support.hierarchies:
                limits = job.limits
                try:
                    cgroup = JobCgroup.create(
                        support.hierarchies,
                        limits.memory_mb if support.memory_cgroup else None,
                        limits.max_processes + 1 if support.pids_cgroup else None,  # + the init
                    )
                except OSError as exc:
                    raise SandboxError(f"cannot make the job's cgroup: {exc}") from None
            run = _Run(job, workdir, support, cgroup, self._python, plan, self._jobs_at_once)
            with self._active_lock:
                self._active.add(run)
            try:
                return run.execute()
            finally:
                with self._active_lock:
                    self._active.discard(run)
        finally:
            if cgroup is not None:
                cgroup.kill_all()
                cgroup.remove()
            _remove_tree(workdir)


def _check_job(job: SandboxJob) -> None:
    if not job.argv:
        raise ValueError("SandboxJob.argv is empty")
    for name in job.files:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"SandboxJob.files: {name!r} is not a relative path inside the job folder")
    for key in job.env:
        if key in _FIXED_ENV:
            raise ValueError(f"SandboxJob.env may not set {key}: the sandbox sets it")


def _remove_tree(path: Path) -> None:
    """Remove the job folder, even where the job took away the permissions to."""
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        for root, dirs, _files in os.walk(path):
            for name in dirs:
                full = os.path.join(root, name)
                if not os.path.islink(full):  # never chmod what a link points to
                    try:
                        os.chmod(full, 0o700)
                    except OSError:
                        pass
        os.chmod(path, 0o700)
        shutil.rmtree(path, ignore_errors=True)


def _write_files(workdir: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)


def _environment(job: SandboxJob, workdir: Path, result_fd: int, user: tuple[int, int] | None) -> dict[str, str]:
    env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    if user is not None:  # getpass.getuser() (torch's caches) must work for a uid /etc/passwd may lack
        env["USER"] = env["LOGNAME"] = user_name(user[0])
    env.update(job.env)
    env.update(
        HOME=str(workdir),
        TMPDIR=str(workdir / "tmp"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        CUDA_VISIBLE_DEVICES="" if job.gpu is None else job_device(job.gpu),
    )
    env[ENV_VAR] = str(result_fd)
    return env


class _Capture:
    """One output stream: keeps the first and last bytes within `cap`, counts the rest."""

    def __init__(self, cap: int) -> None:
        self._head_cap = cap // 2
        self._tail_cap = cap - self._head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self._head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * self._tail_cap:
                del self.tail[: len(self.tail) - self._tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > self._head_cap + self._tail_cap

    def text(self) -> str:
        tail = bytes(self.tail[-self._tail_cap :]) if self._tail_cap else b""
        dropped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {dropped} bytes dropped ...]\n".encode() if dropped > 0 else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", errors="replace")


class _Run:
    """One job from start to finish: start it, read its pipes until it ends, say how it ended."""

    def __init__(self, job: SandboxJob, workdir: Path, support: Support, cgroup: JobCgroup | None, python: str,
                 plan: dict, jobs_at_once: int = 1):
        self.job, self.workdir, self.support, self.cgroup, self.python = job, workdir, support, cgroup, python
        self.jobs_at_once = jobs_at_once  # jobs that share the user-wide RLIMIT_NPROC
        self.plan = plan  # what the job's mount namespace hides and shows (sandbox._hide)
        self.killed_reason: str | None = None
        self.result = bytearray()
        self.result_overflow = False
        self.status = bytearray()
        self.proc: subprocess.Popen | None = None
        self._cancelled = False

    def cancel(self) -> None:
        self._cancelled = True
        if self.proc is not None:
            self._kill(self.proc, "cancelled")

    def _argv(self, result_fd: int, status_fd: int, lifeline_fd: int) -> list[str]:
        limits, support = self.job.limits, self.support
        rlimits = {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": limits.disk_mb * 1024 * 1024}
        if not support.memory_cgroup and self.job.gpu is None:
            rlimits["RLIMIT_AS"] = rlimits["RLIMIT_DATA"] = limits.memory_mb * 1024 * 1024
        if not support.pids_cgroup and support.user is not None:  # counted per uid: only for a user of its own
            rlimits["RLIMIT_NPROC"] = limits.max_processes * self.jobs_at_once
        config = {
            "user": list(support.user) if support.user else None,
            **self.plan,
            "workdir": str(self.workdir),
            "status_fd": status_fd,
            "result_fd": result_fd,
            "lifeline_fd": lifeline_fd,
            "cgroups": self.cgroup.procs_files if self.cgroup else [],
            "readonly": support.readonly,
            "shm_mb": limits.disk_mb,
            "drop_caps": support.caps_dropped,
            "rlimits": rlimits,
        }
        return [*support.unshare, self.python, "-I", "-S", _INIT, json.dumps(config), *self.job.argv]

    def execute(self) -> SandboxOutcome:
        result_r, result_w = os.pipe()
        status_r, status_w = os.pipe()
        # We hold the lifeline's write end until the job is over; if this process dies, even by
        # SIGKILL, the job's init sees the pipe break and kills the job.
        lifeline_r, lifeline_w = os.pipe()
        start = time.monotonic()
        try:
            self.proc = proc = subprocess.Popen(
                self._argv(result_w, status_w, lifeline_r),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=_environment(self.job, self.workdir, result_w, self.support.user),
                cwd=self.workdir,
                pass_fds=(result_w, status_w, lifeline_r),
                start_new_session=True,
            )
        except OSError as exc:
            for fd in (result_r, status_r, lifeline_w):
                os.close(fd)
            raise SandboxError(f"cannot start the job: {exc}") from None
        finally:
            for fd in (result_w, status_w, lifeline_r):
                os.close(fd)
        if self._cancelled:
            self._kill(proc, "cancelled")
        out, err = _Capture(self.job.limits.output_bytes), _Capture(self.job.limits.output_bytes)
        try:
            self._pump(proc, {proc.stdout.fileno(): out, proc.stderr.fileno(): err, result_r: None, status_r: None},
                       start, result_r, status_r)
        finally:
            self._kill(proc)
            proc.wait()
            for f in (proc.stdout, proc.stderr):
                f.close()
            os.close(lifeline_w)
        seconds = time.monotonic() - start
        return self._outcome(proc.returncode, out, err, seconds)

    def _pump(self, proc: subprocess.Popen, fds: dict, start: float, result_r: int, status_r: int) -> None:
        """Read every pipe until all are closed; enforce the wall clock and the output flood limit."""
        limits = self.job.limits
        deadline = start + limits.wall_seconds
        flood = _FLOOD_FACTOR * limits.output_bytes
        sel = selectors.DefaultSelector()
        for fd in fds:
            sel.register(fd, selectors.EVENT_READ)
        pidfd = _pidfd(proc.pid)
        if pidfd is not None:
            sel.register(pidfd, selectors.EVENT_READ)
        exited_at: float | None = None
        give_up_at: float | None = None  # after a kill, stop waiting for stragglers holding pipes
        try:
            while len(sel.get_map()) > (pidfd is not None):
                now = time.monotonic()
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
                if self.killed_reason is None and now >= deadline:
                    self._kill(proc, "timeout")
                if self.killed_reason is not None and give_up_at is None:
                    give_up_at = now + 2.0  # killed (timeout, output, cancelled): drain, then stop
                elif exited_at is not None and give_up_at is None and now - exited_at > _EXIT_GRACE:
                    self._kill(proc)  # something outside the first process still holds a pipe
                    give_up_at = now + 1.0
                if give_up_at is not None and now >= give_up_at:
                    break
                wait = (give_up_at or deadline) - now
                if pidfd is None or exited_at is not None:
                    wait = min(wait, 0.05)  # nothing to wake us when the process ends: poll
                for key, _ in sel.select(max(wait, 0.0)):
                    fd = key.fd
                    if fd == pidfd:
                        sel.unregister(pidfd)
                        os.close(pidfd)
                        pidfd = None
                        continue
                    data = os.read(fd, _READ_CHUNK)
                    if not data:
                        sel.unregister(fd)
                        if fd in (result_r, status_r):
                            os.close(fd)
                        continue
                    self._feed(fd, data, fds, result_r, status_r)
                if self.killed_reason is None and sum(c.total for c in fds.values() if c) > flood:
                    self._kill(proc, "output")
        finally:
            for key in list(sel.get_map().values()):
                if key.fd in (result_r, status_r, pidfd):
                    os.close(key.fd)
            sel.close()

    def _feed(self, fd: int, data: bytes, fds: dict, result_r: int, status_r: int) -> None:
        if fd == result_r:
            if len(self.result) + len(data) > MAX_RESULT_BYTES:
                self.result_overflow = True
                self.result.clear()
            elif not self.result_overflow:
                self.result += data
        elif fd == status_r:
            if len(self.status) < 4096:
                self.status += data
        else:
            fds[fd].feed(data)

    def _kill(self, proc: subprocess.Popen, reason: str | None = None) -> None:
        """Kill the whole job: its process group (which holds the namespace's init) and cgroup."""
        if reason is not None and self.killed_reason is None:
            self.killed_reason = reason
        # Once the first process is reaped its pid may be reused: only the fallback without a
        # PID namespace (where the group may still hold stragglers) signals the group then.
        if proc.returncode is None or not self.support.pid_namespace:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.cgroup is not None:
            self.cgroup.kill_all(wait=0.5)

    def _ended(self, returncode: int) -> tuple[int | None, str | None]:
        """(exit code, reason it was killed) from the init's status line, else the return code."""
        report: dict = {}
        for line in bytes(self.status).decode("utf-8", "replace").splitlines():
            try:
                report.update(json.loads(line))
            except ValueError:
                pass
        if "setup_error" in report:
            raise SandboxError(f"the job's sandbox could not be set up: {report['setup_error']}")
        oom = self.cgroup is not None and self.cgroup.oom_killed()
        if "exit" in report:
            return int(report["exit"]), None
        if "signal" in report:
            sig = int(report["signal"])
            return None, "memory" if oom and sig == signal.SIGKILL else f"signal {sig}"
        # No status: the job's first process (its init) was killed before it could write one.
        if oom:
            return None, "memory"
        if returncode < 0:
            return None, f"signal {-returncode}"
        return None, f"lost: the job's first process ended without a status (exit status {returncode})"

    def _outcome(self, returncode: int, out: _Capture, err: _Capture, seconds: float) -> SandboxOutcome:
        stderr = err.text()
        if self.result_overflow:
            stderr += f"\n[sandbox: the result was over {MAX_RESULT_BYTES} bytes and was dropped]\n"
        if self.killed_reason is not None:
            exit_code, reason = None, self.killed_reason
        else:
            exit_code, reason = self._ended(returncode)
        return SandboxOutcome(
            exit_code=exit_code,
            result=bytes(self.result) or None,
            stdout=out.text(),
            stderr=stderr,
            timed_out=self.killed_reason == "timeout",
            killed_reason=reason,
            output_truncated=out.truncated or err.truncated,
            seconds=seconds,
            backend=ProcessSandbox.name,
        )


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
