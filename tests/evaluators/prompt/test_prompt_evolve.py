"""`agent evolve` on both example prompt tasks, as shipped, through two fake servers: the
target model (tests/fakes/target_server.py, pointed at by $EVOFORGE_PROMPT_TARGET_API_BASE,
so the task files stay unchanged) and a proposer that answers a better prompt. The best prompt
beats the initial one on the held-out test split of the end report."""

from __future__ import annotations

import re
import shutil

import pytest

from archives.store import Store
from tests.e2e.helpers import only_run, run_agent
from tests.evaluators.prompt.conftest import ARITHMETIC, SENTIMENT
from tests.evaluators.prompt.test_prompt_evaluator import ARITHMETIC_BEST, SENTIMENT_BEST
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.fakes.target_server import target_server


def report_row(report: str, row: str) -> list[float]:
    line = next(line for line in report.splitlines() if line.strip().startswith(row))
    return [float(x) for x in re.findall(r"\d\.\d{3}", line)]


@pytest.mark.parametrize(("task", "better"), [(SENTIMENT, SENTIMENT_BEST), (ARITHMETIC, ARITHMETIC_BEST)],
                         ids=["sentiment", "arithmetic"])  # fmt: skip
def test_evolve_finds_a_prompt_that_beats_the_initial_one_on_the_test_split(tmp_path, monkeypatch, task, better):
    folder = tmp_path / task.name
    shutil.copytree(task, folder)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    # Two evaluations: the initial prompt and the proposer's only answer (asked for more, it could
    # only repeat that answer, and a run that stops finding anything new to evaluate fails).
    with target_server() as target, FakeOpenAIServer([Reply(f"A clearer prompt.\n\n```text\n{better}\n```\n")]) as llm:
        monkeypatch.setenv("EVOFORGE_PROMPT_TARGET_API_BASE", target.url)
        proc = run_agent("evolve", str(folder / "task.yaml"), "--model", "openai/fake-proposer", "--api-base", llm.url,
                         "--store", url, "--evaluations", "2", cwd=tmp_path)  # fmt: skip
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "EVOFORGE_PROMPT_TARGET_API_BASE" in output  # the run says where the target model went
    initial_val, _, _, initial_test, _, _ = report_row(output, "initial prompt")
    best_val, _, _, best_test, best_test_low, _ = report_row(output, "best prompt")
    assert best_test == 1.0 and best_test > initial_test and best_val > initial_val
    assert re.search(r"proposer \$\d+\.\d{4}, target \$\d+\.\d{4}\)", output)  # the target's spend shown apart
    summary = only_run(url)
    with Store(url) as store:
        best = store.best_programs(summary.run.id, 1)[0]
        calls = store.llm_calls(summary.run.id)
    assert best.source.strip() == better and len(best.examples) == 30
    assert {c.purpose for c in calls} == {"proposer", "target"}


def test_an_unreachable_target_stops_the_run_with_one_line_before_any_proposal(tmp_path, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    folder = tmp_path / SENTIMENT.name
    shutil.copytree(SENTIMENT, folder)
    with FakeOpenAIServer([Reply("```text\nnever used\n```")]) as llm:
        monkeypatch.setenv("EVOFORGE_PROMPT_TARGET_API_BASE", f"http://127.0.0.1:{closed}/v1")
        proc = run_agent("evolve", str(folder / "task.yaml"), "--model", "openai/fake-proposer", "--api-base", llm.url,
                         "--store", f"sqlite:///{tmp_path / 'store.db'}", "--evaluations", "4", cwd=tmp_path)  # fmt: skip
        asked = llm.requests
    assert proc.returncode != 0 and asked == []
    assert "target model openai/gpt-4o-mini" in proc.stderr and "Traceback" not in proc.stderr
