"""What the learning proposer keeps in the store (agent/learning): meta-prompts, plans, knowledge.

`StoreLearning` is mixed into `Store` (archives/store.py). Meta-prompts and plans belong to a
run; knowledge entries outlive their run (`run_id` is provenance, not ownership: an entry stays
when its run is deleted or lives in another store), so `knowledge()` reads every run's.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Iterable

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from archives.records import KnowledgeEntry, MetaPrompt, Plan
from archives.store_models import Base, JSONText, LLMCallRow


class MetaPromptRow(Base):
    __tablename__ = "meta_prompts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    system: Mapped[str] = mapped_column(Text)
    hints: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("meta_prompts.id"), nullable=True)
    origin: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)

    def to_record(self) -> MetaPrompt:
        return MetaPrompt(**{k: getattr(self, k) for k in _META_FIELDS})


class PlanRow(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    parent_program_id: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    program_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    gain: Mapped[float | None] = mapped_column(Float, nullable=True)
    call_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)

    def to_record(self) -> Plan:
        return Plan(**{k: getattr(self, k) for k in _PLAN_FIELDS})


class KnowledgeRow(Base):
    __tablename__ = "knowledge"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    transformation: Mapped[str] = mapped_column(Text)
    context: Mapped[dict] = mapped_column(JSONText)
    gain: Mapped[float] = mapped_column(Float, default=0.0)
    avoid: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[str] = mapped_column(Text, default="")  # provenance only: no foreign key
    program_ids: Mapped[list] = mapped_column(JSONText)
    reference_excerpt: Mapped[str] = mapped_column(Text, default="")
    uses: Mapped[int] = mapped_column(Integer, default=0)
    wins: Mapped[int] = mapped_column(Integer, default=0)
    demoted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[float] = mapped_column(Float)

    def to_record(self) -> KnowledgeEntry:
        values = {k: getattr(self, k) for k in _KNOWLEDGE_FIELDS}
        values["context"] = {str(k): str(v) for k, v in (self.context or {}).items()}
        values["program_ids"] = tuple(self.program_ids or ())
        return KnowledgeEntry(**values)


_META_FIELDS = tuple(MetaPrompt.__dataclass_fields__)
_PLAN_FIELDS = tuple(Plan.__dataclass_fields__)
_KNOWLEDGE_FIELDS = tuple(KnowledgeEntry.__dataclass_fields__)


class StoreLearning:
    """The learning proposer's records; each method is one `Store._session`."""

    _session: Any  # Store's: (what) -> context manager of a Session
    _records: Any  # Store's: (query, what) -> the rows' records

    # -- meta-prompts ----------------------------------------------------------------------

    def add_meta_prompt(self, meta: MetaPrompt) -> MetaPrompt:
        meta = replace(meta, created_at=meta.created_at or time.time())
        with self._session(f"add meta-prompt {meta.id}") as s:
            s.add(MetaPromptRow(**{k: getattr(meta, k) for k in _META_FIELDS}))
        return meta

    def meta_prompts(self, run_id: str) -> list[MetaPrompt]:
        """The run's meta-prompts, oldest first."""
        query = select(MetaPromptRow).where(MetaPromptRow.run_id == run_id)
        return self._records(query.order_by(MetaPromptRow.created_at, MetaPromptRow.id), "read meta-prompts")

    # -- plans -----------------------------------------------------------------------------

    def add_plan(self, plan: Plan) -> Plan:
        plan = replace(plan, created_at=plan.created_at or time.time())
        with self._session(f"add plan {plan.id}") as s:
            s.add(PlanRow(**{k: getattr(plan, k) for k in _PLAN_FIELDS}))
        return plan

    def set_plan_outcome(self, plan_id: str, program_id: str, gain: float | None) -> None:
        """The child that implemented the plan and what it gained (None: it failed)."""
        with self._session(f"record the outcome of plan {plan_id}") as s:
            s.execute(update(PlanRow).where(PlanRow.id == plan_id).values(program_id=program_id, gain=gain))

    def plans(self, run_id: str) -> list[Plan]:
        query = select(PlanRow).where(PlanRow.run_id == run_id).order_by(PlanRow.created_at, PlanRow.id)
        return self._records(query, "read plans")

    # -- knowledge -------------------------------------------------------------------------

    def add_knowledge(self, entry: KnowledgeEntry) -> KnowledgeEntry:
        entry = replace(entry, created_at=entry.created_at or time.time())
        values: dict[str, Any] = {k: getattr(entry, k) for k in _KNOWLEDGE_FIELDS}
        values["context"] = dict(entry.context)
        values["program_ids"] = list(entry.program_ids)
        with self._session(f"add knowledge entry {entry.id}") as s:
            s.add(KnowledgeRow(**values))
        return entry

    def knowledge(self, include_demoted: bool = False) -> list[KnowledgeEntry]:
        """Every run's entries, oldest first."""
        query = select(KnowledgeRow).order_by(KnowledgeRow.created_at, KnowledgeRow.id)
        if not include_demoted:
            query = query.where(KnowledgeRow.demoted.is_(False))
        return self._records(query, "read the knowledge base")

    def get_knowledge(self, id_or_prefix: str) -> KnowledgeEntry:
        from archives.store import _by_prefix

        with self._session("read a knowledge entry") as s:
            return _by_prefix(s, KnowledgeRow, id_or_prefix, "knowledge entry").to_record()

    def update_knowledge(
        self, entry_id: str, *, uses: int | None = None, wins: int | None = None, demoted: bool | None = None
    ) -> None:
        values = {k: v for k, v in (("uses", uses), ("wins", wins), ("demoted", demoted)) if v is not None}
        if values:
            with self._session(f"update knowledge entry {entry_id}") as s:
                s.execute(update(KnowledgeRow).where(KnowledgeRow.id == entry_id).values(**values))

    def delete_knowledge(self, ids: Iterable[str]) -> int:
        """Delete these entries; returns how many there were."""
        ids = list(ids)
        if not ids:
            return 0
        with self._session("delete knowledge entries") as s:
            return int(s.execute(delete(KnowledgeRow).where(KnowledgeRow.id.in_(ids))).rowcount or 0)

    # -- rewards of calls ------------------------------------------------------------------

    def set_call_reward(self, call_id: str, reward: float | None) -> None:
        with self._session(f"record the reward of LLM call {call_id}") as s:
            s.execute(update(LLMCallRow).where(LLMCallRow.id == call_id).values(reward=reward))
