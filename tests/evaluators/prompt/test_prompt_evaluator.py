"""The prompt evaluator against the fake target model (tests/fakes/target_server.py): staged
scoring, per-example results, the answer cache, cost in the ledger, loud configuration errors,
and the end-of-run report."""

from __future__ import annotations

import random
import re
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from agent.llm.ledger import DollarLedger
from archives.records import Program, Status
from archives.store import Store
from evaluators.base import RunContext
from tests.evaluators.prompt.conftest import ARITHMETIC, PRICED_MODEL, SENTIMENT, task_options

SENTIMENT_BEST = ("Classify the customer review as positive, negative or neutral; a review that states only facts "
                  "is neutral. Mind negation. Answer with one word.")  # fmt: skip
SENTIMENT_BAD = "Tell me what you think of this review."
ARITHMETIC_BEST = "Solve the word problem step by step. Keep decimal places when the answer is not whole."


def initial(task_dir: Path) -> str:
    return (task_dir / "prompt.txt").read_text()


def as_program(source: str, result, ident: str = "p") -> Program:
    return Program(id=ident, run_id="run", source=source, status=result.status, fitness=result.fitness,
                   metrics=result.metrics, examples=result.examples)  # fmt: skip


def test_initial_prompt_is_scored_on_the_whole_validation_split_with_per_example_results(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(SENTIMENT, fake_target.url), SENTIMENT)
    result = evaluator.evaluate(initial(SENTIMENT))
    assert result.status == Status.CORRECT and not result.evaluator_error
    assert result.metrics["stage"] == 1.0 and result.metrics["val_n"] == 30
    assert set(result.examples) == {e.id for e in evaluator.splits.validation}
    assert result.fitness == pytest.approx(sum(r.score for r in result.examples.values()) / 30)
    assert 0.3 < result.fitness < 0.7  # neutral and negated reviews are missed
    neutral = next(r for r in result.examples.values() if r.expected == "neutral")
    assert neutral.score == 0.0 and neutral.output == "positive" and "expected 'neutral'" in neutral.feedback
    assert neutral.split == "validation" and neutral.input
    assert "validation score" in result.feedback and "expected: 'neutral'" in result.feedback
    assert len(fake_target.requests) == 30


def test_better_prompt_scores_better_and_goes_past_the_minibatch(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(ARITHMETIC, fake_target.url), ARITHMETIC)
    first = evaluator.evaluate(initial(ARITHMETIC))
    better = evaluator.evaluate(ARITHMETIC_BEST, parent=as_program(initial(ARITHMETIC), first))
    assert first.fitness == pytest.approx(0.2)  # only the "buys N more" problems: the sum of the numbers
    assert better.fitness == 1.0 and better.metrics["stage"] == 1.0
    assert [s.name for s in better.stages] == ["minibatch", "validation"] and better.stages[0].ok
    assert better.metrics["minibatch_score"] == 1.0
    assert all(r.split == "validation" for r in better.examples.values())


def test_a_child_worse_on_the_minibatch_stops_there(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(SENTIMENT, fake_target.url, **{"minibatch.size": 6}), SENTIMENT)
    parent_result = evaluator.evaluate(initial(SENTIMENT))
    parent = as_program(initial(SENTIMENT), parent_result)
    before = len(fake_target.requests)
    child = evaluator.evaluate(SENTIMENT_BAD, parent=parent)
    assert len(fake_target.requests) - before == 6  # the minibatch only; the parent's results were stored
    assert child.status == Status.CORRECT and child.metrics["stage"] == 0.0 and child.metrics["val_n"] == 0
    assert len(child.examples) == 6 and all(r.split == "minibatch" for r in child.examples.values())
    assert child.fitness == 0.0 <= parent_result.fitness
    assert not child.stages[0].ok and "worse" in child.stages[0].message
    assert "val_score" not in child.metrics


def test_a_parent_without_stored_results_is_scored_on_the_minibatch_too(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(SENTIMENT, fake_target.url, **{"minibatch.size": 5}), SENTIMENT)
    parent = Program(id="p", run_id="run", source=initial(SENTIMENT), status=Status.CORRECT, fitness=0.5)
    child = evaluator.evaluate(SENTIMENT_BAD, parent=parent)
    assert child.metrics["stage"] == 0.0
    assert len(fake_target.requests) == 10  # the child's 5 and the parent's 5


def test_answers_are_cached_so_scoring_again_sends_nothing_even_for_a_new_evaluator(fake_target, make_evaluator, context):
    options = task_options(SENTIMENT, fake_target.url)
    first = make_evaluator(options, SENTIMENT).evaluate(initial(SENTIMENT))
    sent = len(fake_target.requests)
    again = make_evaluator(options, SENTIMENT).evaluate(initial(SENTIMENT))  # as a resumed run would
    assert len(fake_target.requests) == sent == 30
    assert again.fitness == first.fitness and again.metrics["cost_usd"] == 0.0
    other_model = task_options(SENTIMENT, fake_target.url, **{"target.max_tokens": 32})
    make_evaluator(other_model, SENTIMENT).evaluate(initial(SENTIMENT))
    assert len(fake_target.requests) == 60  # other parameters: other cache entries


def test_at_temperature_above_zero_a_repeat_draws_fresh_answers(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(SENTIMENT, fake_target.url, **{"target.temperature": 0.7}), SENTIMENT)
    evaluator.evaluate(initial(SENTIMENT))
    evaluator.evaluate(initial(SENTIMENT))
    assert len(fake_target.requests) == 60


def test_target_calls_count_in_the_shared_ledger_and_are_stored_with_purpose_target(fake_target, make_evaluator, tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lineage.db'}")
    run = store.create_run("prompt_sentiment", "task.yaml", "pq", 0, {})
    ledger = DollarLedger(5.0)
    ctx = RunContext(run_id=run.id, rng=random.Random(0), ledger=ledger, record_call=store.add_llm_call,
                     store_dir=tmp_path)  # fmt: skip
    options = task_options(SENTIMENT, fake_target.url, **{"target.model": PRICED_MODEL})
    result = make_evaluator(options, SENTIMENT, ctx).evaluate(initial(SENTIMENT))
    stored = store.llm_calls(run.id)
    assert len(stored) == 30 and {c.purpose for c in stored} == {"target"}
    assert ledger.spent > 0 and result.metrics["cost_usd"] == pytest.approx(ledger.spent)
    assert store.spend(run.id) == pytest.approx(ledger.spent)
    store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_target_is_the_evaluators_fault_in_one_line(make_evaluator):
    options = task_options(SENTIMENT, f"http://127.0.0.1:{_closed_port()}/v1")
    result = make_evaluator(options, SENTIMENT).evaluate(initial(SENTIMENT))
    assert result.status == Status.ERROR and result.evaluator_error
    assert "\n" not in result.error and result.error.startswith("target model")
    assert re.search(r"connect|refused|reach", result.error, re.IGNORECASE)


def test_a_missing_api_key_is_the_evaluators_fault(fake_target, make_evaluator, monkeypatch):
    monkeypatch.delenv("EVOFORGE_TEST_NO_SUCH_KEY", raising=False)
    options = task_options(SENTIMENT, fake_target.url, **{"target.api_key_env": "EVOFORGE_TEST_NO_SUCH_KEY"})
    result = make_evaluator(options, SENTIMENT).evaluate(initial(SENTIMENT))
    assert result.evaluator_error and "EVOFORGE_TEST_NO_SUCH_KEY" in result.error and "\n" not in result.error
    assert fake_target.requests == []


def test_a_prompt_without_the_named_sections_fails_to_build(fake_target, make_evaluator, tmp_path):
    options = task_options(SENTIMENT, fake_target.url, fields=["system", "instruction"])
    result = make_evaluator(options, SENTIMENT).evaluate("=== system ===\nYou label reviews.\n")
    assert result.status == Status.BUILD_FAILED and "=== instruction ===" in result.error
    assert fake_target.requests == []


def test_final_report_scores_initial_and_best_on_validation_and_test_with_intervals(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(SENTIMENT, fake_target.url), SENTIMENT)
    first = evaluator.evaluate(initial(SENTIMENT))
    start = as_program(initial(SENTIMENT), first, "p0")
    best = as_program(SENTIMENT_BEST, evaluator.evaluate(SENTIMENT_BEST, parent=start), "p1")
    before = len(fake_target.requests)
    report = evaluator.final_report(start, best)
    rows = {line.split()[0]: line for line in report.splitlines() if line.startswith(("initial", "best"))}
    numbers = [[float(x) for x in re.findall(r"\d\.\d{3}", rows[k])] for k in ("initial", "best")]
    (i_val, i_lo, i_hi, i_test, *_), (b_val, b_lo, b_hi, b_test, b_test_lo, _) = numbers
    assert i_lo <= i_val <= i_hi and b_lo <= b_val <= b_hi
    assert b_test == 1.0 and i_test < 0.7 and b_test_lo > i_test  # the best clearly beats the initial, held out
    assert "test (n=30, held out)" in report and "95%" in report
    assert len(fake_target.requests) - before == 60  # the test split, for both; validation came from the cache
    assert evaluator.final_report(start, best).splitlines()[:4] == report.splitlines()[:4]  # seeded intervals


def test_stage_zero_fitness_never_exceeds_the_parents(fake_target, make_evaluator):
    evaluator = make_evaluator(task_options(SENTIMENT, fake_target.url), SENTIMENT)
    best = as_program(SENTIMENT_BEST, evaluator.evaluate(SENTIMENT_BEST))
    no_negation = "Label the review positive, negative or neutral (facts only: neutral). Answer with one word."
    child = evaluator.evaluate(no_negation, parent=replace(best, fitness=0.2))
    assert child.metrics["stage"] == 0.0 and 0.2 < child.metrics["minibatch_score"] < 1.0
    assert child.fitness == 0.2  # worse than its parent on the minibatch: never ranked above it


def test_a_prompt_of_named_sections_with_markers_is_scored_like_the_plain_one(fake_target, make_evaluator):
    options = task_options(SENTIMENT, fake_target.url, fields=["system", "instruction"])
    sectioned = ("=== system ===\n# EVOLVE-BLOCK-START\n" + SENTIMENT_BEST + "\n# EVOLVE-BLOCK-END\n"
                 "=== instruction ===\nThe review:\n")  # fmt: skip
    result = make_evaluator(options, SENTIMENT).evaluate(sectioned)
    assert result.fitness == 1.0
    first = fake_target.requests[0]["messages"]
    assert first[0] == {"role": "system", "content": SENTIMENT_BEST}
    assert first[1]["content"].startswith("The review:\n\n")
