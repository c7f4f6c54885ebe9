"""Build the chat messages that ask an LLM to improve one program (or prompt).

The text lives in Jinja2 templates: `system.j2`, the user messages `user.j2` (improve a
program), `reflect.j2`, `merge.j2` and `compress.j2` (see `PromptContext.mode`), and the
answer formats `format_diff.j2` / `format_full.j2` they include. A task overrides any of them
by putting a file of the same name in its `prompt.templates` folder; the built-in ones fill in
the rest. Templates see plain values prepared here (numbers already formatted, long texts
already cut), and an undefined name is an error, so a typo in an override fails loudly with the
template's name and line.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from agent import reflection
from agent.redact import redact
from archives.languages import language as language_of
from archives.records import Program

__all__ = ["MODES", "PromptBuilder", "PromptContext", "PromptError"]

BUILTIN_TEMPLATES = Path(__file__).parent / "templates"
_MAX_ERRORS = 3  # previous errors shown, newest first
_MAX_ERROR_CHARS = 2000
MODES = ("diff", "full", "reflect", "merge", "compress")
_USER_TEMPLATES = {"improve": "user.j2", "reflect": "reflect.j2", "merge": "merge.j2", "compress": "compress.j2"}


class PromptError(Exception):
    """A prompt template failed to load or render; the message names the template and line."""


@dataclass(frozen=True)
class PromptContext:
    """Everything one prompt is made of."""

    task_name: str
    task_description: str
    language: str
    parent: Program
    inspirations: tuple[Program, ...] = ()
    previous_errors: tuple[str, ...] = ()
    """Errors of this parent's recent failed children (edit errors, evaluator reasons), newest first."""
    mode: str = "diff"
    """What to ask for (`ProposalRequest.mode`): "diff" an improvement as SEARCH/REPLACE blocks,
    "full" as a whole program; "reflect" an improvement shown the parent's failed examples (the
    target model's outputs, the scorer's feedback) and where it wins and loses against the
    inspirations; "merge" one program combining the parent and `inspirations[0]`, shown what each
    does better; "compress" a shorter rewrite or a different approach, after a stall. A parent
    with per-example results, or any parent of a prompt task, gets "reflect" for "diff" and
    "full" (keeping the answer format); a program without them gets "diff" for "reflect"."""
    answer_format: str | None = None
    """"diff" or "full"; None: the mode's own ("diff" for reflect on programs, else "full")."""
    artifact: str = ""
    """What the candidate is, in the prompt's words: "program" or "prompt"; "" means "prompt"
    for language "text", else "program"."""
    reason: str = ""
    """Why the strategy picked this parent."""
    notes: tuple[str, ...] = ()
    """Extra recommendations (e.g. from a summarizer)."""
    system: str | None = None
    """A meta-prompt's system text (agent/learning/metaprompts.py): replaces system.j2 when set."""
    hints: str = ""
    """A meta-prompt's strategy hints: the "How to approach it" section."""
    knowledge: tuple[str, ...] = ()
    """Knowledge entries from earlier runs (agent/learning/knowledge.py), one line or paragraph each."""
    plan: str = ""
    """A plan written by an earlier call (agent/learning/planning.py): the answer implements it."""
    diagnosis: str = ""
    """One line stating what the parent's profile metrics mean (agent/learning/diagnosis.py)."""
    already_tried: tuple[str, ...] = ()
    """The parent's recent children, each a line saying what it came to and its changed lines
    (agent/already_tried.py): the "Already tried from this program" section."""


def artifact_of(language: str) -> str:
    """What a candidate is called in prompts: "prompt" for language "text", else "program"."""
    return "prompt" if language_of(language).name == "text" else "program"


def template_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja environment every prompt of evoforge renders in: a task's `templates_dir`
    overrides the built-in templates by file name; strict about undefined values; `fenced` filter."""
    folders = [str(templates_dir)] if templates_dir is not None else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(BUILTIN_TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fenced"] = _fenced
    return env


class PromptBuilder:
    """Renders a `PromptContext` into [system, user] chat messages.

    `templates_dir` holds task templates that override the built-in ones by file name;
    `system_extra` is appended to the system message; feedback longer than
    `max_feedback_chars` keeps its end; inspirations longer than `max_inspiration_chars` keep
    their beginning.
    """

    def __init__(
        self,
        templates_dir: Path | None = None,
        system_extra: str | None = None,
        max_feedback_chars: int = 4000,
        max_inspiration_chars: int = 6000,
        max_examples: int = 4,
    ) -> None:
        self._env = template_environment(templates_dir)
        self._system_extra = (system_extra or "").strip()
        self._max_feedback = max_feedback_chars
        self._max_inspiration = max_inspiration_chars
        self._max_examples = max_examples

    def build(self, ctx: PromptContext) -> list[dict]:
        """The chat messages for `ctx`: [{"role": "system", ...}, {"role": "user", ...}]."""
        if ctx.mode not in MODES:
            raise ValueError(f"PromptContext.mode must be one of {', '.join(MODES)}, got {ctx.mode!r}")
        if ctx.answer_format not in (None, "diff", "full"):
            raise ValueError(f"PromptContext.answer_format must be 'diff' or 'full', got {ctx.answer_format!r}")
        if ctx.mode == "merge" and not ctx.inspirations:
            raise ValueError("PromptContext.mode 'merge' needs the second parent in inspirations[0]")
        values = self._values(ctx)
        system = ctx.system.strip() if ctx.system and ctx.system.strip() else self._render("system.j2", values)
        return [
            {"role": "system", "content": self._with_extra(system)},
            {"role": "user", "content": self._render(_USER_TEMPLATES[values["proposal"]], values)},
        ]

    def default_system(self, ctx: PromptContext) -> str:
        """The built-in (or the task's) system prompt for `ctx`, before `system_extra`: the
        first meta-prompt of a co-evolving population."""
        return self._render("system.j2", self._values(ctx))

    def _with_extra(self, system: str) -> str:
        return f"{system}\n\n{self._system_extra}" if self._system_extra else system

    def _values(self, ctx: PromptContext) -> dict[str, Any]:
        parent = ctx.parent
        artifact = ctx.artifact or artifact_of(ctx.language)
        proposal = _proposal(ctx, artifact)
        return {
            "task_name": ctx.task_name,
            "task_description": ctx.task_description.strip(),
            "language": ctx.language,
            "fence_tag": language_of(ctx.language).fence,
            "artifact": artifact,
            "proposal": proposal,
            "mode": ctx.answer_format or _default_format(ctx.mode, proposal),
            **self._example_values(ctx, proposal),
            "reason": ctx.reason.strip(),
            "notes": [note.strip() for note in ctx.notes if note.strip()],
            "parent": _program_view(parent, parent.source, 0, self._max_feedback),
            "inspirations": [
                _program_view(p, *_head(p.source, self._max_inspiration), 0) for p in ctx.inspirations
            ],
            "previous_errors": [
                _middle(redact(e.strip()), _MAX_ERROR_CHARS) for e in ctx.previous_errors[:_MAX_ERRORS] if e.strip()
            ],
            "evolve": "EVOLVE-BLOCK-START" in parent.source,
            "hints": ctx.hints.strip(),
            "knowledge": [entry.strip() for entry in ctx.knowledge if entry.strip()],
            "plan": ctx.plan.strip(),
            "diagnosis": ctx.diagnosis.strip(),
            "already_tried": [entry.strip() for entry in ctx.already_tried if entry.strip()],
        }

    def _example_values(self, ctx: PromptContext, proposal: str) -> dict[str, Any]:
        """Per-example values of the reflect, merge and compress prompts (see agent/reflection.py)."""
        parent, others = ctx.parent, ctx.inspirations
        if proposal == "reflect":
            return {
                "failed": reflection.failed_examples(parent, others, self._max_examples),
                "standing": reflection.standing_view(parent, others),
                "scored": bool(parent.examples),
            }
        if proposal == "merge":
            return {
                "partner": _program_view(others[0], others[0].source, 0, self._max_feedback),
                "merge": reflection.merge_view(parent, others[0], max(1, self._max_examples // 2)),
            }
        if proposal == "compress":
            return {
                "failed": reflection.failed_examples(parent, (), max(1, self._max_examples // 2)),
                "size": {"chars": len(parent.source), "words": len(parent.source.split()),
                         "lines": len(parent.source.splitlines())},
            }  # fmt: skip
        return {}

    def _render(self, name: str, values: dict[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(**values).strip()
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or exc.name or name
            raise PromptError(f"prompt template {where}, line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:
            raise PromptError(f"prompt template {exc.name} not found (needed by {name})") from None
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt template {_template_line(exc, name)}: {exc}") from None


def _proposal(ctx: PromptContext, artifact: str) -> str:
    """The prompt to build: "improve" (user.j2), "reflect", "merge" or "compress"."""
    if ctx.mode in ("diff", "full", "reflect"):
        reflective = bool(ctx.parent.examples) or artifact == "prompt"
        return "reflect" if reflective else "improve"
    return ctx.mode


def _default_format(mode: str, proposal: str) -> str:
    if mode in ("diff", "full"):
        return mode
    return "diff" if proposal == "improve" else "full"


def _fenced(text: str, tag: str = "") -> str:
    """`text` in a Markdown code fence long enough not to be closed by a fence inside it."""
    runs = re.findall(r"^\s*(`{3,})", text, flags=re.MULTILINE)
    fence = "`" * max(3, *(len(run) + 1 for run in runs)) if runs else "```"
    return f"{fence}{tag}\n{text.rstrip()}\n{fence}"


def _template_line(exc: BaseException, name: str) -> str:
    """'file.j2, line N' from the innermost template frame of the traceback (Jinja maps them)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if not frames:
        return name
    return f"{frames[-1].filename}, line {frames[-1].lineno}"


def _program_view(program: Program, source: str, cut_lines: int, max_feedback: int) -> dict[str, Any]:
    return {
        "id": program.id,
        "source": source,
        "cut_lines": cut_lines,
        "status": program.status,
        "fitness": _number(program.fitness) if program.is_correct else None,
        "metrics": [(name, redact(_number(value))) for name, value in sorted(program.metrics.items())],
        "error": redact((program.error or "").strip()),
        "feedback": _tail(redact(program.feedback.strip()), max_feedback) if max_feedback else "",
        "generation": program.generation,
    }


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _tail(text: str, limit: int) -> str:
    """The end of `text`, at most about `limit` characters, cut at a line start when possible."""
    if len(text) <= limit:
        return text
    kept = text[-limit:]
    newline = kept.find("\n")
    if 0 <= newline < len(kept) // 2:
        kept = kept[newline + 1 :]
    return f"[... {len(text) - len(kept)} earlier characters cut ...]\n{kept}"


def _head(source: str, limit: int) -> tuple[str, int]:
    """The beginning of `source` in whole lines within `limit` characters, and the lines cut."""
    if len(source) <= limit:
        return source, 0
    lines = source.splitlines()
    kept, size = [], 0
    for line in lines:
        size += len(line) + 1
        if size > limit and kept:
            break
        kept.append(line)
    return "\n".join(kept), len(lines) - len(kept)


def _middle(text: str, limit: int) -> str:
    """`text` within about `limit` characters, its middle cut out."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters cut ...]\n{text[-half:]}"
