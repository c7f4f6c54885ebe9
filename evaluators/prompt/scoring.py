"""Scorers of one answer: exact, regex, numeric, json_schema and custom (the LLM judge is in
judge.py). Each returns a `Scored`: a score in 0..1 (higher better) and one line of feedback
that the proposer is shown.

The target model's output is untrusted text. These scorers only compare and parse it; none
executes it. A custom scorer that must run it (a code-generation task: run the generated
program against tests) must do so in the sandbox, never in the evoforge process: it is called
with `sandbox=` (the run's `sandbox.base.Sandbox`) when its signature has that parameter, and
runs the output as a `SandboxJob` there.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluators.prompt.config import ScoringConfig
from evaluators.prompt.data import Example

_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)
_FEEDBACK_CHARS = 300


class ScoringError(Exception):
    """The scorer itself failed (a custom scorer raised, returned junk): the task's fault, one line."""


@dataclass(frozen=True)
class Scored:
    score: float
    feedback: str


Scorer = Callable[[Example, str], Scored]


def needs_labels(config: ScoringConfig) -> bool:
    """Whether every scored example must have an "answer"."""
    if config.method in ("exact", "numeric"):
        return True
    return config.method == "regex" and "{answer}" in (config.pattern or "")


def build_scorer(config: ScoringConfig, task_dir: Path, sandbox: Any = None) -> Scorer:
    """The scorer `config` names (not llm_judge: see judge.py); ScoringError when it cannot load."""
    if config.method == "exact":
        return lambda example, output: score_exact(example, output, normalize=config.normalize)
    if config.method == "regex":
        return lambda example, output: score_regex(example, output, config.pattern or "")
    if config.method == "numeric":
        return lambda example, output: score_numeric(example, output, config.tolerance, config.relative_tolerance)
    if config.method == "json_schema":
        validator = _schema_validator(config.schema_, task_dir)
        return lambda example, output: score_json_schema(output, validator)
    if config.method == "custom":
        return _custom_scorer(config.function or "", task_dir, sandbox)
    raise ScoringError(f"scoring.method {config.method} is not a plain scorer")


# --- the built-in scorers ------------------------------------------------------------------


def normalized(text: str) -> str:
    """Case-folded, spaces collapsed, surrounding quotes and final punctuation removed."""
    text = " ".join(text.split()).casefold()
    return text.strip(" \"'`*").rstrip(".!;:,").strip(" \"'`*")


def score_exact(example: Example, output: str, *, normalize: bool = True) -> Scored:
    expected = example.answer_text() or ""
    got, want = (normalized(output), normalized(expected)) if normalize else (output, expected)
    if got == want:
        return Scored(1.0, "correct")
    return Scored(0.0, f"expected {_short(expected)!r}, got {_short(output)!r}")


def score_regex(example: Example, output: str, pattern: str) -> Scored:
    expected = example.answer_text()
    filled = pattern.replace("{answer}", re.escape(expected or ""))
    if re.search(filled, output):
        return Scored(1.0, "matches the expected pattern")
    return Scored(0.0, f"does not match /{_short(filled)}/: got {_short(output)!r}")


def last_number(text: str) -> float | None:
    """The last number written in `text` ("1,234.5" reads 1234.5), or None."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def score_numeric(example: Example, output: str, tolerance: float, relative: float = 0.0) -> Scored:
    expected = _as_number(example.answer)
    if expected is None:
        raise ScoringError(f"example {example.id}: answer {example.answer!r} is not a number (scoring.method numeric)")
    got = last_number(output)
    if got is None:
        return Scored(0.0, f"no number in the answer (expected {expected:g}): {_short(output)!r}")
    allowed = max(tolerance, relative * abs(expected))
    if math.isfinite(got) and abs(got - expected) <= allowed:
        return Scored(1.0, "correct")
    return Scored(0.0, f"expected {expected:g}, the answer's last number is {got:g}")


def score_json_schema(output: str, validator: Any) -> Scored:
    value, problem = extract_json(output)
    if problem:
        return Scored(0.0, problem)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(top)"
        return Scored(0.0, f"JSON does not fit the schema at {where}: {_short(errors[0].message)}")
    return Scored(1.0, "valid JSON for the schema")


def extract_json(output: str) -> tuple[Any, str | None]:
    """The JSON value of an answer: the whole text, a ```json fence, or the outermost {...}/[...]."""
    candidates = [output.strip(), *(m.strip() for m in _FENCE.findall(output))]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = output.find(open_), output.rfind(close)
        if 0 <= start < end:
            candidates.append(output[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate), None
        except (json.JSONDecodeError, ValueError):
            continue
    return None, f"no JSON found in the answer: {_short(output)!r}"


# --- helpers --------------------------------------------------------------------------------


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return last_number(value) if value.strip() else None
    return None


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _FEEDBACK_CHARS else text[: _FEEDBACK_CHARS - 3] + "..."


def _schema_validator(schema: dict | Path | None, task_dir: Path) -> Any:
    try:
        import jsonschema
    except ImportError:
        raise ScoringError("scoring.method json_schema needs the jsonschema package: pip install jsonschema") from None
    if isinstance(schema, Path):
        path = schema if schema.is_absolute() else Path(task_dir) / schema
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ScoringError(f"scoring.schema: file not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise ScoringError(f"scoring.schema: {path} is not a JSON file: {exc}") from None
    cls = jsonschema.validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ScoringError(f"scoring.schema: not a valid JSON Schema: {_short(exc.message)}") from None
    return cls(schema)


def _load_module(target: str, task_dir: Path) -> Any:
    """The module of a custom scorer: a .py file (relative to the task) or an importable name."""
    try:
        if not (target.endswith(".py") or "/" in target):
            return importlib.import_module(target)
        path = Path(target) if Path(target).is_absolute() else Path(task_dir) / target
        if not path.is_file():
            raise ScoringError(f"scoring.function: file not found: {path}")
        spec = importlib.util.spec_from_file_location(f"evoforge_prompt_scorer_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ScoringError(f"scoring.function: cannot load {path} as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    except ScoringError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's module failed to import: one line
        problem = f"{type(exc).__name__}: {_short(str(exc))}"
        raise ScoringError(f"scoring.function: loading {target} failed: {problem}") from None


def _custom_scorer(spec: str, task_dir: Path, sandbox: Any) -> Scorer:
    target, _, name = spec.strip().rpartition(":")
    if not target or not name.isidentifier():
        raise ScoringError(f"scoring.function: expected 'file.py:function' or 'package.module:function', got {spec!r}")
    module = _load_module(target, task_dir)
    function = getattr(module, name, None)
    if not callable(function):
        raise ScoringError(f"scoring.function: {target} has no function {name!r}")
    try:
        wants_sandbox = "sandbox" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        wants_sandbox = False

    def scorer(example: Example, output: str) -> Scored:
        record = {"id": example.id, "input": example.input, "answer": example.answer}
        try:
            value = function(record, output, sandbox=sandbox) if wants_sandbox else function(record, output)
        except Exception as exc:  # noqa: BLE001 - the user's scorer failed: one line, the task's fault
            raise ScoringError(f"scoring.function {spec} raised {type(exc).__name__}: {_short(str(exc))}") from None
        return _checked(value, spec)

    return scorer


def _checked(value: Any, spec: str) -> Scored:
    feedback = ""
    if isinstance(value, tuple) and len(value) == 2:
        value, feedback = value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScoringError(f"scoring.function {spec} returned {value!r}; expected a score in 0..1 or (score, feedback)")
    if not 0.0 <= float(value) <= 1.0:
        raise ScoringError(f"scoring.function {spec} returned score {value!r}, outside 0..1")
    said = _short(str(feedback)) if feedback else ("correct" if value >= 1 else f"score {value:g}")
    return Scored(float(value), said)
