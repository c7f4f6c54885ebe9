"""Prompt-task data: JSONL reading with one-line errors, seeded splits, and the task-file keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import ConfigError, load_task
from evaluators.prompt.config import DataConfig
from evaluators.prompt.data import DataError, load_splits, read_jsonl
from tests.evaluators.prompt.conftest import SENTIMENT


def write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_examples_are_read_with_ids_from_the_file_or_the_line(tmp_path):
    path = write(tmp_path / "d.jsonl", [{"id": "a", "input": "x", "answer": 1}, "", {"input": {"q": "y"}}])
    examples = read_jsonl(path)
    assert [e.id for e in examples] == ["a", "d.jsonl:3"]
    assert examples[0].answer == 1 and examples[1].input == {"q": "y"} and not examples[1].has_answer


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"d\.jsonl:2: not valid JSON"),
        ('["a list"]', r"d\.jsonl:2: expected a JSON object, got list"),
        ('{"answer": 1}', r"d\.jsonl:2: no 'input'"),
        ('{"input": 3}', r"d\.jsonl:2: 'input' must be a string or an object"),
        ('{"input": "x", "label": "y"}', r"d\.jsonl:2: unknown key 'label'"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "d.jsonl", [{"input": "fine"}, line])
    with pytest.raises(DataError, match=message) as caught:
        read_jsonl(path)
    assert "\n" not in str(caught.value)


def test_one_file_is_split_by_fractions_the_same_way_every_time(tmp_path):
    write(tmp_path / "all.jsonl", [{"id": str(i), "input": f"q{i}"} for i in range(20)])
    config = DataConfig(file=Path("all.jsonl"), split={"train": 0.5, "validation": 0.25, "test": 0.25}, seed=3)
    first, again = load_splits(config, tmp_path), load_splits(config, tmp_path)
    assert (len(first.train), len(first.validation), len(first.test)) == (10, 5, 5)
    assert first == again
    ids = [e.id for part in (first.train, first.validation, first.test) for e in part]
    assert sorted(ids, key=int) == [str(i) for i in range(20)]
    other = load_splits(config.model_copy(update={"seed": 4}), tmp_path)
    assert other.test != first.test


def test_an_id_in_two_splits_is_refused(tmp_path):
    write(tmp_path / "v.jsonl", [{"id": "same", "input": "a"}])
    write(tmp_path / "t.jsonl", [{"id": "same", "input": "b"}])
    with pytest.raises(DataError, match="'same' appears twice"):
        load_splits(DataConfig(validation=Path("v.jsonl"), test=Path("t.jsonl")), tmp_path)


def _task_with(tmp_path: Path, prompt_task: str) -> Path:
    for name in ("train", "validation", "test"):
        (tmp_path / f"{name}.jsonl").write_text((SENTIMENT / "data" / f"{name}.jsonl").read_text())
    (tmp_path / "prompt.txt").write_text("Label it.")
    task = tmp_path / "task.yaml"
    task.write_text(f"name: t\nkind: prompt\nprogram: prompt.txt\nprompt_task:\n{prompt_task}")
    return task


def test_the_task_file_keys_load_and_unknown_ones_are_one_line_errors(tmp_path):
    good = "  data: {validation: validation.jsonl, test: test.jsonl}\n  target: {model: openai/gpt-4o-mini}\n"
    task = load_task(_task_with(tmp_path, good))
    assert task.kind_options.data.validation == tmp_path / "validation.jsonl"
    assert task.kind_options.minibatch.size == 8 and task.kind_options.scoring.method == "exact"
    bad = good + "  scoring: {method: numeric, tolerence: 0.1}\n"
    with pytest.raises(ConfigError, match=r"prompt_task\.scoring\.tolerence: unknown key") as caught:
        load_task(_task_with(tmp_path, bad))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  scoring: {method: regex}\n", "pattern: required key is missing"),
        ("  scoring: {method: regex, pattern: '(['}\n", "not a valid regular expression"),
        ("  scoring: {method: llm_judge}\n", "judge: required key is missing"),
    ],
)
def test_a_scoring_method_without_what_it_needs_is_refused(tmp_path, extra, message):
    good = "  data: {validation: validation.jsonl, test: test.jsonl}\n  target: {model: m}\n"
    with pytest.raises(ConfigError, match=message):
        load_task(_task_with(tmp_path, good + extra))


def test_data_needs_validation_and_test_or_one_file(tmp_path):
    with pytest.raises(ConfigError, match="give data.validation and data.test"):
        load_task(_task_with(tmp_path, "  data: {validation: validation.jsonl}\n  target: {model: m}\n"))
