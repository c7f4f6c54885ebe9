"""An LLM summarizer: turns a strategy's memory into short recommendations for the next prompts.

The priority-queue strategy (archives/pq.py) keeps a memory of good, mutually different
programs. Every `every` evaluations, `MemorySummarizer.notes()` shows that memory to the LLM
(template `summarize.j2`, overridable like the other prompt templates) and keeps the
recommendations it answers with; `LLMProposer` puts them under "# Recommendations" in every
prompt until the next summary. Each summary call goes through the run's `LLMGateway` (so it
counts against the dollar budget) and is recorded with `record_call`. A failed call keeps the
previous recommendations. Without an LLM there is no summarizer and no recommendations.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Callable, Protocol

import jinja2

from agent.llm import LLMError, LLMGateway
from agent.prompts import BUILTIN_TEMPLATES, _fenced
from archives.languages import language as language_of
from archives.records import LLMCall

__all__ = ["MemorySummarizer", "parse_notes"]

_NOTE_CHARS = 300
_SOURCE_CHARS = 3000
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.*\S)\s*$")


class _Memory(Protocol):
    told: int

    def memory(self) -> list[Any]:
        """Members with `.program`, `.stats` (n, mean, sd), best first."""
        ...


def parse_notes(text: str, limit: int) -> tuple[str, ...]:
    """The bullet lines of an answer ("- x", "* x", "1. x"), at most `limit`, each cut short."""
    notes = []
    for line in text.splitlines():
        match = _BULLET.match(line)
        if match:
            note = match.group(1).strip()
            notes.append(note if len(note) <= _NOTE_CHARS else note[: _NOTE_CHARS - 3] + "...")
        if len(notes) == limit:
            break
    return tuple(notes)


class MemorySummarizer:
    """Recommendations from the strategy's memory, refreshed every `every` evaluations."""

    def __init__(
        self,
        gateway: LLMGateway,
        strategy: _Memory,
        *,
        every: int,
        max_notes: int,
        task_name: str,
        task_description: str,
        language: str,
        record_call: Callable[[LLMCall], None],
        templates_dir: Path | None = None,
        max_members: int = 8,
    ) -> None:
        if every < 1:
            raise ValueError("a summarizer needs every >= 1")
        self._gateway = gateway
        self._strategy = strategy
        self._every = every
        self._max_notes = max_notes
        self._task = {"task_name": task_name, "task_description": task_description.strip(), "language": language}
        self._record = record_call
        self._max_members = max_members
        folders = [str(templates_dir)] if templates_dir is not None else []
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*folders, str(BUILTIN_TEMPLATES)]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["fenced"] = _fenced
        self._notes: tuple[str, ...] = ()
        self._done_at = 0  # the strategy's `told` count at the last summary
        self._lock = asyncio.Lock()

    @property
    def current(self) -> tuple[str, ...]:
        return self._notes

    async def notes(self) -> tuple[str, ...]:
        """The current recommendations, refreshed first when a summary is due (one at a time:
        callers that arrive while a summary is being made get the previous notes)."""
        if self._due() and not self._lock.locked():
            async with self._lock:
                if self._due():
                    await self._refresh()
        return self._notes

    def _due(self) -> bool:
        told = self._strategy.told
        return told - self._done_at >= self._every and bool(self._strategy.memory())

    async def _refresh(self) -> None:
        self._done_at = self._strategy.told
        messages = self.messages()
        try:
            completion = await self._gateway.complete(messages)
        except LLMError as exc:
            self._record(exc.call)
            return
        self._record(completion.call)
        notes = parse_notes(completion.text, self._max_notes)
        if notes:
            self._notes = notes

    def messages(self) -> list[dict]:
        """The chat messages of the next summary request."""
        members = []
        for m in self._strategy.memory()[: self._max_members]:
            source = m.program.source
            lines = source.splitlines()
            cut = 0
            if len(source) > _SOURCE_CHARS:
                kept, size = [], 0
                for line in lines:
                    size += len(line) + 1
                    if size > _SOURCE_CHARS and kept:
                        break
                    kept.append(line)
                cut = len(lines) - len(kept)
                source = "\n".join(kept)
            members.append({
                "mean": f"{m.stats.mean:.6g}",
                "sd": None if m.stats.sd is None else f"{m.stats.sd:.2g}",
                "n": m.stats.n,
                "source": source,
                "cut_lines": cut,
            })
        lang = self._task["language"].lower()
        user = self._env.get_template("summarize.j2").render(
            **self._task, members=members, previous=list(self._notes), max_notes=self._max_notes,
            fence_tag=language_of(lang).fence,
        ).strip()
        system = (
            "You review the programs of an evolutionary code search and give brief, concrete advice "
            "for the next changes."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

