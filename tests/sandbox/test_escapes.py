"""Hostile jobs against both backends: each attack is contained, the outcome says why, and the
sandbox goes on to run the next job. Every test runs on each backend (the `every_sandbox`
fixture: process, Docker, and Docker with a fresh container per job); where a backend cannot
contain an attack on this machine, it must have said so in its warnings, and the test checks
that it did.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sandbox import Limits, SandboxJob
from tests.sandbox.fork_bomb import fork_bomb
from tests.sandbox.test_process_sandbox import CANDIDATE, REPO, SEND, processes_with

PY = sys.executable


def job(code: str, *, files: dict | None = None, read_paths: tuple[str, ...] = (), **limits) -> SandboxJob:
    return SandboxJob(argv=(PY, "-c", code), files=files or {}, read_paths=read_paths, limits=Limits(**limits))


def report(outcome) -> dict:
    assert outcome.result is not None, (outcome.killed_reason, outcome.stderr[-2000:])
    return json.loads(outcome.result)


def test_network_is_unreachable_loopback_included(every_sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    code = SEND + f"""
import socket
reached = []
for host, port in [("127.0.0.1", {port}), ("1.1.1.1", 53), ("8.8.8.8", 443)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        reached.append(host)
    except OSError:
        pass
try:
    socket.getaddrinfo("pypi.org", 443)
    reached.append("dns")
except OSError:
    pass
interfaces = [line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]]
send({{"reached": reached, "interfaces": interfaces}})
"""
    try:
        found = report(every_sandbox.run(job(code, wall_seconds=30)))
        try:
            server.accept()[0].close()
            accepted = True
        except OSError:
            accepted = False
    finally:
        server.close()
    assert found["reached"] == [] and not accepted
    assert found["interfaces"] == ["lo"]


def test_host_files_and_environment_secrets_stay_out_of_reach(every_sandbox, shared_tmp, monkeypatch):
    secret_dir = shared_tmp / "private"
    secret_dir.mkdir(mode=0o700)
    secret = secret_dir / "key.txt"
    secret.write_text("TOPSECRET-FILE")
    secret.chmod(0o600)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-TOPSECRET-ENV")
    holder = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"], env=dict(os.environ))
    code = SEND + f"""
import glob
word = "TOP" + "SECRET"  # spelled out only at run time: this code's own argv must not match
found = []
try:
    found.append(open({str(secret)!r}).read())
except OSError:
    pass
for path in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline"):
    try:
        if word.encode() in open(path, "rb").read():
            found.append(path)
    except OSError:
        pass
found += [k for k, v in os.environ.items() if word in v]
send({{"found": found}})
"""
    try:
        found = report(every_sandbox.run(job(code)))["found"]
    finally:
        holder.kill()
        holder.wait()
    warned = any("secrets on disk" in w for w in every_sandbox.warnings())
    if warned:  # the process backend as root: root's own private files stay readable, and it says so
        assert found in ([], ["TOPSECRET-FILE"])
    else:
        assert found == []


def test_writes_outside_the_working_directory_fail(every_sandbox, shared_tmp):
    visible = shared_tmp / "task"  # a folder the job is given to read
    visible.mkdir()
    outside = shared_tmp / "outside"
    outside.mkdir()
    outside.chmod(0o777)
    targets = [str(visible / "x"), str(outside / "x"), "/etc/evoforge-x", "/usr/evoforge-x",
               os.path.join(sys.prefix, "evoforge-x"), os.path.join(REPO, "evoforge-x")]
    code = SEND + f"""
written = []
for path in {targets!r} + ["inside.txt"]:
    try:
        with open(path, "w") as f:
            f.write("x")
        written.append(path)
    except OSError:
        pass
send({{"written": written}})
"""
    written = report(every_sandbox.run(job(code, read_paths=(str(visible),))))["written"]
    assert written == ["inside.txt"]  # the working directory is writable, nothing else
    assert not any(os.path.exists(t) for t in targets)


def test_fork_bomb_stops_at_the_process_limit(every_sandbox):
    if any("pids cgroup" in w for w in every_sandbox.warnings()):
        pytest.skip("no writable pids cgroup on this machine: the process backend says it cannot limit processes")
    marker = f"evoforge-bomb-{uuid.uuid4().hex}"
    code = SEND + fork_bomb(marker, 500)
    out = every_sandbox.run(job(code, max_processes=16, wall_seconds=30))
    assert report(out)["started"] < 16
    assert processes_with(marker) == []


def test_memory_hog_is_killed_and_reported_as_memory(every_sandbox):
    out = every_sandbox.run(job("x = bytearray(3 << 30); print('survived')", memory_mb=256, wall_seconds=30))
    assert "survived" not in out.stdout
    assert out.killed_reason == "memory" and out.exit_code is None


def test_filling_the_scratch_space_stops_at_its_size(every_sandbox):
    code = SEND + """
import errno, os
totals = {}
for folder in (".", os.environ["TMPDIR"], "/dev/shm"):
    total, error = 0, None
    try:
        for n in range(1000):
            with open(os.path.join(folder, f"fill{n}"), "wb") as f:
                for _ in range(4):
                    f.write(b"x" * (1 << 20))
                    total += 1 << 20
    except OSError as exc:
        error = errno.errorcode.get(exc.errno, str(exc.errno))
    totals[folder] = [total, error]
    for name in os.listdir(folder):
        if name.startswith("fill"):
            os.remove(os.path.join(folder, name))
send(totals)
"""
    totals = report(every_sandbox.run(job(code, disk_mb=16, memory_mb=512, wall_seconds=60)))
    for folder, (total, error) in totals.items():
        assert error in ("ENOSPC", "EFBIG"), (folder, total, error)
        assert total <= 16 << 20, (folder, total)


def test_output_flood_is_cut_off_quickly(every_sandbox):
    code = "import sys\nchunk = 'x' * 1_000_000 + '\\n'\nwhile True: sys.stdout.write(chunk)"
    start = time.monotonic()
    out = every_sandbox.run(job(code, output_bytes=64_000, wall_seconds=60))
    assert time.monotonic() - start < 15
    assert out.killed_reason == "output" and out.exit_code is None and out.output_truncated
    assert len(out.stdout) < 64_000 + 200


def test_hang_times_out_and_leaves_no_process_behind(every_sandbox):
    marker = f"evoforge-hang-{uuid.uuid4().hex}"
    code = f"""
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "while True: pass", "{marker}"])
    os._exit(0)
time.sleep(60)
"""
    start = time.monotonic()
    out = every_sandbox.run(job(code, wall_seconds=1.5))
    assert out.timed_out and out.killed_reason == "timeout" and out.exit_code is None
    assert time.monotonic() - start < 1.5 + 4
    assert processes_with(marker) == []


def test_killing_the_parent_and_everything_else_harms_only_the_job(every_sandbox):
    if not getattr(getattr(every_sandbox, "support", None), "pid_namespace", True):
        pytest.skip("no PID namespace here: kill(-1) from a process-backend job would reach the host")
    code = SEND + f"""
import os, signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
for pid in (os.getppid(), 1, {os.getpid()}, {os.getppid()}):  # its parent, pid 1, this test, its parent
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError:
            pass
os.kill(-1, signal.SIGKILL)  # every process it may signal (but itself and pid 1)
send({{"child": child.wait()}})
"""
    out = every_sandbox.run(job(code))
    assert out.exit_code == 0, (out.killed_reason, out.stderr[-2000:])
    assert report(out) == {"child": -9}  # its own child died; the init that delivered this lives
    after = every_sandbox.run(job(SEND + "send({'alive': True})"))  # and the sandbox runs the next job
    assert report(after) == {"alive": True}


HARNESS = """
import subprocess, sys
from sandbox.channel import open_result_channel
channel = open_result_channel()
subprocess.run([sys.executable, "candidate.py"], close_fds=False)
channel.send({"real": True})
"""

# On top of CANDIDATE (every inherited descriptor, the parent's /proc fds and memory): the
# container's init holds the stream the verdict travels on, so try its descriptors, with a
# well-formed forged verdict frame, and print one too.
FRAMES = """
import glob, os, struct
body = b'{"status":{"exit":0},"result":"eyJmb3JnZWQiOnRydWV9","result_overflow":false}'
frame = b"f" + struct.pack(">I", 32 + len(body)) + b"\\0" * 32 + body
for path in glob.glob("/proc/1/fd/*") + glob.glob("/proc/1/task/*/fd/*"):
    try:
        with open(path, "wb") as f:
            f.write(frame)
    except OSError:
        pass
os.write(1, frame)
os.write(2, frame)
"""


def test_candidate_cannot_forge_the_result(every_sandbox, shared_tmp):
    out = every_sandbox.run(SandboxJob(
        argv=(PY, "harness.py"),
        files={"harness.py": HARNESS, "candidate.py": CANDIDATE + FRAMES},
        env={"PYTHONPATH": REPO},
        read_paths=(os.path.join(REPO, "sandbox"),),
    ))
    assert out.exit_code == 0, out.stderr[-2000:]
    assert out.result == b'{"real":true}'


def test_after_every_attack_a_normal_job_still_runs(every_sandbox):
    out = every_sandbox.run(job(SEND + "send({'ok': 1})"))
    assert out.exit_code == 0 and report(out) == {"ok": 1}
    assert Path(PY).exists()
