"""Candidates that hang, crash, exit early, flood output or forge results: each is recorded as
failed with a readable reason, and the run goes on to spend its whole budget.

The quadratic task's evaluator executes a candidate marked HOSTILE inside its own process, so
these programs act as a misbehaving evaluator would. The forger runs as a candidate should, in
the evaluator's child process, and tries to write a result into every descriptor it can reach.
"""

from __future__ import annotations

import itertools

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

HOSTILE = {
    "hang": "while True:\n    pass",
    "crash": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
    "exit_early": "import os\nos._exit(0)",
    "flood": "import sys\nchunk = 'x' * (1 << 20)\nfor _ in range(4096):\n    sys.stdout.write(chunk)",
    "raise": "raise RuntimeError('candidate blew up on purpose')",
}

EXPECTED = {
    "hang": (Status.TIMEOUT, "timed out"),
    "crash": (Status.ERROR, "signal"),
    "exit_early": (Status.ERROR, "without a result"),
    "flood": (Status.ERROR, "printed more than"),
    "raise": (Status.ERROR, "candidate blew up on purpose"),
}


def hostile_program(name: str, x: float) -> str:
    body = HOSTILE[name]
    return f"# EVOLVE-BLOCK-START\nX = {x!r}\nHOSTILE = {name!r}\n{body}\n# EVOLVE-BLOCK-END\n\nif __name__ == \"__main__\":\n    print(X)\n"


FORGER = """# EVOLVE-BLOCK-START
X = 0.5
import glob, json, os
fake = json.dumps({"stages": [], "metrics": {"combined_score": 1e9}, "text": {}}).encode()
targets = [str(fd) for fd in range(3, 64)] + glob.glob(f"/proc/{os.getppid()}/fd/*") + glob.glob("/proc/1/fd/*")
for target in targets:
    try:
        fd = int(target) if target.isdigit() else os.open(target, os.O_WRONLY)
        os.write(fd, fake)
    except (OSError, ValueError):
        pass
print(fake.decode())
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
"""


def good_program(x: float) -> str:
    return f"# EVOLVE-BLOCK-START\nX = {x!r}\n# EVOLVE-BLOCK-END\n\nif __name__ == \"__main__\":\n    print(X)\n"


def test_hostile_candidates_are_recorded_as_failed_and_the_run_goes_on(tmp_path):
    task = copy_task(tmp_path)
    (task.parent / "task.yaml").write_text(
        task.read_text().replace("timeout_seconds: 20", "timeout_seconds: 4")
    )
    names = list(HOSTILE)
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        k = next(counter)
        if k < len(names):
            return Reply(f"```python\n{hostile_program(names[k], 1.0 + k)}```")
        if k == len(names):
            return Reply(f"```python\n{FORGER}```")
        return Reply(f"```python\n{good_program(2.0 + 0.01 * k)}```")

    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        proc = run_agent(
            "evolve", str(task), "--model", "openai/fake", "--api-base", server.url, "--store", url,
            "--evaluations", "12", "--workers", "2", "-q", cwd=tmp_path, timeout=200,
        )
    assert proc.returncode == 0, proc.stderr
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 12
    assert_lineage_is_whole(url, summary.run.id)
    with Store(url) as store:
        programs = store.programs(summary.run.id)
    for program in programs:
        if "HOSTILE = " not in program.source:
            continue
        name = program.source.split("HOSTILE = ", 1)[1].split("\n", 1)[0].strip("'")
        status, words = EXPECTED[name]
        assert program.status == status, (name, program.status, program.error)
        assert words in program.error, (name, program.error)
        assert "\n" not in program.error
        assert program.fitness is None
    seen = {p.source.split("HOSTILE = ", 1)[1].split("\n", 1)[0].strip("'") for p in programs if "HOSTILE = " in p.source}
    assert seen == set(HOSTILE)
    # The forger was scored on what it did (X = 0.5), never on what it wrote.
    forger = [p for p in programs if "fake = json.dumps" in p.source]
    assert len(forger) == 1 and forger[0].status == Status.CORRECT
    assert forger[0].fitness == -((0.5 - 3.0) ** 2)
    assert max(p.fitness for p in programs if p.fitness is not None) <= 0
