"""Whole evaluations with hostile candidates, on both backends: each is recorded as failed with a
reason a user can read, nothing it attempted took effect, and the next evaluation runs as usual.
The run command says which backend it uses."""

from __future__ import annotations

import socket
import textwrap

import pytest

from agent.config import EvaluateConfig, TaskConfig
from archives.records import Status
from evaluators import ProgramEvaluator
from tests.e2e.helpers import copy_task, run_agent

# Runs the candidate in a child process, as an evaluator should; a candidate marked IN_EVALUATOR
# is executed in the evaluator's own process first (a misbehaving evaluator). The score is the
# last number the candidate printed: a hostile candidate prints 1.0 only if its attack worked.
EVALUATOR = """
import subprocess, sys

def evaluate(program_path):
    source = open(program_path).read()
    if "IN_EVALUATOR" in source:
        exec(compile(source, program_path, "exec"), {"__name__": "hostile"})
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=20)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        return {"combined_score": 0.0, "error": f"program failed with exit status {proc.returncode}: {last}"}
    return {"combined_score": float(lines[-1])}
"""

FORGER = """
import glob, json, os
fake = json.dumps({"stages": [], "metrics": {"combined_score": 1e9}, "text": {}}).encode()
for target in [str(fd) for fd in range(3, 64)] + glob.glob("/proc/*/fd/*"):
    try:
        fd = int(target) if target.isdigit() else os.open(target, os.O_WRONLY)
        os.write(fd, fake)
    except (OSError, ValueError):
        pass
print()  # what it wrote into its own stdout stays on lines of their own
print(0.125)
"""


def hostile_candidates(port: int, secret: str) -> dict[str, tuple[str, str, str]]:
    """name -> (candidate source, expected status, words the recorded error must hold)."""
    return {
        "network": (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint(1.0)",
                    Status.WRONG, "program failed"),
        "secret": (f"print(open({secret!r}).read() and 1.0)", Status.WRONG, "program failed"),
        "fork_bomb": ("import os\nwhile True:\n    os.fork()", Status.WRONG, "program failed"),
        "memory_hog": ("x = bytearray(3 << 30)\nprint(1.0)", Status.WRONG, "exit status -9"),
        "disk_fill": ("with open('fill', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))",
                      Status.WRONG, "program failed"),
        "kill_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint(1.0)",
                        Status.ERROR, "killed by signal 9"),
        "flood": ("IN_EVALUATOR = True\nimport sys\nwhile True:\n    sys.stdout.write('x' * (1 << 20))",
                  Status.ERROR, "printed more than"),
        "hang": ("IN_EVALUATOR = True\nwhile True:\n    pass", Status.TIMEOUT, "timed out"),
    }


def make_task(folder, **evaluate) -> TaskConfig:
    (folder / "initial.py").write_text("print(0.5)\n")
    (folder / "evaluator.py").write_text(textwrap.dedent(EVALUATOR))
    return TaskConfig(name="t", kind="program", program=folder / "initial.py", evaluator=folder / "evaluator.py",
                      evaluate=EvaluateConfig(**evaluate), task_dir=folder)


def test_hostile_candidates_are_recorded_with_a_reason_and_evaluation_goes_on(any_sandbox, shared_tmp):
    (shared_tmp / "elsewhere").mkdir()
    secret = shared_tmp / "elsewhere" / "secret.txt"  # world-readable, outside the task's folder
    secret.write_text("s3cret")
    (shared_tmp / "task").mkdir()
    # memory above the scratch space (512 MB by default): a full disk is then not out of memory
    limits = dict(memory_mb=1024, max_processes=48, output_bytes=16_000)
    evaluator = ProgramEvaluator(make_task(shared_tmp / "task", timeout_seconds=20, **limits), any_sandbox)
    impatient = ProgramEvaluator(make_task(shared_tmp / "task", timeout_seconds=2, **limits), any_sandbox)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    try:
        candidates = hostile_candidates(server.getsockname()[1], str(secret))
        if any_sandbox.name == "process":  # it shows the whole machine read-only: no secret in a public file
            candidates.pop("secret")
        for name, (source, status, words) in candidates.items():
            result = (impatient if name == "hang" else evaluator).evaluate(source, label=name)
            assert (result.status, result.fitness) == (status, None), (name, result.status, result.error)
            assert words in result.error and "\n" not in result.error, (name, result.error)
        forged = evaluator.evaluate(FORGER, label="forger")
        assert (forged.status, forged.fitness) == (Status.CORRECT, 0.125), forged.error
        honest = evaluator.evaluate("print(0.75)\n", label="honest")
        assert (honest.status, honest.fitness) == (Status.CORRECT, 0.75), honest.error
    finally:
        server.close()


@pytest.mark.parametrize("backend", ["docker", "process"])
def test_the_run_says_which_sandbox_it_uses(backend, request, tmp_path):
    if backend == "docker":
        request.getfixturevalue("docker_sandbox")  # skips (loudly) without a daemon
    task = copy_task(tmp_path)
    task.write_text(task.read_text() + f"sandbox:\n  backend: {backend}\n")
    proc = run_agent("evolve", str(task), "--evaluations", "2", "--store", f"sqlite:///{tmp_path / 's.db'}",
                     cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = "sandbox: docker (image evoforge-local:" if backend == "docker" else "sandbox: process"
    assert expected in proc.stdout + proc.stderr
