"""`agent evolve` on the process backend: the harness runs as the job's unprivileged user, a
candidate cannot read the key files beside the task, and a key it prints reaches the LLM
prompts only as "[redacted]" (the fake server records every request body). The task's initial
program is the leaking candidate, so it is the parent every prompt shows."""

from __future__ import annotations

import itertools
import json
import os

import pytest

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

FAKE_KEY = "sk-proj-" + "PLANTED" + "0123456789abcdef"
PRINTED_KEY = "sk-proj-" + "PRINTED" + "0123456789abcdef"


def leaking_program(planted: str) -> str:
    # The key it prints is assembled at run time: the candidate's source never holds it.
    body = f"""
import os
def attempt(path):
    try:
        return open(path).read()
    except OSError as exc:
        return type(exc).__name__
print("run.sh:", attempt({planted!r}), "shadow:", attempt("/etc/shadow"), "uid:", os.getuid())
print("found a key: " + "sk-proj-" + "PRINTED" + "0123456789abcdef")
"""
    return (f"# EVOLVE-BLOCK-START\nX = 3.0\nHOSTILE = 'leak'\n{body}\n# EVOLVE-BLOCK-END\n\n"
            "if __name__ == \"__main__\":\n    print(X)\n")


def good_program(x: float) -> str:
    return f"# EVOLVE-BLOCK-START\nX = {x!r}\n# EVOLVE-BLOCK-END\n\nif __name__ == \"__main__\":\n    print(X)\n"


def test_evolve_on_the_process_backend_keeps_keys_from_the_job_and_the_prompt(tmp_path):
    tmp_path.chmod(0o755)  # as a user's project folder usually is: only the sandbox keeps the job out
    planted = tmp_path / "run.sh"  # beside the task folder, as a user's launch script would be
    planted.write_text(f"export OPENAI_API_KEY={FAKE_KEY}\n")
    planted.chmod(0o644)
    task = copy_task(tmp_path)
    with task.open("a") as f:
        f.write("sandbox:\n  backend: process\n")
    (task.parent / "initial.py").write_text(leaking_program(str(planted)))  # every prompt's parent leaks
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        return Reply(f"```python\n{good_program(1.0 + 0.01 * next(counter))}```")

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        proc = run_agent("evolve", str(task), "--model", "openai/fake", "--api-base", server.url, "--store", url,
                         "--evaluations", "5", "--workers", "1", "-q", cwd=tmp_path, timeout=200)
        bodies = [json.dumps(r) for r in server.requests]
    assert proc.returncode == 0, proc.stderr
    summary = only_run(url)
    with Store(url) as store:
        programs = store.programs(summary.run.id)
    leak = [p for p in programs if "HOSTILE = 'leak'" in p.source]
    assert len(leak) == 1 and len(programs) == 5 and leak[0].status == Status.CORRECT, (leak[0].status, leak[0].error)
    assert leak[0].fitness == 0.0  # the harness ran and scored it, as the job's user
    feedback = leak[0].feedback
    assert "run.sh: " in feedback and FAKE_KEY not in feedback
    assert "run.sh: FileNotFoundError" in feedback or "run.sh: PermissionError" in feedback
    if os.geteuid() == 0:
        assert "shadow: FileNotFoundError" in feedback or "shadow: PermissionError" in feedback \
            or "shadow:  uid" in feedback
        assert "uid: 65534" in feedback
    assert bodies, "no prompt was sent"
    if not any("found a key" in b for b in bodies):
        pytest.fail("the leaking program's feedback never reached a prompt: the test proves nothing")
    assert not any(PRINTED_KEY in b or FAKE_KEY in b for b in bodies)
    assert any("found a key: [redacted]" in b for b in bodies)
