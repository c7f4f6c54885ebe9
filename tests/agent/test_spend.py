"""The spend report (agent/spend.py) over a real SQLite store filled through the Store's methods:
each call counts under what its program came to (evaluated, pending, duplicate, unapplied), a
plan call with the child that implemented it, bookkeeping calls as summaries, failed and unlinked
calls as nothing, the evaluator's calls apart; the share that bought an evaluation; `agent show`'s
lines and the end-of-run summary's counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.helpers import run_agent

from agent.spend import Spend, outcome_summary, spend_by_outcome, spend_lines
from archives.records import LLMCall, Status
from archives.store import Store
from tests.viewer.spend_fixture import MINI, SONNET, new_run, priced

@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'runs' / 'spend.db'}") as s:
        yield s


def test_each_call_counts_under_what_its_program_came_to(store):
    f = new_run(store)
    evaluated = f.call(SONNET, f.child(Status.CORRECT), role="draft") + f.call(SONNET, f.child(Status.WRONG))
    evaluated += f.call(SONNET, f.child(Status.BUILD_FAILED)) + f.call(SONNET, f.child(Status.TIMEOUT))
    duplicate = f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"))
    duplicate += f.call(SONNET, f.child(Status.DUPLICATE, "near-duplicate of program 1234abcd"))
    unapplied = f.call(SONNET, f.child(Status.APPLY_FAILED, "SEARCH block not found"), tokens=(2000, 100))
    pending = f.call(SONNET, f.child(Status.PENDING))
    (sonnet,) = spend_by_outcome(store, f.run_id).models
    assert sonnet.model == SONNET
    assert sonnet.outcomes == {
        "evaluated": Spend(4, pytest.approx(evaluated)), "pending": Spend(1, pytest.approx(pending)),
        "duplicate": Spend(2, pytest.approx(duplicate)), "unapplied": Spend(1, pytest.approx(unapplied)),
        "summary": Spend(), "nothing": Spend(),
    }  # fmt: skip
    assert sonnet.total == Spend(8, pytest.approx(evaluated + duplicate + unapplied + pending))


def test_a_plan_call_counts_with_the_child_that_implemented_it(store):
    f = new_run(store)
    good, copy = f.child(Status.CORRECT), f.child(Status.DUPLICATE, "same source as program 1234abcd")
    evaluated = f.call(SONNET, good, role="plan") + f.call(MINI, good, role="draft")
    duplicate = f.call(SONNET, copy, role="plan")
    duplicate_mini = f.call(MINI, copy, role="draft")
    by_model = {m.model: m.outcomes for m in spend_by_outcome(store, f.run_id).models}
    assert by_model[SONNET]["evaluated"] == Spend(1, pytest.approx(priced(SONNET, 1000, 500)))
    assert by_model[SONNET]["duplicate"] == Spend(1, pytest.approx(duplicate))
    assert by_model[MINI]["evaluated"] == Spend(1, pytest.approx(evaluated - priced(SONNET, 1000, 500)))
    assert by_model[MINI]["duplicate"] == Spend(1, pytest.approx(duplicate_mini))


def test_bookkeeping_calls_are_summaries_and_failed_or_unlinked_calls_bought_nothing(store):
    f = new_run(store)
    summary = f.call(MINI, role="summarize") + f.call(MINI, role="meta") + f.call(MINI, role="distil")
    lost = f.child(Status.APPLY_FAILED, "LLM call failed: openai/gpt-4o-mini: timed out")
    nothing = f.call(MINI, lost, role="draft", error="timed out (gave up after 3 attempts)", tokens=(0, 0))
    nothing += f.call(MINI, tokens=(1500, 700))  # paid for after the run's time was up: never linked
    nothing += f.call(MINI, role="summarize", error="rate limited", tokens=(0, 0))  # failed: not a summary
    (mini,) = spend_by_outcome(store, f.run_id).models
    assert mini.outcomes["summary"] == Spend(3, pytest.approx(summary))
    assert mini.outcomes["nothing"] == Spend(3, pytest.approx(nothing))
    assert mini.outcomes["unapplied"] == Spend() and mini.outcomes["evaluated"] == Spend()
    assert mini.dollar_share == 0.0 and mini.call_share == 0.0


def test_the_share_that_bought_an_evaluation_is_of_dollars_and_of_calls(store):
    f = new_run(store)
    f.call(SONNET, f.child(Status.CORRECT), tokens=(3000, 1000))  # $0.024
    f.call(SONNET, f.child(Status.CORRECT), tokens=(3000, 1000))
    f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"), tokens=(1000, 200))  # $0.006
    f.call(SONNET, f.child(Status.APPLY_FAILED, "the edit changes code outside the EVOLVE blocks"), tokens=(1000, 200))
    (sonnet,) = spend_by_outcome(store, f.run_id).models
    assert sonnet.dollar_share == pytest.approx(0.048 / 0.060)
    assert sonnet.call_share == 0.5


def test_free_calls_have_a_call_share_and_no_dollar_share(store):
    f = new_run(store)
    store.add_llm_call(LLMCall(id="free1".ljust(32, "0"), run_id=f.run_id, model="ollama/qwen", prompt="[]",
                               program_id=f.child(Status.CORRECT).id))  # fmt: skip
    store.add_llm_call(LLMCall(id="free2".ljust(32, "0"), run_id=f.run_id, model="ollama/qwen", prompt="[]"))
    (local,) = spend_by_outcome(store, f.run_id).models
    assert local.dollar_share is None and local.call_share == 0.5
    assert "bought an evaluation: 50% of the calls" in spend_lines(store, f.run_id)[1]


def test_the_evaluators_calls_are_reported_apart_and_other_runs_do_not_count(store):
    f = new_run(store)
    program = f.child(Status.CORRECT)
    proposer = f.call(SONNET, program)
    target = f.call(MINI, program, purpose="target") + f.call(MINI, program, purpose="target", error="refused")
    judge = f.call(SONNET, program, purpose="judge")
    other = new_run(store, "other")
    other.call(SONNET, other.child(Status.DUPLICATE, "same source as program 1234abcd"))
    report = spend_by_outcome(store, f.run_id)
    assert [m.model for m in report.models] == [SONNET]
    assert report.models[0].total == Spend(1, pytest.approx(proposer))
    assert report.evaluator == {MINI: Spend(2, pytest.approx(target)), SONNET: Spend(1, pytest.approx(judge))}


def test_models_come_most_expensive_first_with_a_total_over_all_of_them(store):
    f = new_run(store)
    f.call(MINI, f.child(Status.CORRECT), tokens=(10_000, 5_000))
    f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"))
    f.call(SONNET, f.child(Status.APPLY_FAILED, "SEARCH block not found"))
    report = spend_by_outcome(store, f.run_id)
    assert [m.model for m in report.models] == [SONNET, MINI]
    every = report.all_models
    assert every.model == "all models" and every.total.calls == 3
    assert every.outcomes["evaluated"] == Spend(1, pytest.approx(priced(MINI, 10_000, 5_000)))
    assert every.outcomes["duplicate"].calls == 1 and every.outcomes["unapplied"].calls == 1


def test_show_lines_give_a_small_table_per_model_and_the_total(store):
    f = new_run(store)
    f.call(SONNET, f.child(Status.CORRECT), tokens=(3000, 1000))  # $0.0240
    f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"), tokens=(1000, 200))  # $0.0060
    f.call(SONNET, f.child(Status.APPLY_FAILED, "SEARCH block not found"), tokens=(1000, 200))
    f.call(MINI, role="summarize", tokens=(10_000, 1000))  # $0.0021
    lines = spend_lines(store, f.run_id)
    assert lines[0] == "LLM spend by outcome"
    start = lines.index(f"  {SONNET}: $0.0360 over 3 calls; bought an evaluation: 67% of the dollars, 33% of the calls")
    table = [line.split() for line in lines[start + 1:start + 7]]
    assert table == [
        ["outcome", "dollars", "calls"], ["evaluated", "$0.0240", "1"], ["duplicate", "$0.0060", "1"],
        ["unapplied", "$0.0060", "1"], ["summary", "$0.0000", "0"], ["nothing", "$0.0000", "0"],
    ]  # fmt: skip
    assert f"  {MINI}: $0.0021 over 1 call; bought an evaluation: 0% of the dollars, 0% of the calls" in lines
    assert "  all models: $0.0381 over 4 calls; bought an evaluation: 63% of the dollars, 25% of the calls" in lines
    assert not any("pending" in line for line in lines)  # shown only when some call waits for its evaluation


def test_a_run_without_llm_calls_shows_no_spend_lines(store):
    f = new_run(store)  # the built-in tuner proposed: no call
    f.child(Status.CORRECT)
    assert spend_lines(store, f.run_id) == []
    assert outcome_summary(spend_by_outcome(store, f.run_id)) == ""


def test_the_summary_counts_duplicate_and_unapplied_calls_apart(store):
    f = new_run(store)
    for _ in range(3):
        f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"), tokens=(1000, 200))
    for _ in range(2):
        f.call(SONNET, f.child(Status.APPLY_FAILED, "the edit changes code outside the EVOLVE blocks"), tokens=(1000, 200))
    f.call(SONNET, f.child(Status.PENDING), tokens=(1000, 200))
    assert outcome_summary(spend_by_outcome(store, f.run_id)) == (
        "evaluated 0 ($0.0000), pending 1 ($0.0060), duplicate 3 ($0.0180), unapplied 2 ($0.0120), "
        "summary 0 ($0.0000), nothing 0 ($0.0000)"
    )


def test_agent_show_prints_the_spend_lines_as_text(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'runs' / 'shown.db'}"
    with Store(url) as store:
        f = new_run(store)
        f.call(SONNET, f.child(Status.CORRECT), tokens=(3000, 1000))
        f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"), tokens=(1000, 200))
        store.add_llm_call(LLMCall(id="markup".ljust(32, "0"), run_id=f.run_id, model="openai/[bold]x[/bold]",
                                   prompt="[]", program_id=f.child(Status.APPLY_FAILED, "SEARCH block not found").id))
        expected = spend_lines(store, f.run_id)
    shown = run_agent("show", f.run_id[:8], "--store", url, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "\n".join(expected) + "\n" in shown.stdout  # a model name's brackets printed as they are, not as rich markup
    assert "  openai/[bold]x[/bold]: $0.0000 over 1 call; bought an evaluation: 0% of the calls" in expected
