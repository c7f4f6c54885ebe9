"""The Docker backend against a real daemon: how its containers are made, that they always go,
what survives a crash of the controller, and how "auto" chooses. The attacks both backends
must contain are in test_escapes.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sandbox import DockerSandbox, FallbackSandbox, Limits, ProcessSandbox, SandboxError, SandboxJob, choose_sandbox
from sandbox import _docker_run
from sandbox._docker_image import ensure_local_image, local_image_tar, runtime_paths
from sandbox._docker_stream import FrameReader, StreamError, verify_report
from sandbox.base import Sandbox
from sandbox.docker import LABEL, OWNER_LABEL, owner_label
from tests.sandbox.test_process_sandbox import REPO, SEND

PY = sys.executable


def job(code: str, **limits) -> SandboxJob:
    return SandboxJob(argv=(PY, "-c", code), limits=Limits(**limits))


def our_containers(api, owner: str | None = None) -> list[dict]:
    return api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner or owner_label()}"})


def wait_for(predicate, seconds: float = 15.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_docker_sandbox_satisfies_the_protocol_and_names_its_image(docker_sandbox):
    assert isinstance(docker_sandbox, Sandbox) and docker_sandbox.name == "docker"
    assert "evoforge-local:" in docker_sandbox.description
    assert all(isinstance(w, str) and "\n" not in w for w in docker_sandbox.warnings())
    sandbox, notice = choose_sandbox("auto")
    assert isinstance(sandbox, FallbackSandbox) and isinstance(sandbox.current, DockerSandbox) and notice is None
    assert sandbox.name == "docker" and sandbox.description == docker_sandbox.description


def test_auto_falls_back_to_the_process_backend_with_a_notice_where_no_daemon_answers(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    sandbox, notice = choose_sandbox("auto")
    assert isinstance(sandbox, ProcessSandbox)
    assert notice.startswith("sandbox.backend auto: Docker is not usable here (no Docker daemon answered")
    assert "\n" not in notice
    with pytest.raises(SandboxError, match="no Docker daemon answered"):
        choose_sandbox("docker")


def test_container_is_locked_down_as_promised(docker_sandbox):  # the fixture: skips without a daemon
    code = SEND + """
import subprocess
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
mounts = {f[4]: (f[5], line.split(" - ")[1].split()[0], line.split(" - ")[1].split()[2])
          for line in open("/proc/self/mountinfo") for f in [line.split()]}
def read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None
with open("run.sh", "w") as f:
    f.write("#!/bin/sh\\necho ran\\n")
os.chmod("run.sh", 0o755)
send({
    "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(), "home": os.environ["HOME"],
    "caps": [status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
    "no_new_privs": status["NoNewPrivs"].strip(),
    "root": mounts["/"], "job": mounts["/job"], "tmp": mounts["/tmp"],
    "init": open("/proc/1/cmdline").read().split("\\0")[2:4],
    "exec_in_scratch": subprocess.run(["./run.sh"], capture_output=True, text=True).stdout,
    "memory": read("/sys/fs/cgroup/memory/memory.limit_in_bytes") or read("/sys/fs/cgroup/memory.max"),
    "memsw": read("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    "pids": read("/sys/fs/cgroup/pids/pids.max") or read("/sys/fs/cgroup/pids.max"),
    "cpu": read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") or read("/sys/fs/cgroup/cpu.max"),
})
"""
    out = DockerSandbox(cpus=0.5).run(job(code, memory_mb=300, max_processes=20))
    found = json.loads(out.result)
    assert found["uid"] != 0 and found["gid"] != 0
    assert found["cwd"] == found["home"] == "/job"
    assert found["caps"] == ["0000000000000000"] * 5
    assert found["no_new_privs"] == "1"
    assert found["root"][0].startswith("ro")
    assert found["job"][1] == "tmpfs" and "noexec" not in found["job"][0] and found["tmp"][1] == "tmpfs"
    assert found["init"] == ["-S", "/evoforge-init.py"]
    assert found["exec_in_scratch"] == "ran\n"
    assert found["memory"] in (str(300 << 20), str(300 << 20) + "\n")
    assert found["memsw"] in (None, str(300 << 20))  # swap equal to memory: none beyond it
    assert found["pids"] == "21"
    assert found["cpu"] in ("50000", "50000 100000")  # half of one core's period


def running_job_container(sandbox: DockerSandbox) -> str | None:
    runs = list(sandbox._active)
    return runs[0].container.id if runs else None


def test_the_container_config_holds_no_secret_and_no_key(docker_sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-TOPSECRET")
    sandbox = DockerSandbox()  # its own, so the container is made now, with the secret set
    api = docker_sandbox._api
    seen: list[dict] = []

    def inspect() -> None:
        if wait_for(lambda: running_job_container(sandbox) is not None, 10):
            seen.append(api.inspect_container(running_job_container(sandbox)))

    thread = threading.Thread(target=inspect)
    thread.start()
    out = sandbox.run(SandboxJob(argv=(PY, "-c", "import time; time.sleep(3)")))
    thread.join()
    sandbox.cancel_all()
    assert out.exit_code == 0 and seen
    config, host = seen[0]["Config"], seen[0]["HostConfig"]
    assert "TOPSECRET" not in json.dumps(seen[0])
    assert not re.search(r"[0-9a-f]{64}", json.dumps([config["Env"], config["Cmd"], config["Labels"]]))
    assert host["ReadonlyRootfs"] is True and host["NetworkMode"] == "none" and host["AutoRemove"] is True
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Memory"] == host["MemorySwap"] == 4096 << 20 and host["PidsLimit"] == 65
    assert host["LogConfig"]["Type"] == "none" and config["User"] != "0:0"
    assert config["Labels"][LABEL] == "1" and config["Labels"][OWNER_LABEL] == owner_label()


def test_containers_go_when_their_job_was_killed_and_idle_ones_when_the_sandbox_is_done(docker_sandbox):
    api = docker_sandbox._api
    sandbox = DockerSandbox()

    def exists(container_id: str) -> bool:
        return container_id in [c["Id"] for c in api.containers(all=True)]

    sandbox.run(job("print('fine')"))
    sandbox.run(job("import os; os._exit(3)"))
    (idle,) = sandbox._idle  # kept, running, for the next job
    assert exists(idle.id)
    # Timed out by its init, which then wiped the container: it stays (a kill from here does not,
    # see test_the_host_kills_a_container_whose_init_misses_the_wall_clock).
    assert sandbox.run(job("import time; time.sleep(30)", wall_seconds=1)).timed_out
    assert [c.id for c in sandbox._idle] == [idle.id]
    sandbox.cancel_all()
    assert sandbox._idle == [] and wait_for(lambda: not exists(idle.id), 10)


def container_name(sandbox: DockerSandbox, code: str = "") -> str:
    out = sandbox.run(job(SEND + code + "\nimport socket; send({'host': socket.gethostname()})"))
    return json.loads(out.result)["host"]


def test_a_reused_container_shows_the_next_job_nothing_of_the_last(docker_sandbox):
    sandbox = DockerSandbox()
    leave_traces = """
import os, subprocess, sys, ctypes
os.makedirs("locked/deeper", exist_ok=True)
open("locked/deeper/f", "w").write("x")
os.chmod("locked/deeper", 0)
os.chmod("locked", 0)
for folder in (os.environ["TMPDIR"], "/tmp", "/dev/shm"):
    open(os.path.join(folder, "left-behind"), "w").write("answer=42")
libc = ctypes.CDLL(None)
libc.shmget(0x4242, 4096, 0o1600)  # IPC_CREAT | 0600: a System V segment holding a cached answer
subprocess.Popen([sys.executable, "-c", "import time\\nwhile True:\\n    open('/job/program.py', 'w').write('forged'); time.sleep(0.01)"],
                 start_new_session=True)
"""
    first = container_name(sandbox, leave_traces)
    look = """
import glob
found = {"files": sorted(os.listdir(".")), "tmp": os.listdir("/tmp"), "shm": os.listdir("/dev/shm"),
         "ipc": open("/proc/sysvipc/shm").read().splitlines()[1:],
         "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
         "program": open("program.py").read(), "me": [os.getpid(), os.getppid()]}
import time; time.sleep(0.2)
found["program_later"] = open("program.py").read()
send(found)
"""
    out = sandbox.run(SandboxJob(argv=(PY, "-c", SEND + look + "\nimport socket"), files={"program.py": "real"}))
    found = json.loads(out.result)
    second = container_name(sandbox)
    sandbox.cancel_all()
    assert first == second  # the same container served all three jobs
    assert found["files"] == ["program.py", "tmp"]
    # /tmp is the container's own, but read-only mounts of host paths under /tmp (pytest's
    # folders, or the repository itself when it was cloned there) show as their mount points.
    mounted = {Path(p).parts[2] for p in (REPO, sys.prefix) if Path(p).parts[1:2] == ("tmp",) and len(Path(p).parts) > 2}
    assert [f for f in found["tmp"] if not f.startswith("pytest") and f not in mounted] == []
    assert found["shm"] == []
    assert found["ipc"] == []
    assert found["processes"] == sorted({1, *found["me"]})  # the init, and this job alone
    assert found["program"] == found["program_later"] == "real"


def test_a_job_killed_for_memory_does_not_mark_the_next_one(docker_sandbox):
    sandbox = DockerSandbox()
    hog = sandbox.run(job("x = bytearray(3 << 30)", memory_mb=256, wall_seconds=30))
    fine = sandbox.run(job("import os; os.kill(os.getpid(), 9)", memory_mb=256))
    again = sandbox.run(job("x = bytearray(3 << 30)", memory_mb=256, wall_seconds=30))
    sandbox.cancel_all()
    assert hog.killed_reason == "memory" and again.killed_reason == "memory"
    assert fine.killed_reason == "signal 9"


def test_every_container_is_made_fresh_when_reuse_is_off(docker_sandbox):
    sandbox = DockerSandbox(reuse=False)
    assert container_name(sandbox) != container_name(sandbox)
    assert our_containers(docker_sandbox._api) == [] or sandbox._idle == []


CONTROLLER = """
import sys
from sandbox import DockerSandbox, SandboxJob, Limits
DockerSandbox().run(SandboxJob(argv=(sys.executable, "-c", "import time; time.sleep(120)"),
                               limits=Limits(wall_seconds=120)))
"""


def test_a_killed_controllers_container_stops_and_goes_at_once(docker_sandbox):
    api = docker_sandbox._api
    controller = subprocess.Popen([PY, "-c", CONTROLLER], cwd=REPO)
    try:
        assert wait_for(lambda: api.containers(filters={"label": f"{OWNER_LABEL}={owner_label(controller.pid)}"}),
                        30), "the controller's container never started"
        owner = owner_label(controller.pid)
        controller.kill()
        controller.wait()
        # The lifeline: the daemon closes the container's stdin, the init ends everything, the
        # daemon removes the stopped container.
        assert wait_for(lambda: our_containers(api, owner) == [], 10)
    finally:
        controller.kill()
        controller.wait()


def test_containers_left_by_a_dead_controller_are_removed_when_the_next_sandbox_starts(docker_sandbox):
    api = docker_sandbox._api
    dead = subprocess.run([PY, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = owner_label(int(dead.stdout)).rsplit(":", 1)[0] + ":0"  # a process that no longer runs
    made = api.create_container(docker_sandbox._tag, command=[PY, "-c", "pass"],
                                labels={LABEL: "1", OWNER_LABEL: owner})
    assert our_containers(api, owner) != []
    DockerSandbox().warnings()  # a new sandbox gets ready: it removes what dead controllers left
    assert our_containers(api, owner) == []
    assert made["Id"] not in [c["Id"] for c in api.containers(all=True)]


def test_the_host_kills_a_container_whose_init_misses_the_wall_clock(docker_sandbox, monkeypatch):
    class LateInit(DockerSandbox):
        def _header(self, job, key):  # the init is told a far later deadline than the host
            return super()._header(SandboxJob(argv=job.argv, limits=Limits(wall_seconds=600)), key)

    monkeypatch.setattr(_docker_run, "HOST_GRACE", 0.5)
    sandbox = LateInit()
    start = time.monotonic()
    out = sandbox.run(job("import time; time.sleep(60)", wall_seconds=1))
    assert out.timed_out and out.killed_reason == "timeout"
    assert time.monotonic() - start < 1 + 0.5 + 5
    assert sandbox._idle == []


def test_cancel_all_kills_running_containers(docker_sandbox):
    sandbox = DockerSandbox()
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(
        sandbox.run(job("import time; time.sleep(60)", wall_seconds=60))))
    thread.start()
    assert wait_for(lambda: running_job_container(sandbox) is not None, 10)
    time.sleep(0.3)
    start = time.monotonic()
    sandbox.cancel_all()
    thread.join(15)
    assert outcomes and outcomes[0].killed_reason == "cancelled" and not outcomes[0].timed_out
    assert time.monotonic() - start < 5
    assert sandbox._idle == []


def test_a_report_with_a_wrong_signature_or_a_damaged_stream_is_refused():
    import hashlib
    import hmac

    body = b'{"status":{"exit":0},"result":"e30=","result_overflow":false}'
    key = os.urandom(32)
    good = hmac.new(key, body, hashlib.sha256).digest() + body
    assert verify_report(key, good)["result"] == b"{}"
    with pytest.raises(StreamError, match="signature"):
        verify_report(os.urandom(32), good)
    with pytest.raises(StreamError, match="signature"):
        verify_report(key, good[:-2] + b"1}")
    with pytest.raises(StreamError, match="unexpected frame"):
        list(FrameReader().feed(b"X\0\0\0\1x"))


def test_a_gpu_job_asks_the_daemon_for_exactly_its_gpu(docker_sandbox, monkeypatch):
    class Refused(Exception):
        pass

    class Recorder:
        def __init__(self, api):
            self.api, self.host_config = api, None

        def create_host_config(self, **kwargs):
            self.host_config = kwargs
            return self.api.create_host_config(**kwargs)

        def create_container(self, *args, **kwargs):
            raise Refused  # no GPU on this machine: stop before the daemon is asked

        def __getattr__(self, name):
            return getattr(self.api, name)

    recorder = Recorder(docker_sandbox._api)
    sandbox = DockerSandbox(api=recorder)
    with pytest.raises(Refused):
        sandbox.run(SandboxJob(argv=(PY, "-c", "pass"), gpu=3))
    (request,) = recorder.host_config["device_requests"]
    assert request["DeviceIDs"] == ["3"] and request["Capabilities"] == [["gpu"]]
    assert sandbox._header(SandboxJob(argv=("x",), gpu=3), b"k" * 32).find(b'"CUDA_VISIBLE_DEVICES": "0"') > 0
    # a controller given other GPUs: index 1 is the second one it was given, not the host's GPU 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "6,7")
    with pytest.raises(Refused):
        sandbox.run(SandboxJob(argv=(PY, "-c", "pass"), gpu=1))
    assert recorder.host_config["device_requests"][0]["DeviceIDs"] == ["7"]


def test_a_read_path_the_container_user_cannot_read_is_a_one_line_error(docker_sandbox, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(SandboxError, match=r"not readable by the sandbox.s user .*\(chmod o\+rX\)"):
        docker_sandbox.run(SandboxJob(argv=(PY, "-c", "pass"), read_paths=(str(private),)))
    with pytest.raises(ValueError, match="does not exist"):
        docker_sandbox.run(SandboxJob(argv=(PY, "-c", "pass"), read_paths=(str(tmp_path / "nope"),)))


def test_an_image_of_ones_own_runs_its_python_in_place_of_this_machines(docker_sandbox):
    base_python = os.path.realpath(PY)
    tag = ensure_local_image(docker_sandbox._api, *docker_sandbox._user)  # stands in for a built image
    sandbox = DockerSandbox(image=tag, image_python=base_python)
    code = SEND + "import sys; send({'python': sys.executable})"
    out = sandbox.run(SandboxJob(argv=(PY, "-c", code), read_paths=tuple(runtime_paths())))
    assert json.loads(out.result) == {"python": base_python}
    with pytest.raises(SandboxError, match="is not on this Docker daemon"):
        DockerSandbox(image="evoforge-no-such-image:0").run(SandboxJob(argv=("true",)))


def test_the_local_image_is_a_few_kilobytes_and_the_same_every_time():
    first, second = local_image_tar(65534, 65534), local_image_tar(65534, 65534)
    assert first == second and len(first) < 64 * 1024
    assert local_image_tar(1000, 1000) != first


def test_a_containers_judge_shares_the_gpu_lock_for_checks_and_waits_for_timing_on_the_host(docker_sandbox,
                                                                                             tmp_path):
    import fcntl

    from sandbox.gpus import GpuSlots

    slots = GpuSlots([0], lock_dir=tmp_path / "locks")  # as a kernel task makes them, for the container's user too
    lock = slots.lock_path(0)
    code = SEND + f"""
import fcntl
def free(mode):
    with open({lock!r}, "rb") as handle, open({lock + ".gate"!r}, "rb"):
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
send({{"check": free(fcntl.LOCK_SH), "timing": free(fcntl.LOCK_EX)}})
"""
    run = SandboxJob(argv=(PY, "-c", code), read_paths=(lock, lock + ".gate"))  # what KernelEvaluator mounts
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # a judge on the host checking a candidate
        during_check = json.loads(docker_sandbox.run(run).result)
    assert during_check == {"check": True, "timing": False}
    assert json.loads(docker_sandbox.run(run).result) == {"check": True, "timing": True}


def test_a_gpu_lock_file_mounted_read_only_is_exclusive_between_host_and_container(docker_sandbox, shared_tmp):
    import fcntl

    lock = shared_tmp / "gpu0.lock"  # as sandbox.gpus makes them, but readable to the container's user
    lock.touch(mode=0o644)
    code = SEND + f"""
import fcntl
with open({str(lock)!r}, "rb") as handle:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        send({{"locked": True}})
    except BlockingIOError:
        send({{"locked": False}})
"""
    with open(lock, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        busy = json.loads(docker_sandbox.run(SandboxJob(argv=(PY, "-c", code), read_paths=(str(lock),))).result)
    free = json.loads(docker_sandbox.run(SandboxJob(argv=(PY, "-c", code), read_paths=(str(lock),))).result)
    assert busy == {"locked": False} and free == {"locked": True}
