"""The prompt task kind: found by name, what it tells the proposer, and what it refuses."""

from __future__ import annotations

import random

import pytest

from agent.config import ConfigError, load_task
from agent.llm.ledger import DollarLedger
from agent.plugins import resolve
from evaluators.base import RunContext
from evaluators.prompt.kind import PromptKind, with_env_overrides
from tests.evaluators.prompt.conftest import ARITHMETIC, SENTIMENT


def test_the_registry_resolves_prompt_and_the_examples_load_as_prompt_tasks():
    assert resolve("kinds", "prompt") is PromptKind
    for folder in (SENTIMENT, ARITHMETIC):
        task = load_task(folder / "task.yaml")
        assert task.kind == "prompt" and task.kind_options.data.test.is_file()


def test_the_description_says_which_model_the_prompt_is_for_and_how_answers_are_scored():
    text = PromptKind().description(load_task(ARITHMETIC / "task.yaml"))
    assert text.startswith("prompt.txt is the system prompt")
    assert "openai/gpt-4o-mini" in text and "within 0.01 of the expected number" in text
    assert "{input}" in text and "not code" in text
    assert PromptKind().candidate_language(None) == "text"


def test_environment_variables_point_the_target_elsewhere_and_say_so(monkeypatch):
    options = load_task(SENTIMENT / "task.yaml").kind_options
    monkeypatch.setenv("EVOFORGE_PROMPT_TARGET_API_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("EVOFORGE_PROMPT_JUDGE_MODEL", "openai/judge")  # no judge in this task: ignored
    changed, notes = with_env_overrides(options)
    assert changed.target.api_base == "http://127.0.0.1:9/v1" and changed.target.model == options.target.model
    assert notes == ["prompt_task.target.api_base is 'http://127.0.0.1:9/v1' (from $EVOFORGE_PROMPT_TARGET_API_BASE)"]


def test_bad_data_is_a_config_error_naming_the_file_and_line(tmp_path):
    for name in ("validation", "test"):
        (tmp_path / f"{name}.jsonl").write_text('{"input": "ok", "answer": "a"}\n{"input": 5}\n')
    (tmp_path / "p.txt").write_text("Label it.")
    (tmp_path / "task.yaml").write_text(
        "name: t\nkind: prompt\nprogram: p.txt\nprompt_task:\n"
        "  data: {validation: validation.jsonl, test: test.jsonl}\n  target: {model: m}\n"
    )
    task = load_task(tmp_path / "task.yaml")
    context = RunContext(run_id="r", rng=random.Random(0), ledger=DollarLedger(None), store_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"prompt_task\.data: .*validation\.jsonl:2: 'input' must be a string"):
        PromptKind().build_evaluator(task, None, None, context)


def test_a_top_level_scorer_is_refused_for_prompt_tasks(tmp_path):
    for name in ("validation", "test"):
        (tmp_path / f"{name}.jsonl").write_text('{"input": "ok", "answer": "a"}\n')
    (tmp_path / "p.txt").write_text("Label it.")
    (tmp_path / "s.py").write_text("def f(m):\n    return 1.0\n")
    (tmp_path / "task.yaml").write_text(
        "name: t\nkind: prompt\nprogram: p.txt\nscorer: s.py:f\nprompt_task:\n"
        "  data: {validation: validation.jsonl, test: test.jsonl}\n  target: {model: m}\n"
    )
    with pytest.raises(ConfigError, match="prompt_task.scoring"):
        load_task(tmp_path / "task.yaml")


def test_a_scorer_that_needs_answers_refuses_examples_without_one(tmp_path):
    (tmp_path / "validation.jsonl").write_text('{"id": "v1", "input": "ok", "answer": "a"}\n{"id": "v2", "input": "no label"}\n')
    (tmp_path / "test.jsonl").write_text('{"id": "t1", "input": "ok", "answer": "a"}\n')
    (tmp_path / "p.txt").write_text("Label it.")
    (tmp_path / "task.yaml").write_text(
        "name: t\nkind: prompt\nprogram: p.txt\nprompt_task:\n"
        "  data: {validation: validation.jsonl, test: test.jsonl}\n  target: {model: m}\n"
    )
    task = load_task(tmp_path / "task.yaml")
    context = RunContext(run_id="r", rng=random.Random(0), ledger=DollarLedger(None), store_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"prompt_task\.data: example v2 has no 'answer' \(scoring.method exact needs one\)"):
        PromptKind().build_evaluator(task, None, None, context)
