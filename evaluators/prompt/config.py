"""The options of a prompt task: the task file's `prompt_task:` mapping (docs/prompt-tasks.md).

The prompt itself is the task's top-level `program:` file. Everything else a prompt task needs
sits under `prompt_task`: which named fields the prompt file holds, the data, the target model,
how an answer is scored, and the minibatch of the staged evaluation. Like every task-file model
it forbids unknown keys, so a typo is a one-line error naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class SplitFractions(_Model):
    """Shares of one data file that go to each split (they must add up to 1)."""

    train: float = Field(0.0, ge=0, le=1)
    validation: float = Field(0.5, ge=0, le=1)
    test: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitFractions:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must add up to 1, got {total:g}")
        if self.validation <= 0 or self.test <= 0:
            raise ValueError("validation and test need a share above 0")
        return self


class DataConfig(_Model):
    """JSONL files, one example a line: {"id"?: str, "input": str | object, "answer"?: any}.

    Give `validation` and `test` (and optionally `train`), or one `file` with `split`
    fractions; the split is drawn with `seed` and is the same in every run.
    """

    train: Path | None = None
    """Optional: read and checked (ids unique over all splits) but never scored; a place for
    examples a prompt may quote (few-shot), kept out of validation and test."""
    validation: Path | None = None
    """Examples candidates are scored on during the search (minibatch and full)."""
    test: Path | None = None
    """Held-out examples, scored only at the end for the initial and the best prompt."""
    file: Path | None = None
    """One file holding every example, split by `split` instead of three files."""
    split: SplitFractions = SplitFractions()
    """With `file`: the share of each split."""
    seed: int = 0
    """With `file`: seeds the shuffle before the split."""

    @model_validator(mode="after")
    def _files_or_one_file(self) -> DataConfig:
        separate = self.validation is not None or self.test is not None or self.train is not None
        if self.file is not None and separate:
            raise ValueError("give data.file (with data.split) or data.validation and data.test, not both")
        if self.file is None and (self.validation is None or self.test is None):
            raise ValueError("give data.validation and data.test (JSONL files), or data.file with data.split")
        return self


class TargetConfig(_Model):
    """The model whose prompt is being optimized (any litellm model string)."""

    model: str = Field(min_length=1)
    """A litellm model string, e.g. "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "ollama/llama3"."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server, if not the vendor's."""
    api_key_env: str | None = None
    """Environment variable holding the key (default: litellm's, e.g. OPENAI_API_KEY)."""
    temperature: float = Field(0.0, ge=0, le=2)
    """Above 0 answers vary: each repeat evaluation of a prompt draws fresh answers (see docs)."""
    max_tokens: int = Field(512, ge=16)
    timeout_seconds: float = Field(60.0, gt=0)
    """Per request."""
    retries: int = Field(2, ge=0, le=10)
    """Retries on rate limits, 5xx, timeouts and connection failures."""
    concurrency: int = Field(8, ge=1, le=64)
    """Requests to the target model in flight at once (for the whole run)."""


class JudgeConfig(_Model):
    """An LLM judge: scores an answer by a rubric, or (`pairwise`) against the current best's."""

    model: str = Field(min_length=1)
    """A litellm model string for the judge."""
    api_base: str | None = None
    api_key_env: str | None = None
    rubric: str = Field("", max_length=20_000)
    """What a good answer is; the judge scores 0-10 by it (pairwise: what makes one answer better)."""
    pairwise: bool = False
    """Compare each answer with the current best prompt's answer to the same example (for data
    without labels, as SPO does): win 1, tie 0.5, loss 0."""
    max_tokens: int = Field(256, ge=16)
    timeout_seconds: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0, le=10)


class ScoringConfig(_Model):
    """How one answer is scored, 0..1 (evaluators/prompt/scoring.py)."""

    method: Literal["exact", "regex", "numeric", "json_schema", "custom", "llm_judge"] = "exact"
    """exact: the answer equals the expected one (after `normalize`); regex: `pattern` matches
    (with the expected answer put in for "{answer}"); numeric: the last number in the answer is
    within `tolerance` of the expected number; json_schema: the answer is JSON valid against
    `schema`; custom: `function`; llm_judge: `judge`."""
    normalize: bool = True
    """exact: compare case-folded, with surrounding spaces, quotes and final punctuation removed."""
    pattern: str | None = None
    """regex: a Python regular expression searched in the answer; "{answer}" stands for the
    expected answer (escaped)."""
    tolerance: float = Field(1e-6, ge=0)
    """numeric: the largest absolute difference that still counts as right."""
    relative_tolerance: float = Field(0.0, ge=0)
    """numeric: or this share of the expected value, whichever is larger."""
    schema_: dict[str, Any] | Path | None = Field(None, alias="schema")
    """json_schema: a JSON Schema, inline or a .json file beside the task."""
    function: str | None = None
    """custom: "file.py:function" (relative to the task) or "package.module:function", called as
    function(example, output) -> score | (score, feedback); see scoring.py on untrusted output."""
    judge: JudgeConfig | None = None
    """llm_judge: the judge model and its rubric."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, populate_by_name=True)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            import re

            try:
                re.compile(value.replace("{answer}", "x"))
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _method_needs(self) -> ScoringConfig:
        needs = {"regex": ("pattern", self.pattern), "json_schema": ("schema", self.schema_),
                 "custom": ("function", self.function), "llm_judge": ("judge", self.judge)}  # fmt: skip
        if self.method in needs and needs[self.method][1] is None:
            key = needs[self.method][0]
            raise ValueError(f"scoring.{key}: required key is missing (method {self.method} needs it)")
        return self


class MinibatchConfig(_Model):
    """Stage 1 of the staged evaluation: a seeded sample of the validation examples."""

    size: int = Field(8, ge=1)
    """Examples in the minibatch; a candidate worse than its parent on them is not scored on the
    rest of the validation set. At least the validation set's size: every candidate is scored fully."""
    seed: int = 0
    """Seeds each candidate's minibatch (drawn from this seed and the prompt's text)."""


class PromptTaskConfig(_Model):
    """A prompt task's own options, under the task file's `prompt_task:` key."""

    fields: tuple[str, ...] = ()
    """Names of the sections of the prompt file ("system", "instruction", "examples", ...),
    each started by a line "=== name ===" (evaluators/prompt/render.py); empty: the whole file
    is one prompt."""
    data: DataConfig
    target: TargetConfig
    scoring: ScoringConfig = ScoringConfig()
    minibatch: MinibatchConfig = MinibatchConfig()

    @field_validator("fields")
    @classmethod
    def _field_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"field names are identifiers (letters, digits, _), got {name!r}")
        if len(set(value)) != len(value):
            raise ValueError("field names must differ")
        return value


PATH_KEYS = ("data.train", "data.validation", "data.test", "data.file")
"""The file keys inside `prompt_task`, resolved against the task file's folder."""
