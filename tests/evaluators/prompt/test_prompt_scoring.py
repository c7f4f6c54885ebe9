"""The answer scorers (evaluators/prompt/scoring.py) and the LLM judge (judge.py)."""

from __future__ import annotations

import pytest

from evaluators.prompt.config import PromptTaskConfig, ScoringConfig
from evaluators.prompt.data import Example
from evaluators.prompt.scoring import ScoringError, build_scorer, last_number
from tests.evaluators.prompt.conftest import SENTIMENT
from tests.fakes.openai_server import Reply
from tests.fakes.target_server import split_request


def scorer(tmp_path=None, **config):
    return build_scorer(ScoringConfig.model_validate(config), tmp_path)


def test_exact_ignores_case_spaces_quotes_and_final_punctuation_unless_told_not_to():
    example = Example("1", "x", "Positive")
    assert scorer(method="exact")(example, '  "positive." ').score == 1.0
    wrong = scorer(method="exact")(example, "The sentiment is positive.")
    assert wrong.score == 0.0 and wrong.feedback == "expected 'Positive', got 'The sentiment is positive.'"
    assert scorer(method="exact", normalize=False)(example, "positive").score == 0.0


def test_regex_searches_the_answer_with_the_expected_answer_put_in():
    example = Example("1", "x", "4.5")
    assert scorer(method="regex", pattern=r"ANSWER: {answer}\b")(example, "so ANSWER: 4.5").score == 1.0
    assert scorer(method="regex", pattern=r"ANSWER: {answer}\b")(example, "ANSWER: 405").score == 0.0  # dot escaped
    assert scorer(method="regex", pattern=r"^\w+$")(example, "one").score == 1.0


def test_numeric_reads_the_last_number_within_tolerance():
    example = Example("1", "x", 9.5)
    score = scorer(method="numeric", tolerance=0.01)
    assert score(example, "4 + 5.5 = 9.5 apples").score == 1.0
    assert score(example, "9.5, no wait, 10").feedback == "expected 9.5, the answer's last number is 10"
    assert score(example, "no idea").score == 0.0
    assert scorer(method="numeric", relative_tolerance=0.1)(Example("2", "x", "1,000"), "about 1,050").score == 1.0
    assert last_number("costs $1,234.50 total") == 1234.5
    with pytest.raises(ScoringError, match="not a number"):
        score(Example("3", "x", "many"), "5")


def test_json_schema_takes_the_answer_or_a_fenced_block_and_names_where_it_breaks(tmp_path):
    (tmp_path / "s.json").write_text('{"type": "object", "required": ["label"], "properties": {"label": {"enum": ["a", "b"]}}}')
    score = scorer(tmp_path, method="json_schema", schema="s.json")
    example = Example("1", "x")
    assert score(example, '{"label": "a"}').score == 1.0
    assert score(example, 'Here:\n```json\n{"label": "b"}\n```').score == 1.0
    bad = score(example, '{"label": "c"}')
    assert bad.score == 0.0 and "at label" in bad.feedback
    assert "no JSON" in score(example, "sure!").feedback
    with pytest.raises(ScoringError, match="not a valid JSON Schema"):
        scorer(tmp_path, method="json_schema", schema={"type": 12})


def test_a_custom_scorer_gets_the_example_and_the_output_and_may_give_feedback(tmp_path):
    (tmp_path / "my_score.py").write_text(
        "def score(example, output):\n"
        "    if output == example['answer']:\n        return 1.0\n"
        "    return 0.25, f'close to {example[\"answer\"]}'\n"
        "def broken(example, output):\n    raise KeyError('oops')\n"
        "def too_big(example, output):\n    return 3\n"
        "def with_sandbox(example, output, sandbox=None):\n    return 1.0 if sandbox == 'the sandbox' else 0.0\n"
    )
    example = Example("1", "x", "yes")
    custom = scorer(tmp_path, method="custom", function="my_score.py:score")
    assert custom(example, "yes").score == 1.0
    assert (custom(example, "no").score, custom(example, "no").feedback) == (0.25, "close to yes")
    with pytest.raises(ScoringError, match="raised KeyError"):
        scorer(tmp_path, method="custom", function="my_score.py:broken")(example, "x")
    with pytest.raises(ScoringError, match="outside 0..1"):
        scorer(tmp_path, method="custom", function="my_score.py:too_big")(example, "x")
    with pytest.raises(ScoringError, match="no function 'nope'"):
        scorer(tmp_path, method="custom", function="my_score.py:nope")
    sandboxed = build_scorer(ScoringConfig(method="custom", function="my_score.py:with_sandbox"), tmp_path, "the sandbox")
    assert sandboxed(example, "x").score == 1.0


def _judge_responder(request: dict) -> Reply:
    instructions, question = split_request(request["messages"])
    if "WINNER" in instructions:  # pairwise: the longer answer wins
        a = question.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
        b = question.split("Answer B:\n")[1]
        return Reply(f"Reason: length.\nWINNER: {'A' if len(a) > len(b) else 'B' if len(b) > len(a) else 'TIE'}")
    return Reply("Reason: matches.\nSCORE: 8" if "Expected answer:\npositive" in question else "Nope.\nSCORE: 2")


def _judged(fake_llm, make_evaluator, pairwise: bool):
    fake_llm.set_responder(_judge_responder)
    raw = {
        "data": {"validation": "data/validation.jsonl", "test": "data/test.jsonl"},
        "target": {"model": "openai/fake", "api_base": fake_llm.url, "retries": 0},
        "scoring": {"method": "llm_judge", "judge": {"model": "openai/judge", "api_base": fake_llm.url,
                                                     "rubric": "Be right.", "pairwise": pairwise}},
    }  # fmt: skip
    return make_evaluator(PromptTaskConfig.model_validate(raw), SENTIMENT)


def test_an_llm_judge_scores_by_its_rubric_and_its_calls_are_recorded_as_judge(fake_llm, make_evaluator, calls):
    evaluator = _judged(fake_llm, make_evaluator, pairwise=False)
    result = evaluator.evaluate("Label the review.")
    positive = [r for r in result.examples.values() if r.expected == "positive"]
    assert positive and all(r.score == 0.8 for r in positive)
    assert all(r.score == 0.2 for r in result.examples.values() if r.expected != "positive")
    assert "judge: 8/10 (Reason: matches.)" in positive[0].feedback
    assert {c.purpose for c in calls} == {"target", "judge"}


def test_a_pairwise_judge_compares_with_the_current_best_prompt(fake_llm, make_evaluator):
    evaluator = _judged(fake_llm, make_evaluator, pairwise=True)
    first = evaluator.evaluate("Label the review.")
    assert first.fitness == 0.5  # the first prompt is the reference: a tie with itself
    # The fake target echoes "ok" to everything; make the new prompt's answers longer, so they win.
    fake_llm.set_responder(lambda r: _judge_responder(r) if r["model"] == "judge" else
                           Reply("a longer answer" if "Say more" in r["messages"][0]["content"] else "ok"))  # fmt: skip
    better = evaluator.evaluate("Say more about the review.")
    assert better.fitness == 1.0 and "better than the current best" in next(iter(better.examples.values())).feedback
