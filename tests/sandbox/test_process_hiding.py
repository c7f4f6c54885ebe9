"""The process backend keeps host files and the host's user out of a job's reach: an
unprivileged user, home folders and secrets hidden, limits that hold without cgroups.

Most of it needs root (only root may switch users and mount); as another user each test checks
that the backend said, in its warnings, what it cannot do.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import Limits, ProcessSandbox, SandboxError, SandboxJob
from sandbox import _probe
from sandbox._jobuser import job_user
from tests.sandbox.fork_bomb import fork_bomb
from tests.sandbox.test_process_sandbox import SEND, processes_with

PY = sys.executable
FAKE_KEY = "sk-proj-FAKEKEY" + "0123456789abcdefghij"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch the job's user and mount")


def run(sandbox: ProcessSandbox, code: str, read_paths: tuple[str, ...] = (), **limits) -> dict:
    out = sandbox.run(SandboxJob(argv=(PY, "-c", SEND + code), read_paths=read_paths, limits=Limits(**limits)))
    assert out.result is not None, (out.killed_reason, out.stderr[-2000:])
    return json.loads(out.result)


READ = """
def attempt(path):
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path) as f:
            return f.read()
    except OSError as exc:
        return type(exc).__name__
"""


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user may enter and read (pytest's own are 700): what the job could read if
    nothing hid it."""
    folder = Path(tempfile.mkdtemp(prefix="evoforge-hiding-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def plant(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(text)
    path.chmod(0o644)
    return path


def test_the_job_user_setting_is_checked():
    assert job_user("") == (65534, 65534)
    assert job_user("1234") == (1234, 1234) and job_user("1234:99") == (1234, 99)
    for bad in ("0", "nobody", "5:0"):
        with pytest.raises(SandboxError, match="EVOFORGE_SANDBOX_USER"):
            job_user(bad)


def test_without_root_the_warnings_say_what_cannot_be_done():
    sandbox = ProcessSandbox()
    if os.geteuid() == 0:
        assert sandbox.support.user == (65534, 65534) or any("uid 0" in w for w in sandbox.warnings())
    else:
        assert sandbox.support.user is None
        assert any("not running as root" in w and "secrets on disk" in w for w in sandbox.warnings())


@ROOT_ONLY
def test_job_runs_as_an_unprivileged_user_of_its_own():
    sandbox = ProcessSandbox(user=(64998, 64997))
    found = run(sandbox, "send({'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getgroups()]})")
    assert found["ids"] == [64998, 64998, 64997, []]


@ROOT_ONLY
def test_shadow_root_and_home_are_out_of_reach():
    sandbox = ProcessSandbox()
    if not sandbox.support.hides:
        pytest.skip("no private mount namespace here (see warnings())")
    marker = plant(Path("/root") / f"evoforge-planted-{uuid.uuid4().hex}" / "credentials", FAKE_KEY)
    marker.parent.chmod(0o755)  # readable to anyone who may enter /root: only the cover stops the job
    try:
        found = run(sandbox, READ + f"""
send({{p: attempt(p) for p in ("/etc/shadow", "/etc/gshadow", "/root", "/home", "/etc/ssh", {str(marker)!r})}})
""")
    finally:
        shutil.rmtree(marker.parent)
    assert found["/etc/shadow"] in ("", "PermissionError") and found["/etc/gshadow"] in ("", "PermissionError")
    assert marker.parent.name not in json.dumps(found["/root"])  # only what the job's Python needs shows
    assert all(found[p] in ([], "PermissionError", "FileNotFoundError") for p in ("/home", "/etc/ssh"))
    assert found[str(marker)] in ("FileNotFoundError", "PermissionError")
    assert FAKE_KEY not in json.dumps(found)


@ROOT_ONLY
def test_a_hidden_home_and_the_task_folders_neighbours_stay_unreadable(open_folder, monkeypatch):
    home = open_folder / "home"
    key = plant(home / ".aws" / "credentials", FAKE_KEY)
    project = open_folder / "project"
    script = plant(project / "run.sh", f"export OPENAI_API_KEY={FAKE_KEY}\n")
    evaluator = plant(project / "task" / "evaluator.py", "EVALUATOR = 1\n")
    workspace = open_folder / "workspace"  # where the controller was started
    notes = plant(workspace / "notes.txt", FAKE_KEY)
    monkeypatch.chdir(workspace)
    code = READ + f"send({{p: attempt(p) for p in {[str(key), str(script), str(evaluator), str(notes)]!r}}})"
    seen = run(ProcessSandbox(hide=()), code, read_paths=(str(evaluator.parent),))
    assert seen[str(key)] == FAKE_KEY  # control: nothing but the hiding keeps the job from it
    hidden = run(ProcessSandbox(hide=(str(home),)), code, read_paths=(str(evaluator.parent),))
    assert hidden[str(evaluator)] == "EVALUATOR = 1\n"  # what the job is given stays readable
    for path in (key, script, notes):
        assert hidden[str(path)] in ("FileNotFoundError", "PermissionError"), path


@ROOT_ONLY
def test_writes_reach_only_the_scratch_folder(open_folder):
    shown = open_folder / "shown"
    shown.mkdir(mode=0o777)
    shown.chmod(0o777)
    targets = [str(shown / "x"), str(open_folder / "x"), "/tmp/evoforge-x", "/root/x", "/home/x"]
    found = run(ProcessSandbox(), f"""
written = []
for path in {targets!r} + ["inside.txt", os.path.join(os.environ["TMPDIR"], "t")]:
    try:
        with open(path, "w") as f:
            f.write("x")
        written.append(path)
    except OSError:
        pass
send({{"written": written}})
""", read_paths=(str(shown),))
    assert [os.path.basename(p) for p in found["written"]] == ["inside.txt", "t"]
    assert not any(os.path.exists(t) for t in targets)


@pytest.fixture
def no_cgroups(monkeypatch) -> None:
    """The machine as one without a writable cgroup: the probe finds no hierarchy."""
    monkeypatch.setattr(_probe, "_cache", {})
    monkeypatch.setattr(_probe, "find_hierarchies", lambda: {})


@ROOT_ONLY
def test_fork_bomb_stops_at_the_process_limit_without_a_pids_cgroup(no_cgroups):
    sandbox = ProcessSandbox(user=(64996, 64996), jobs_at_once=1)  # a uid no other process on this machine uses
    assert not sandbox.support.pids_cgroup and any("RLIMIT_NPROC" in w for w in sandbox.warnings())
    marker = f"evoforge-bomb-{uuid.uuid4().hex}"
    found = run(sandbox, fork_bomb(marker, 200), max_processes=12, wall_seconds=30)
    assert 0 < found["started"] < 12
    assert processes_with(marker) == []


@ROOT_ONLY
def test_without_a_pids_cgroup_the_user_wide_limit_holds_every_job_that_may_run_at_once(no_cgroups):
    """RLIMIT_NPROC counts the threads of all the user's jobs: one limit of max_processes made
    eight torch jobs at once fail to start CUDA. Four jobs of 12 processes each start at once
    here, each making 10 processes; with the limit scaled by jobs_at_once all of them finish."""
    import concurrent.futures

    sandbox = ProcessSandbox(user=(64995, 64995), jobs_at_once=4)
    markers = [f"evoforge-share-{uuid.uuid4().hex}" for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda m: run(sandbox, fork_bomb(m, 10), max_processes=12, wall_seconds=60), markers))
    assert [f["started"] for f in found] == [10, 10, 10, 10]
    alone = ProcessSandbox(user=(64994, 64994), jobs_at_once=1)
    marker = f"evoforge-share-{uuid.uuid4().hex}"

    def started(_: int) -> int:  # a job whose own start was refused made none
        out = alone.run(SandboxJob(argv=(PY, "-c", SEND + fork_bomb(marker, 10)),
                                   limits=Limits(max_processes=12, wall_seconds=60)))
        return json.loads(out.result)["started"] if out.result else 0

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        starved = list(pool.map(started, range(4)))
    assert sum(starved) < 40  # one job's limit shared by four: some were refused
    assert all(processes_with(m) == [] for m in [*markers, marker])


def test_memory_hog_is_stopped_without_a_memory_cgroup(no_cgroups):
    sandbox = ProcessSandbox()
    assert not sandbox.support.memory_cgroup and any("RLIMIT_AS" in w for w in sandbox.warnings())
    for code in ("x = bytearray(3 << 30)", "import mmap; m = mmap.mmap(-1, 3 << 30); m[::4096] = b'x' * (3 << 18)"):
        out = sandbox.run(SandboxJob(argv=(PY, "-c", code + "\nprint('survived')"),
                                     limits=Limits(memory_mb=256, wall_seconds=30)))
        assert "survived" not in out.stdout, code
        assert "MemoryError" in out.stderr or "Cannot allocate memory" in out.stderr or out.killed_reason, out.stderr


@ROOT_ONLY
def test_a_read_path_private_to_root_is_shown_entry_by_entry(tmp_path):
    task = tmp_path / "task"  # pytest's folders are 700: the job's user may not enter them
    task.mkdir(mode=0o700)
    plant(task / "evaluator.py", "EVALUATOR = 1\n")
    plant(task / "data" / "table.csv", "1,2\n")
    (task / "data").chmod(0o700)
    private = plant(task / "private.txt", FAKE_KEY)
    private.chmod(0o600)
    paths = [str(task / "evaluator.py"), str(task / "data" / "table.csv"), str(private)]
    code = READ + f"send({{p: attempt(p) for p in {paths!r}}})"
    found = run(ProcessSandbox(), code, read_paths=(str(task),))
    assert found[str(task / "evaluator.py")] == "EVALUATOR = 1\n" and found[str(task / "data" / "table.csv")] == "1,2\n"
    assert found[str(private)] == "PermissionError"  # a file closed to others stays closed
