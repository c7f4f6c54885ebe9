"""The process backend against hostile jobs: each test names the attack and what must hold."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from sandbox import Limits, ProcessSandbox, SandboxJob, make_sandbox
from sandbox._cgroup import find_hierarchies, remove_stale_groups
from sandbox.base import Sandbox
from tests.sandbox.fork_bomb import fork_bomb

REPO = str(Path(__file__).resolve().parents[2])

# Sends a JSON document over the result channel, the way a trusted harness does.
SEND = """
import json, os
def send(payload):
    fd = int(os.environ["EVOFORGE_RESULT_FD"])
    os.write(fd, json.dumps(payload).encode())
    os.close(fd)
"""


@pytest.fixture(scope="module")
def sandbox() -> ProcessSandbox:
    return ProcessSandbox()


def job(code: str, **limits) -> SandboxJob:
    return SandboxJob(argv=(sys.executable, "-c", code), limits=Limits(**limits))


def skip_unless_escapees_can_be_killed(sandbox: ProcessSandbox) -> None:
    support = sandbox.support
    if not support.pid_namespace and not support.hierarchies:
        pytest.skip("neither a PID namespace nor a cgroup on this machine: escaped processes cannot be found")


def skip_unless_channel_is_protected(sandbox: ProcessSandbox) -> None:
    if os.geteuid() == 0 and not sandbox.support.caps_dropped:
        pytest.skip("running as root and capabilities cannot be dropped here: root reaches any descriptor")


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line contains `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry))
    return found


def test_process_sandbox_satisfies_the_protocol(sandbox):
    assert isinstance(sandbox, Sandbox)
    assert isinstance(make_sandbox("auto"), Sandbox)  # which one: tests/sandbox/test_choose_sandbox.py
    assert isinstance(make_sandbox("process"), ProcessSandbox)
    with pytest.raises(ValueError, match="unknown sandbox backend"):
        make_sandbox("nope")
    assert all(isinstance(w, str) and "\n" not in w for w in sandbox.warnings())


def test_normal_job_returns_the_channel_bytes(sandbox):
    out = sandbox.run(job(SEND + "print('hello'); send({'answer': 42})"))
    assert out.exit_code == 0 and out.killed_reason is None and not out.timed_out
    assert json.loads(out.result) == {"answer": 42}
    assert out.stdout == "hello\n"
    assert out.seconds > 0


def test_json_printed_on_stdout_is_never_taken_as_the_result(sandbox):
    out = sandbox.run(job("print('{\"combined_score\": 1e9}'); import sys; print('{}', file=sys.stderr)"))
    assert out.exit_code == 0
    assert out.result is None


def test_exit_code_is_reported(sandbox):
    out = sandbox.run(job("import os; os._exit(3)"))
    assert (out.exit_code, out.killed_reason, out.result) == (3, None, None)


@pytest.mark.parametrize("code", ["import os; os.kill(os.getpid(), 11)", "import ctypes; ctypes.string_at(0)"])
def test_segfault_is_reported_as_signal_11(sandbox, code):
    out = sandbox.run(job(code))
    assert out.exit_code is None
    assert out.killed_reason == "signal 11"


def test_hang_times_out_and_kills_processes_that_escaped_with_setsid_and_double_fork(sandbox):
    skip_unless_escapees_can_be_killed(sandbox)
    marker = f"evoforge-escapee-{uuid.uuid4().hex}"
    code = f"""
import os, subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}-setsid"], start_new_session=True)
if os.fork() == 0:           # double fork: the grandchild is orphaned and in its own session
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "{marker}-double"])
    os._exit(0)
time.sleep(60)
"""
    start = time.monotonic()
    out = sandbox.run(job(code, wall_seconds=1.5))
    elapsed = time.monotonic() - start
    assert out.timed_out and out.killed_reason == "timeout" and out.exit_code is None
    assert elapsed < 1.5 + 2.0
    assert processes_with(marker) == []


def test_leftover_background_processes_are_killed_when_the_job_ends(sandbox):
    skip_unless_escapees_can_be_killed(sandbox)
    marker = f"evoforge-leftover-{uuid.uuid4().hex}"
    code = f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}"], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""
    out = sandbox.run(job(code))
    assert out.exit_code == 0
    assert processes_with(marker) == []


def test_cancel_all_kills_running_jobs(sandbox):
    marker = f"evoforge-cancel-{uuid.uuid4().hex}"
    outcomes = []
    thread = threading.Thread(
        target=lambda: outcomes.append(sandbox.run(job(f"import time; time.sleep(60)  # {marker}", wall_seconds=60)))
    )
    start = time.monotonic()
    thread.start()
    while not processes_with(marker) and time.monotonic() - start < 10:
        time.sleep(0.02)
    sandbox.cancel_all()
    thread.join(10)
    assert outcomes and outcomes[0].killed_reason == "cancelled" and not outcomes[0].timed_out
    assert time.monotonic() - start < 5
    assert processes_with(marker) == []


CONTROLLER = """
import sys
from sandbox import ProcessSandbox, SandboxJob, Limits
code = "import time; time.sleep(60)  # " + sys.argv[1] + "-job"
ProcessSandbox().run(SandboxJob(argv=(sys.executable, "-c", code), limits=Limits(wall_seconds=60)))
"""


def test_jobs_die_with_a_controller_killed_by_sigkill(tmp_path):
    marker = f"evoforge-orphan-{uuid.uuid4().hex}"
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # its job folder is left behind: keep it here
    controller = subprocess.Popen([sys.executable, "-c", CONTROLLER, marker], cwd=REPO, env=env)
    try:
        start = time.monotonic()
        while not processes_with(f"{marker}-job") and time.monotonic() - start < 10:
            time.sleep(0.02)
        assert processes_with(f"{marker}-job"), "the job never started"
        controller.kill()
        controller.wait()
        killed_at = time.monotonic()
        while processes_with(f"{marker}-job") and time.monotonic() - killed_at < 5:
            time.sleep(0.05)
        assert processes_with(f"{marker}-job") == []
    finally:
        controller.kill()
        controller.wait()
    left = [p for h in find_hierarchies().values() for p in h.parent.glob(f"evoforge-{controller.pid}-*")]
    assert set(remove_stale_groups(find_hierarchies())) == set(left)  # the next session tidies up


def test_output_flood_is_truncated_killed_quickly_and_kept_out_of_memory(sandbox):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = "import sys\nchunk = 'x' * 1_000_000 + '\\n'\nfor _ in range(200): sys.stdout.write(chunk)"
    start = time.monotonic()
    out = sandbox.run(job(code, output_bytes=64_000))
    assert time.monotonic() - start < 10
    assert out.killed_reason == "output" and out.exit_code is None
    assert out.output_truncated
    assert len(out.stdout) < 64_000 + 200  # the cap plus the "bytes dropped" marker
    assert "bytes dropped" in out.stdout
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100


def test_output_over_the_cap_keeps_head_and_tail(sandbox):
    code = "print('FIRST'); print('y' * 300_000); print('LAST')"
    out = sandbox.run(job(code, output_bytes=10_000))
    assert out.exit_code == 0 and out.killed_reason is None
    assert out.output_truncated
    assert out.stdout.startswith("FIRST") and out.stdout.rstrip().endswith("LAST")
    assert len(out.stdout) < 10_200


def test_memory_hog_is_stopped_and_reported(sandbox):
    start = time.monotonic()
    out = sandbox.run(job("x = b'x' * (3 << 30); print('survived')", memory_mb=512, wall_seconds=30))
    assert time.monotonic() - start < 20
    assert "survived" not in out.stdout
    if sandbox.support.memory_cgroup:
        assert out.killed_reason == "memory" and out.exit_code is None
    else:  # RLIMIT_AS stands in: the allocation fails inside the job
        assert "MemoryError" in out.stderr


def test_fork_bomb_cannot_exceed_the_process_limit(sandbox):
    if any("pids cgroup" in w for w in sandbox.warnings()):
        pytest.skip("no writable pids cgroup on this machine: the process count cannot be limited")
    marker = f"evoforge-bomb-{uuid.uuid4().hex}"
    code = SEND + fork_bomb(marker, 500)
    out = sandbox.run(job(code, max_processes=32, wall_seconds=20))
    assert out.result is not None, out.stderr[-2000:]
    assert json.loads(out.result)["started"] < 32
    assert processes_with(marker) == []


def test_secrets_in_the_parent_environment_never_reach_the_job(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("SOME_OTHER_VARIABLE", "leak")
    # A process started with the secret in its environment, as the controller would be: the job
    # must not find it through /proc/<pid>/environ either.
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=dict(os.environ))
    code = SEND + """
import glob
seen = []
for path in glob.glob("/proc/*/environ"):
    try:
        if b"sk-secret" in open(path, "rb").read():
            seen.append(path)
    except OSError:
        pass
send({"env": dict(os.environ), "seen": seen})
"""
    try:
        support = sandbox.support
        if support.pid_namespace or support.caps_dropped:  # either hides other processes' environ
            out = sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), env={"MY_SETTING": "1"}, gpu=None))
        else:  # neither here: a job running as the same user could read it (warnings() says so)
            out = sandbox.run(SandboxJob(argv=(sys.executable, "-c", code.replace("/proc/*/", "/proc/none/")),
                                         env={"MY_SETTING": "1"}))
    finally:
        holder.kill()
        holder.wait()
    report = json.loads(out.result)
    assert "OPENAI_API_KEY" not in report["env"] and "SOME_OTHER_VARIABLE" not in report["env"]
    assert "sk-secret" not in json.dumps(report["env"])
    assert report["seen"] == []
    assert report["env"]["MY_SETTING"] == "1"
    assert report["env"]["PYTHONDONTWRITEBYTECODE"] == "1" and report["env"]["PYTHONUNBUFFERED"] == "1"
    assert report["env"]["CUDA_VISIBLE_DEVICES"] == ""
    assert "EVOFORGE_RESULT_FD" in report["env"]


def test_gpu_index_is_the_only_visible_device(sandbox):
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"
    out = sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), gpu=3))
    assert out.stdout.strip() == "3"


def test_a_gpu_index_means_the_gpu_the_controller_was_given(sandbox, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,GPU-1234abcd")  # the controller sees two GPUs: 5 and a UUID
    code = "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"
    seen = [sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), gpu=g)).stdout.strip() for g in (0, 1)]
    assert seen == ["5", "GPU-1234abcd"]


def test_network_is_unreachable_from_the_job(sandbox):
    warned = any("network namespace" in w for w in sandbox.warnings())
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    code = SEND + f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    send({{"connected": True}})
except OSError as exc:
    send({{"connected": False, "error": str(exc)}})
"""
    try:
        out = sandbox.run(job(code))
        try:
            server.accept()[0].close()
            accepted = True
        except OSError:
            accepted = False
    finally:
        server.close()
    report = json.loads(out.result)
    if warned:
        assert report["connected"], "the sandbox warned of no network namespace, yet the job was cut off"
    else:
        assert not report["connected"] and not accepted


CANDIDATE = """
import glob, os
forged = b'{"forged": true}'
for fd in range(256):
    try:
        os.write(fd, forged)
    except OSError:
        pass
for path in glob.glob(f"/proc/{os.getppid()}/fd/*"):
    try:
        with open(path, "wb") as f:
            f.write(forged)
    except OSError:
        pass
try:
    with open(f"/proc/{os.getppid()}/mem", "wb") as f:
        f.write(forged)
except OSError:
    pass
"""

HARNESS = """
import subprocess, sys
from sandbox.channel import open_result_channel
channel = open_result_channel()
subprocess.run([sys.executable, "candidate.py"], close_fds=False)
channel.send({"real": True})
"""


def test_candidate_cannot_forge_the_result_through_inherited_fds_or_proc(sandbox):
    skip_unless_channel_is_protected(sandbox)
    out = sandbox.run(
        SandboxJob(
            argv=(sys.executable, "harness.py"),
            files={"harness.py": HARNESS, "candidate.py": CANDIDATE},
            env={"PYTHONPATH": REPO},
            read_paths=(os.path.join(REPO, "sandbox"),),
        )
    )
    assert out.exit_code == 0, out.stderr
    assert out.result == b'{"real":true}'


def test_job_runs_without_capabilities(sandbox):
    if not sandbox.support.caps_dropped:
        pytest.skip("capabilities cannot be dropped on this machine (see warnings())")
    out = sandbox.run(job("print([l for l in open('/proc/self/status') if l.startswith('CapEff')][0])"))
    assert out.stdout.split()[-1] == "0000000000000000"


def test_workdir_is_fresh_private_and_removed_afterwards(sandbox):
    code = SEND + """
import stat
st = os.stat(".")
send({"cwd": os.getcwd(), "mode": stat.S_IMODE(st.st_mode), "files": sorted(os.listdir(".")),
      "home": os.environ["HOME"], "tmp": os.environ["TMPDIR"]})
open("scratch.txt", "w").write("x")
"""
    files = {"a.txt": "A", "sub/b.bin": b"\x00\x01"}
    first = json.loads(sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), files=files)).result)
    second = json.loads(sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), files=files)).result)
    assert first["cwd"] != second["cwd"]
    assert first["mode"] == 0o700
    assert first["files"] == ["a.txt", "sub", "tmp"]  # nothing left from earlier jobs
    assert first["home"] == first["cwd"] and first["tmp"].startswith(first["cwd"])
    assert not os.path.exists(first["cwd"]) and not os.path.exists(second["cwd"])


def test_files_outside_the_workdir_are_read_only(sandbox, tmp_path):
    if not sandbox.support.readonly:
        pytest.skip("no private mount namespace on this machine (see warnings())")
    folder = tmp_path / "open-to-all"  # shown to the job, writable to its user but for the mount
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    target = folder / "written-by-job"
    code = f"open({str(target)!r}, 'w').write('x')"
    out = sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), read_paths=(str(folder),)))
    assert out.exit_code != 0 and "Read-only file system" in out.stderr
    assert not target.exists()


def test_job_cannot_move_itself_out_of_its_cgroups(sandbox):
    support = sandbox.support
    if not support.hierarchies or not support.readonly:
        pytest.skip("no writable cgroups, or no read-only mount namespace to protect them, on this machine")
    targets = [str(h.parent / "cgroup.procs") for h in support.hierarchies.values()]
    code = SEND + f"""
moved = []
for path in {targets!r}:
    try:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        moved.append(path)
    except OSError:
        pass
send({{"moved": moved}})
"""
    out = sandbox.run(job(code))
    assert json.loads(out.result) == {"moved": []}


def test_concurrent_runs_from_four_threads_do_not_mix_results(sandbox):
    results: dict[int, list] = {}

    def worker(n: int) -> None:
        code = SEND + f"import random, time; time.sleep(random.random() / 5); print({n}); send({{'n': {n}}})"
        out = sandbox.run(SandboxJob(argv=(sys.executable, "-c", code), label=f"job-{n}"))
        results[n] = [json.loads(out.result)["n"], out.stdout.strip()]

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {n: [n, str(n)] for n in range(8)}


def test_misuse_raises_instead_of_running(sandbox):
    with pytest.raises(ValueError, match="relative path"):
        sandbox.run(SandboxJob(argv=("true",), files={"/etc/passwd": "x"}))
    with pytest.raises(ValueError, match="relative path"):
        sandbox.run(SandboxJob(argv=("true",), files={"../escape": "x"}))
    with pytest.raises(ValueError, match="empty"):
        sandbox.run(SandboxJob(argv=()))


def test_a_missing_program_is_an_outcome_not_an_exception(sandbox):
    out = sandbox.run(SandboxJob(argv=("/nonexistent/program",)))
    assert out.exit_code == 127 and "cannot run" in out.stderr


def test_large_files_are_refused(sandbox):
    out = sandbox.run(job("open('big', 'wb').write(b'x' * (3 << 20))", disk_mb=1))
    assert out.exit_code != 0
    assert "File too large" in out.stderr
