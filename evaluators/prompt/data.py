"""A prompt task's examples: read from JSONL, split into train / validation / test, seeded.

Each line of a data file is one JSON object: {"id"?: str, "input": str | object, "answer"?: any}.
An example without "id" is named by its file and line ("val.jsonl:12"); ids must be unique
across the splits, because results, caches and the Pareto front are kept by id. A bad line is
a `DataError` naming the file and the line.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluators.prompt.config import DataConfig

_ALLOWED_KEYS = frozenset({"id", "input", "answer"})


class DataError(ValueError):
    """A data file that cannot be used; the message is one line naming the file (and line)."""


@dataclass(frozen=True)
class Example:
    """One example: `input` is a string or a JSON object; `answer` is None without a label."""

    id: str
    input: str | dict[str, Any]
    answer: Any = None

    @property
    def has_answer(self) -> bool:
        return self.answer is not None

    def answer_text(self) -> str | None:
        """The expected answer as text (JSON for structured answers), or None."""
        if self.answer is None:
            return None
        return self.answer if isinstance(self.answer, str) else json.dumps(self.answer, ensure_ascii=False)

    def input_key(self) -> str:
        """The input as a stable string (for caches)."""
        return self.input if isinstance(self.input, str) else json.dumps(self.input, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Splits:
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]


def read_jsonl(path: Path) -> list[Example]:
    """The examples of one JSONL file (blank lines skipped); DataError naming file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: data file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    examples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        unknown = sorted(set(row) - _ALLOWED_KEYS)
        if unknown:
            raise DataError(f"{where}: unknown key {unknown[0]!r} (an example has id, input, answer)")
        if "input" not in row:
            raise DataError(f"{where}: no 'input'")
        value = row["input"]
        if not isinstance(value, (str, dict)):
            raise DataError(f"{where}: 'input' must be a string or an object, got {type(value).__name__}")
        ident = row.get("id", f"{Path(path).name}:{number}")
        if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
            raise DataError(f"{where}: 'id' must be a non-empty string or integer")
        examples.append(Example(id=str(ident), input=value, answer=row.get("answer")))
    if not examples:
        raise DataError(f"{path}: no examples (one JSON object a line)")
    return examples


def load_splits(config: DataConfig, task_dir: Path) -> Splits:
    """The three splits the data config names (relative paths against `task_dir`)."""

    def full(path: Path | None) -> Path | None:
        if path is None:
            return None
        return path if path.is_absolute() else Path(task_dir) / path

    if config.file is not None:
        splits = split_examples(read_jsonl(full(config.file)), config)
    else:
        train = tuple(read_jsonl(full(config.train))) if config.train is not None else ()
        splits = Splits(train, tuple(read_jsonl(full(config.validation))), tuple(read_jsonl(full(config.test))))
    _check_unique_ids(splits)
    return splits


def split_examples(examples: list[Example], config: DataConfig) -> Splits:
    """Shuffle with `config.seed` and cut by `config.split` (validation and test get at least one)."""
    if len(examples) < 2:
        raise DataError(f"{config.file}: {len(examples)} example(s): a split needs at least 2")
    order = list(examples)
    random.Random(config.seed).shuffle(order)
    n = len(order)
    n_test = max(1, round(n * config.split.test))
    n_val = max(1, round(n * config.split.validation))
    if n_test + n_val > n:
        n_val = n - n_test
    n_train = n - n_test - n_val
    return Splits(tuple(order[:n_train]), tuple(order[n_train : n_train + n_val]), tuple(order[n_train + n_val :]))


def _check_unique_ids(splits: Splits) -> None:
    seen: dict[str, str] = {}
    for name in ("train", "validation", "test"):
        for example in getattr(splits, name):
            if example.id in seen:
                raise DataError(f"data: example id {example.id!r} appears twice ({seen[example.id]} and {name})")
            seen[example.id] = name
