"""A knowledge base across runs: what paid on one task, offered to the prompts of similar ones.

Lifecycle of an entry (a `KnowledgeEntry` in the store's `knowledge` table):

1. **Distilled.** `KnowledgeBase.distil` takes the run's (parent, improved child) pairs not
   distilled yet (largest gain first, at most `limit`), shows them to the LLM in one call
   (template `distil.j2`, role "distil", recorded with `record_call`) and stores each entry it
   answers with: the transformation, what to avoid, the measured gain (the mean gain of the
   pairs the entry names; the LLM's own number only when it names none), its provenance (run,
   parent and child ids), its context (task kind, language, op, GPU) and an excerpt of the
   task's reference code. A failed call or an answer without usable entries stores nothing and
   comes back as `Distillation.error`; it never raises into the run, and its pairs are offered
   again at the next distillation (so does a task's `distil.j2` that fails to render, with
   the template's name and line in the error). The prompt lists the relevant entries known already, and an
   entry restating one of the store's (same text and context) is not stored again.
2. **Retrieved.** `retrieve` ranks the entries of every run in the store by relevance to a task
   (agent/learning/knowledge_match.py: same kind, similar reference code or op name; language
   and GPU break ties) and returns the best `k`; entries of unrelated tasks are not returned.
3. **Credited.** Each proposal that was shown entries credits them with what its child brought:
   `uses` += 1, `wins` += 1 when it gained. An entry used at least `demote_after` times whose
   win rate is below `demote_below` is demoted: kept (the CLI shows it, `prune` deletes it) but
   never retrieved again.

The knowledge store may be another store than the run's (`learning.knowledge.store`): pass the
run's store as `run_store` so distillation reads the run's programs there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.learning.knowledge_distil import (
    DistilAnswerError,
    Draft,
    Pair,
    distil_messages,
    improved_pairs,
    parse_drafts,
)
from agent.learning.knowledge_match import relevance, tokens
from agent.llm import BudgetExceeded, LLMError
from agent.prompts import PromptError
from archives.records import KnowledgeEntry, LLMCall
from archives.store import StoreError

__all__ = ["Distillation", "KnowledgeBase"]

_REFERENCE_CHARS = 4000  # of the reference code stored with each entry
_DEFAULT_LIMIT = 8  # pairs in one distillation request
_KNOWN = 5  # relevant entries the distillation prompt shows as known already


@dataclass(frozen=True)
class Distillation:
    """What one `distil` did: the entries stored, the call made, and why nothing was stored.
    Iterates (and has a length) as its entries."""

    entries: tuple[KnowledgeEntry, ...] = ()
    call: LLMCall | None = None
    error: str | None = None
    pairs: int = 0
    """The improved pairs shown to the LLM."""

    def __iter__(self) -> Iterator[KnowledgeEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> KnowledgeEntry:
        return self.entries[index]


class KnowledgeBase:
    """Retrieval, credit and distillation over the knowledge entries of one store.

    `config` is the task's `learning.knowledge` (retrieve, demote_after, demote_below are read).
    `templates_dir` may hold a `distil.j2` overriding the built-in one.
    """

    def __init__(self, store: Any, *, config: Any, run_store: Any = None, templates_dir: Path | None = None):
        self._store = store
        self._run_store = run_store if run_store is not None else store
        self._config = config
        self._templates_dir = templates_dir
        self._claimed: set[str] = set()  # child ids of the pairs distilled (or being distilled) here
        self._lock = asyncio.Lock()
        self._tokens: dict[str, Counter[str]] = {}  # entry id -> tokens of its reference excerpt

    # -- retrieval -------------------------------------------------------------------------

    def retrieve(self, context: Mapping[str, str], reference: str, k: int | None = None) -> list[KnowledgeEntry]:
        """The `k` (default `config.retrieve`) entries most relevant to a task with this context
        (kind, language, op, gpu) and reference code, best first; demoted ones never."""
        k = self._config.retrieve if k is None else k
        if k <= 0:
            return []
        query = tokens(reference)
        ranked = []
        for entry in self._store.knowledge(include_demoted=False):
            if entry.id not in self._tokens:
                self._tokens[entry.id] = tokens(entry.reference_excerpt)
            score = relevance(context, query, entry.context, self._tokens[entry.id])
            if score is not None:
                win_rate = (entry.wins + 1) / (entry.uses + 2)  # untried entries rank as even
                ranked.append((score, win_rate, entry.created_at, entry))
        ranked.sort(key=lambda item: item[:3], reverse=True)
        return [item[-1] for item in ranked[:k]]

    # -- credit ----------------------------------------------------------------------------

    def credit(self, ids: Sequence[str], improvement: float | None) -> None:
        """One more use for each entry; a win when `improvement` > 0; demote by the config's
        rule. Entries deleted meanwhile (a prune) are passed over."""
        for entry_id in dict.fromkeys(ids):
            try:
                entry = self._store.get_knowledge(entry_id)
            except StoreError:
                continue
            uses = entry.uses + 1
            wins = entry.wins + (1 if improvement is not None and improvement > 0 else 0)
            demoted = entry.demoted or (
                uses >= self._config.demote_after and wins / uses < self._config.demote_below
            )  # fmt: skip
            self._store.update_knowledge(entry.id, uses=uses, wins=wins, demoted=demoted)

    # -- distillation ----------------------------------------------------------------------

    def pending(self, run_id: str) -> list[Pair]:
        """The run's improved pairs not distilled yet (by this base or into the store), largest
        gain first."""
        stored = [set(e.program_ids) for e in self._store.knowledge(include_demoted=True) if e.run_id == run_id]
        return [
            p for p in improved_pairs(self._run_store.programs(run_id))
            if p.child.id not in self._claimed and not any({p.parent.id, p.child.id} <= ids for ids in stored)
        ]  # fmt: skip

    async def distil(
        self,
        run_id: str,
        gateway: Any,
        context: Mapping[str, str],
        record_call: Callable[[LLMCall], None],
        *,
        limit: int = _DEFAULT_LIMIT,
        model: Any = None,
        reference: str | None = None,
    ) -> Distillation:
        """Distil up to `limit` pending pairs of the run in one call through `gateway` (to
        `model`, default the gateway's pick). `reference` is the code stored with the entries
        for retrieval (default: the run's initial program); give the same text `retrieve` is
        given. One distillation at a time; never raises for the LLM's failures."""
        async with self._lock:
            pairs = self.pending(run_id)[:limit]
            if not pairs:
                return Distillation()
            children = {p.child.id for p in pairs}
            self._claimed |= children
            try:
                result = await self._distil(run_id, pairs, gateway, dict(context), record_call, model, reference)
            except BaseException:
                self._claimed -= children
                raise
            if result.error is not None:
                self._claimed -= children  # offered again next time
            return result

    async def _distil(
        self, run_id: str, pairs: list[Pair], gateway: Any, context: dict[str, str],
        record_call: Callable[[LLMCall], None], model: Any, reference: str | None,
    ) -> Distillation:  # fmt: skip
        max_entries = max(2, len(pairs))
        excerpt = self._reference(run_id, reference)
        known = [e.transformation for e in self.retrieve(context, excerpt, _KNOWN)]
        children_of = {p.parent.id: self._run_store.children(p.parent.id) for p in pairs}
        try:
            messages = distil_messages(
                pairs, children_of, context, known=known, max_entries=max_entries, templates_dir=self._templates_dir
            )
        except PromptError as exc:
            return Distillation(error=str(exc), pairs=len(pairs))
        try:
            completion = await gateway.complete(messages, model)
        except LLMError as exc:
            call = replace(exc.call, role="distil")
            record_call(call)
            return Distillation(call=call, error=f"the distillation call failed: {exc}", pairs=len(pairs))
        except BudgetExceeded as exc:
            return Distillation(error=f"no distillation: {exc}", pairs=len(pairs))
        call = replace(completion.call, role="distil")
        record_call(call)
        try:
            drafts = parse_drafts(completion.text, len(pairs), max_entries)
        except DistilAnswerError as exc:
            return Distillation(call=call, error=f"the distillation answer was not used: {exc}", pairs=len(pairs))
        entries = []
        present = self._store.knowledge(include_demoted=True)
        for draft in drafts:
            entry = _entry(draft, pairs, run_id, context, excerpt)
            if not any(_restates(entry, other) for other in [*present, *entries]):
                entries.append(self._store.add_knowledge(entry))
        return Distillation(tuple(entries), call, None, len(pairs))

    def _reference(self, run_id: str, reference: str | None) -> str:
        if reference is None:
            roots = [p for p in self._run_store.programs(run_id, limit=20) if p.parent_id is None]
            reference = roots[0].source if roots else ""
        return reference[:_REFERENCE_CHARS]


def _restates(entry: KnowledgeEntry, other: KnowledgeEntry) -> bool:
    """The same transformation (case and spacing aside) in the same context."""
    same_text = " ".join(entry.transformation.lower().split()) == " ".join(other.transformation.lower().split())
    return same_text and entry.context == other.context


def _entry(draft: Draft, pairs: list[Pair], run_id: str, context: dict[str, str], excerpt: str) -> KnowledgeEntry:
    named = [pairs[i] for i in draft.pairs]
    if named:
        gain = sum(p.gain for p in named) / len(named)
    else:
        named = pairs
        gain = draft.gain if draft.gain is not None else sum(p.gain for p in pairs) / len(pairs)
    program_ids = tuple(dict.fromkeys(pid for p in named for pid in (p.parent.id, p.child.id)))
    return KnowledgeEntry(
        id=uuid.uuid4().hex, transformation=draft.transformation, avoid=draft.avoid, gain=float(gain),
        context={k: str(v) for k, v in context.items() if v}, run_id=run_id, program_ids=program_ids,
        reference_excerpt=excerpt,
    )  # fmt: skip
