"""An LLM summarizer: turns a strategy's memory into short recommendations for the next prompts.

The priority-queue strategy (archives/pq.py) keeps a memory of good, mutually different
programs. Every `every` evaluations, `MemorySummarizer.notes()` shows that memory to the LLM
(template `summarize.j2`, overridable like the other prompt templates) and keeps the
recommendations it answers with; `LLMProposer` puts them under "# Recommendations" in every
prompt until the next summary. Each summary call goes through the run's `LLMGateway` (so it
counts against the dollar budget) and is recorded with `record_call`, with the role
"summarize". A `chooser` (agent/learning/model_choice.py), when given, picks the model from
the role's models (`llm.roles.summarize`); without one the gateway draws it by weight. A failed
call keeps the previous recommendations. A summary that would be shown the very memory the last
one was (the same members with the same means and counts) is not asked for: it could only
answer the same (`skipped` counts them). Without an LLM there is no summarizer and no
recommendations.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from agent.llm import LLMError, LLMGateway
from agent.prompts import _head, template_environment
from archives.languages import language as language_of
from archives.records import LLMCall

if TYPE_CHECKING:
    from agent.learning.model_choice import ModelChooser

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
        chooser: ModelChooser | None = None,
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
        self._chooser = chooser
        self._env = template_environment(templates_dir)
        self._notes: tuple[str, ...] = ()
        self._done_at = 0  # the strategy's `told` count at the last summary
        self._summarized: tuple = ()  # the memory the last summary was made of (`_memory_key`)
        self.skipped = 0  # summaries not asked for: the memory had not changed since the last one
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
        if told - self._done_at < self._every or not self._strategy.memory():
            return False
        if self._memory_key() == self._summarized:  # a new summary would be shown what the last one was
            self._done_at = told
            self.skipped += 1
            return False
        return True

    def _memory_key(self) -> tuple:
        """What a summary is made of: the members shown, with their means and counts."""
        return tuple((m.program.id, m.stats.mean, m.stats.n) for m in self._strategy.memory()[: self._max_members])

    async def _refresh(self) -> None:
        self._done_at = self._strategy.told
        self._summarized = self._memory_key()
        messages = self.messages()
        model = self._chooser.choose("summarize") if self._chooser is not None else None
        try:
            completion = await self._gateway.complete(messages, model)
        except LLMError as exc:
            self._record(replace(exc.call, role="summarize"))
            return
        self._record(replace(completion.call, role="summarize"))
        notes = parse_notes(completion.text, self._max_notes)
        if notes:
            self._notes = notes

    def messages(self) -> list[dict]:
        """The chat messages of the next summary request."""
        members = []
        for m in self._strategy.memory()[: self._max_members]:
            source, cut = _head(m.program.source, _SOURCE_CHARS)
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

