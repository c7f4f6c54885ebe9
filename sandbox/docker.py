"""The Docker backend: jobs in containers that show them nothing of one another.

Containers are started detached and attached to, and always removed (by us, or by the daemon
once they stop, so a crashed controller leaves none running). By default a container serves
one job after another for as long as its jobs end cleanly (`reuse`): between two jobs its init
kills every process, empties every writable folder and removes IPC objects, and each job gets
a fresh key; a job that was killed from here, or after which the container could not be
wiped, ends the container. bench/results/sandbox.md has the measurements behind this. Every
container has:

- no network at all (`network_mode: none`: a private loopback, nothing else);
- a read-only root file system; a writable, executable scratch folder /job (a tmpfs of
  `limits.disk_mb`, owned by the job's user, HOME and TMPDIR inside it), a private /tmp and
  /dev/shm of the same size; every tmpfs page counts against the memory limit;
- every capability dropped, no-new-privileges, a non-root user (the controller's own uid, or
  nobody when the controller is root); pid 1 is evoforge's init (`sandbox._dockerinit`), which
  reaps orphans and kills everything the job left behind when it ends;
- memory with swap equal to it (no swapping), a process limit (threads count), a CPU quota,
  core dumps off, the largest file `limits.disk_mb`; output capped and a flood killed;
- a wall clock enforced inside by the init and from here (kill, then remove);
- labels naming the owning process, so containers of a controller that died are removed when
  the next sandbox starts; the host's death also ends the job at once (the stdin lifeline) and
  the daemon then removes the container;
- a GPU job sees its one GPU and no other (a device request for what `sandbox.gpus.job_device`
  names; CUDA_VISIBLE_DEVICES=0 inside). Sharing it with other jobs is the job's: it takes
  that GPU's lock file from `sandbox.gpus` (and its gate), which must then be among its
  `read_paths`; they are readable to any user, and flock works on a read-only mount;
- only what the job needs is mounted, read-only: the host runtime in local-image mode (see
  `sandbox._docker_image`), the init, and `SandboxJob.read_paths`. The environment holds no
  secret; the result is signed by the init with a key that only it ever sees (see there).

When the daemon itself fails (it stops answering, or answers a server error) `run` raises
`SandboxUnavailable` with one line, also for a job whose container was lost with it: that job
was not judged. Any other failure of ours to run a job is a one-line `SandboxError`.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import socket
import stat
import struct
import sys
import threading
from pathlib import Path

from sandbox._docker_daemon import connect, daemon_errors, ping_reason, stopped_answering, unavailable
from sandbox._docker_image import container_user, ensure_local_image, outermost, runtime_paths
from sandbox._docker_run import FLOOD_FACTOR, Container, ContainerRun
from sandbox.base import Limits, SandboxError, SandboxJob, SandboxOutcome, SandboxUnavailable
from sandbox.gpus import job_device
from sandbox.process import _check_job

__all__ = ["DockerSandbox", "connect", "owner_label", "remove_orphans"]

LABEL = "evoforge.sandbox"
OWNER_LABEL = "evoforge.owner"
WORKDIR = "/job"
INIT_PATH = "/evoforge-init.py"
_INIT_SOURCE = str(Path(__file__).with_name("_dockerinit.py"))
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TERM")
_IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_IDLE = 16  # idle containers kept for reuse, per sandbox


class DockerSandbox:
    """Runs jobs in containers (reused while clean, see the module's docstring); thread-safe (one
    `run` per calling thread)."""

    name = "docker"

    def __init__(self, *, image: str | None = None, image_python: str = "python3", cpus: float | None = None,
                 reuse: bool = True, api=None, python: str = sys.executable) -> None:
        self._image = image
        self._reuse = reuse
        self._image_python = image_python
        self._cpus = cpus
        self._api = api
        self._ping_api = api  # None: pings go through a fresh client with a short timeout
        self._python = python
        self._user = container_user()
        self._tag: str | None = None
        self._warnings: list[str] = []
        self._ready_lock = threading.Lock()
        self._active: set[ContainerRun] = set()
        self._idle: list[Container] = []
        self._cancels = 0  # how many times cancel_all ran: a job starting meanwhile is cancelled too
        self._active_lock = threading.Lock()

    @property
    def description(self) -> str:
        if self._image:
            return f"docker (image {self._image})"
        tag = self._tag or "evoforge-local"
        return f"docker (image {tag}: this machine's Python and environment mounted read-only)"

    def warnings(self) -> list[str]:
        self._ready()
        return list(self._warnings)

    def check(self) -> None:
        """Connect, make the image, remove orphans and run one trivial job; raises SandboxError."""
        self._ready()
        python = self._python if not self._image else self._image_python
        outcome = self.run(SandboxJob(argv=(python, "-c", "pass"), limits=Limits(wall_seconds=60)))
        if outcome.exit_code != 0:
            detail = (outcome.stderr.strip().splitlines() or [outcome.killed_reason or "no output"])[-1]
            raise SandboxError(f"a test container did not run: {detail}")

    def cancel_all(self) -> None:
        """Kill every job running now (their outcomes say killed_reason="cancelled") and remove
        the idle containers; the sandbox stays usable."""
        with self._active_lock:
            runs, idle, self._idle = list(self._active), self._idle, []
            self._cancels += 1
        for run in runs:
            run.cancel()
        for container in idle:
            container.close()

    def run(self, job: SandboxJob) -> SandboxOutcome:
        _check_job(job)
        mounts = self._mounts(job)
        try:
            outcome = self._run(job, mounts)
        except SandboxUnavailable:
            raise
        except SandboxError as exc:  # the daemon going away shows first as one of ours
            reason = ping_reason(self._ping_api)
            raise (stopped_answering(reason) if reason is not None else exc) from None
        except daemon_errors() as exc:
            raise unavailable(exc, "Docker", self._ping_api) from None
        if (outcome.killed_reason or "").startswith("lost"):  # the container went with the daemon?
            reason = ping_reason(self._ping_api)
            if reason is not None:
                raise stopped_answering(reason)
        return outcome

    def _run(self, job: SandboxJob, mounts: list[str]) -> SandboxOutcome:
        self._ready()
        cancels = self._cancels
        container = self._container(job, mounts)
        run = ContainerRun(container, job)
        with self._active_lock:
            self._active.add(run)
            cancelled = self._cancels != cancels
        if cancelled:
            run.cancel()
        reuse = False
        try:
            key = secrets.token_bytes(32)
            outcome = run.execute(self._header(job, key), key)
            reuse = self._reuse and run.reusable
            return outcome
        finally:
            with self._active_lock:
                self._active.discard(run)
                if reuse and len(self._idle) < _MAX_IDLE:
                    self._idle.append(container)
                    container = None
            if container is not None:
                container.close()

    def _container(self, job: SandboxJob, mounts: list[str]) -> Container:
        """An idle container made for the same limits, mounts and GPU, or a new one."""
        limits = job.limits
        settings = (limits.memory_mb, limits.max_processes, limits.disk_mb, job.gpu, tuple(mounts))
        with self._active_lock:
            for index, container in enumerate(self._idle):
                if container.settings == settings:
                    return self._idle.pop(index)
        container_id = self._create(job, mounts)
        try:
            return Container(self._api, container_id, settings)
        except daemon_errors() as exc:
            try:
                self._api.remove_container(container_id, force=True)
            except daemon_errors():
                pass  # left for remove_orphans at the next start
            raise unavailable(exc, "cannot start the job's container", self._ping_api) from None

    def _ready(self) -> None:
        """Once: connect, make the local image, remove containers of dead controllers."""
        import docker.errors

        with self._ready_lock:
            if self._tag is not None:
                return
            try:
                if self._api is None:
                    self._api = connect()
                info = self._api.info()
                tag = self._image or ensure_local_image(self._api, *self._user)
                if self._image:
                    self._api.inspect_image(tag)
                remove_orphans(self._api)
            except docker.errors.ImageNotFound:
                raise SandboxError(f"sandbox.image {self._image!r} is not on this Docker daemon: "
                                   "build it first (see sandbox/Dockerfile)") from None
            except daemon_errors() as exc:
                raise unavailable(exc, "Docker", self._ping_api) from None
            self._warnings = _daemon_warnings(info)
            self._tag = tag
            atexit.register(self.cancel_all)  # idle containers go with this process

    def _mounts(self, job: SandboxJob) -> list[str]:
        """Host paths to mount read-only at the same place; raises for a job asking for nonsense."""
        for path in job.read_paths:
            if not os.path.isabs(path) or os.path.normpath(path) == "/":
                raise ValueError(f"SandboxJob.read_paths: {path!r} is not an absolute path below /")
            if not os.path.exists(path):
                raise ValueError(f"SandboxJob.read_paths: {path} does not exist")
            if not _readable_by(path, *self._user):
                raise SandboxError(
                    f"{path} is not readable by the sandbox's user (uid {self._user[0]}): make it readable "
                    "to others (chmod o+rX) or use sandbox.backend: process"
                )
        runtime = [] if self._image else runtime_paths()
        return outermost([*runtime, *job.read_paths])

    def _create(self, job: SandboxJob, paths: list[str]) -> str:
        from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

        limits, (uid, gid) = job.limits, self._user
        scratch = f"rw,exec,nosuid,nodev,size={limits.disk_mb}m,uid={uid},gid={gid},mode=700"
        mounts = [Mount(target=p, source=os.path.realpath(p), type="bind", read_only=True) for p in paths]
        mounts.append(Mount(target=INIT_PATH, source=_INIT_SOURCE, type="bind", read_only=True))
        gpus = None if job.gpu is None else [DeviceRequest(device_ids=[job_device(job.gpu)], capabilities=[["gpu"]])]
        api = self._api
        try:
            host_config = api.create_host_config(
                mounts=mounts,
                tmpfs={WORKDIR: scratch, "/tmp": scratch},
                read_only=True,
                network_mode="none",
                cap_drop=["ALL"],
                security_opt=["no-new-privileges"],
                init=False,  # our init is pid 1 (see sandbox._dockerinit for why)
                mem_limit=f"{limits.memory_mb}m",
                memswap_limit=f"{limits.memory_mb}m",
                pids_limit=limits.max_processes + 1,  # + the init
                nano_cpus=int(self._cpus * 1e9) if self._cpus else None,
                shm_size=f"{limits.disk_mb}m",
                ipc_mode="private",
                ulimits=[Ulimit(name="core", soft=0, hard=0)],
                log_config=LogConfig(type="none"),
                device_requests=gpus,
                auto_remove=True,  # once stopped, even if this process is gone
            )
            python = self._image_python if self._image else self._python
            created = api.create_container(
                self._tag,
                command=[python, "-I", "-S", INIT_PATH],
                user=f"{uid}:{gid}",
                stdin_open=True,  # and, not detached, StdinOnce: our exit closes its stdin
                tty=False,
                working_dir=WORKDIR,
                labels={LABEL: "1", OWNER_LABEL: owner_label()},
                host_config=host_config,
            )
        except daemon_errors() as exc:
            raise unavailable(exc, "cannot create the job's container", self._ping_api) from None
        return created["Id"]

    def _header(self, job: SandboxJob, key: bytes) -> bytes:
        if self._image:
            env = {"PATH": _IMAGE_PATH, "LANG": "C.UTF-8"}
        else:
            env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
            env.setdefault("PATH", os.defpath)
            env.setdefault("LANG", "C.UTF-8")
        env.update(job.env)
        env.update(HOME=WORKDIR, TMPDIR=f"{WORKDIR}/tmp", PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   CUDA_VISIBLE_DEVICES="" if job.gpu is None else "0")  # the device request's one GPU
        argv = list(job.argv)
        if self._image and os.path.realpath(argv[0]) == os.path.realpath(self._python):
            argv[0] = self._image_python  # the job asked for "this Python": the image's own
        files = {name: base64.b64encode(c.encode() if isinstance(c, str) else c).decode()
                 for name, c in job.files.items()}
        limits = job.limits
        header = {
            "key": key.hex(),
            "argv": argv,
            "env": env,
            "files": files,
            "workdir": WORKDIR,
            "wall_seconds": limits.wall_seconds,
            "flood_bytes": FLOOD_FACTOR * limits.output_bytes,
            "rlimits": {"RLIMIT_CORE": 0, "RLIMIT_FSIZE": limits.disk_mb * 1024 * 1024},
        }
        data = json.dumps(header).encode()
        return struct.pack(">I", len(data)) + data


def _readable_by(path: str, uid: int, gid: int) -> bool:
    """Whether `uid` (not root, no capabilities) may read `path` (and enter it, for a folder)."""
    st = os.stat(path)
    need = stat.S_IRUSR | (stat.S_IXUSR if stat.S_ISDIR(st.st_mode) else 0)
    if st.st_uid == uid:
        return st.st_mode & need == need
    if st.st_gid == gid:
        return st.st_mode & (need >> 3) == need >> 3
    return st.st_mode & (need >> 6) == need >> 6


def _start_time(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def owner_label(pid: int | None = None) -> str:
    """host:pid:start-time of a controller process (start time: pids are reused)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def _owner_alive(owner: str) -> bool:
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False  # not a label we write: nobody owns it
    host, pid, started = parts
    if host != socket.gethostname():
        return True  # another machine's (a shared daemon): not ours to judge
    return pid.isdigit() and _start_time(int(pid)) == started


def remove_orphans(api) -> list[str]:
    """Remove containers whose controller process is gone (crashed, killed); their ids."""
    removed = []
    for container in api.containers(all=True, filters={"label": LABEL}):
        if _owner_alive((container.get("Labels") or {}).get(OWNER_LABEL, "")):
            continue
        try:
            api.remove_container(container["Id"], force=True)
            removed.append(container["Id"])
        except daemon_errors():
            pass
    return removed


def _daemon_warnings(info: dict) -> list[str]:
    gaps = {
        "MemoryLimit": "memory is not limited",
        "SwapLimit": "jobs may swap beyond their memory limit",
        "PidsLimit": "the number of processes is not limited",
        "CpuCfsQuota": "the CPU share is not limited",
    }
    return [f"docker backend: the daemon's kernel lacks {key}: {what}" for key, what in gaps.items()
            if info.get(key) is False]
