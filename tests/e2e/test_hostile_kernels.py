"""A kernel task's run through `agent evolve` where the LLM answers with hostile kernels: each is
stored as failed with a one-line reason, and the run goes on to spend its whole budget.

The kernels are the exploit suite's (tests/evaluators/kernel/hostile), sent by the fake
OpenAI server as whole programs; the run uses the default sandbox backend (Docker where a
daemon answers, as in CI) and, without a GPU, Triton's interpreter.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import assert_lineage_is_whole, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "evaluators" / "kernel" / "hostile"

# name -> (statuses it may get, words its one-line error must hold)
EXPECTED = {
    "hangs": ({Status.TIMEOUT}, "no answer within"),
    "crashes": ({Status.ERROR, Status.WRONG}, "the candidate's process"),
    "no_compute": ({Status.WRONG}, "trial 1"),
    "patches_dispatcher": ({Status.BUILD_FAILED}, "re-registered the operator aten::_softmax"),
    "forges_result": ({Status.WRONG}, "correctness"),
    "calls_reference_op": ({Status.WRONG}, "torch.softmax"),
    "fork_bomb": ({Status.WRONG}, "os.fork"),
    "memory_hog": ({Status.ERROR, Status.WRONG}, "memory"),
}


def _task(tmp_path: Path) -> Path:
    folder = tmp_path / "softmax"
    shutil.copytree(ROOT / "tasks" / "softmax_triton", folder)
    task = folder / "task.yaml"
    text = task.read_text().replace("evaluate: {workers: 2, timeout_seconds: 600, memory_mb: 16384}",
                                    "evaluate: {workers: 2, timeout_seconds: 90, memory_mb: 3000}")
    # Long enough for the memory hog to reach its limit on a loaded 2-core machine (10 s was not),
    # short enough that the kernel that hangs does not hold the run for minutes.
    task.write_text(text.replace("kernel:\n", "kernel:\n  compile_timeout_seconds: 30\n"))
    for path in (tmp_path, folder):  # a container's user reads the reference
        path.chmod(0o755)
    return task


def _honest(num_warps: int) -> str:
    source = (ROOT / "tasks" / "softmax_triton" / "initial.py").read_text()
    return source.replace("NUM_WARPS = 8", f"NUM_WARPS = {num_warps}")


def test_hostile_kernels_are_recorded_as_failed_and_the_run_goes_on(tmp_path):
    task = _task(tmp_path)
    names = list(EXPECTED)
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        k = next(counter)
        source = (HOSTILE / f"{names[k]}.py").read_text() if k < len(names) else _honest((1, 2, 4, 16)[k % 4])
        return Reply(f"```python\n{source}```")

    url = f"sqlite:///{tmp_path / 'store.db'}"
    budget = 1 + len(names) + 2  # the initial kernel, every hostile one, two honest ones (greedy: no repeats)
    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        proc = run_agent("evolve", str(task), "--model", "openai/fake", "--api-base", server.url, "--store", url,
                         "--evaluations", str(budget), "--strategy", "greedy", "-q", cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == budget, proc.stderr[-3000:]
    assert_lineage_is_whole(url, summary.run.id)
    with Store(url) as store:
        programs = store.programs(summary.run.id)
    seen = set()
    for program in programs:
        name = next((n for n in names if program.source == (HOSTILE / f"{n}.py").read_text()), None)
        if name is None:
            continue
        seen.add(name)
        statuses, words = EXPECTED[name]
        assert program.status in statuses, (name, program.status, program.error)
        assert words in program.error and "\n" not in program.error, (name, program.error)
        assert program.fitness is None
    assert seen == set(names)
    honest = [p for p in programs if "NUM_WARPS = " in p.source and p.status == Status.CORRECT]
    assert len(honest) >= 3  # the initial kernel and the honest rewrites, judged after all that
