"""Read-side queries of the lineage store for the viewer: pages, counts, lineage, spend.

`StoreQueries` is mixed into `Store` (archives/store.py); it adds queries that read only the
columns a listing needs, so a run of 10,000 programs is listed, paged and laid out as a tree
without loading every program's source. Each method runs in one short `Store._session`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import Integer, case, func, literal, select

from archives.records import Status
from archives.store_models import EvaluationRow, LLMCallRow, ProgramRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

BRIEF_ORDERS = ("seq", "fitness", "evaluated", "done")
_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-variable limit


@dataclass(frozen=True)
class ProgramBrief:
    """A program without its source, feedback or diff: what a list, chart or tree shows.

    `children` is the number of programs derived from it, when the query asked for it.
    """

    id: str
    seq: int
    parent_id: str | None
    generation: int
    status: str
    fitness: float | None
    proposer: str
    island: int
    created_at: float
    evaluated_at: float | None
    error: str | None
    children: int | None = None


@dataclass(frozen=True)
class ModelSpend:
    """LLM use of one model in one run."""

    model: str
    calls: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    mean_latency: float


@dataclass(frozen=True)
class FailureReason:
    """How often one reason made programs fail (`source` "program", with their `status`) or
    LLM calls fail (`source` "llm") in a run. `reason` is the error's head: its first line up to
    the detail (for an LLM call, the model and the cause)."""

    source: str
    status: str
    reason: str
    count: int


@dataclass(frozen=True)
class StageTime:
    """Evaluation time spent in one stage over a run (every attempt counted)."""

    stage: str
    runs: int
    failures: int
    total_seconds: float
    mean_seconds: float
    max_seconds: float


_P = ProgramRow
_BRIEF_COLUMNS = (
    _P.id, _P.seq, _P.parent_id, _P.generation, _P.status, _P.fitness, _P.proposer, _P.island,
    _P.created_at, _P.evaluated_at, _P.error,
)  # fmt: skip


def _brief(row: Any, children: int | None = None) -> ProgramBrief:
    return ProgramBrief(*row, children=children)


class StoreQueries:
    """Queries for listings and the viewer; mixed into `Store`, which provides `_session`."""

    _session: Any  # Callable[[str], AbstractContextManager[Session]], from Store

    def count_programs(
        self, run_id: str, statuses: Iterable[str] | None = None, *, generation: int | None = None
    ) -> int:
        query = _filtered(select(func.count()).select_from(_P), run_id, statuses, generation, None)
        with self._session("count programs") as s:
            return int(s.scalar(query) or 0)

    def program_briefs(
        self,
        run_id: str,
        statuses: Iterable[str] | None = None,
        *,
        order: str = "seq",
        offset: int = 0,
        limit: int | None = None,
        generation: int | None = None,
        parent_id: str | None = None,
        with_children: bool = False,
    ) -> list[ProgramBrief]:
        """Briefs of a run's programs, filtered and paged. `order`: "seq"; "fitness" (best
        first, none last); "evaluated" (evaluated_at, never-evaluated last); "done" (when the
        program was settled: evaluated_at, else created_at)."""
        if order not in BRIEF_ORDERS:
            raise ValueError(f"unknown order {order!r}; expected one of {list(BRIEF_ORDERS)}")
        query = _filtered(select(*_BRIEF_COLUMNS), run_id, statuses, generation, parent_id)
        if order == "fitness":
            query = query.order_by(_P.fitness.is_(None), _P.fitness.desc(), _P.seq)
        elif order == "evaluated":
            query = query.order_by(_P.evaluated_at.is_(None), _P.evaluated_at, _P.seq)
        elif order == "done":
            query = query.order_by(func.coalesce(_P.evaluated_at, _P.created_at), _P.seq)
        else:
            query = query.order_by(_P.seq)
        query = query.offset(offset).limit(limit)
        with self._session("list program briefs") as s:
            rows = s.execute(query).all()
            counts = _children_counts(s, [r[0] for r in rows]) if with_children else {}
        if not with_children:
            return [_brief(r) for r in rows]
        return [_brief(r, counts.get(r[0], 0)) for r in rows]

    def generation_counts(self, run_id: str) -> dict[int, int]:
        """How many programs each generation of the run holds, by generation."""
        query = (
            select(_P.generation, func.count())
            .where(_P.run_id == run_id)
            .group_by(_P.generation)
            .order_by(_P.generation)
        )
        with self._session("count generations") as s:
            return {int(g): int(n) for g, n in s.execute(query)}

    def children_counts(self, program_ids: Iterable[str]) -> dict[str, int]:
        """How many children each of these programs has (0 for none)."""
        ids = list(program_ids)
        with self._session("count children") as s:
            counts = _children_counts(s, ids)
        return {pid: counts.get(pid, 0) for pid in ids}

    def lineage(self, program_id: str) -> list[ProgramBrief]:
        """The program's ancestors and itself, from the initial program down to it."""
        chain = (
            select(*_BRIEF_COLUMNS, literal(0, Integer).label("depth"))
            .where(_P.id == program_id)
            .cte("chain", recursive=True)
        )
        parent = select(*_BRIEF_COLUMNS, (chain.c.depth + 1).label("depth")).join(
            chain, _P.id == chain.c.parent_id
        )
        chain = chain.union_all(parent)
        query = select(*[chain.c[c.key] for c in _BRIEF_COLUMNS]).order_by(chain.c.depth.desc())
        with self._session("read a lineage") as s:
            return [_brief(r) for r in s.execute(query).all()]

    def last_activity(self, run_id: str) -> float | None:
        """When the run last stored or settled a program (None without programs)."""
        latest = func.max(func.coalesce(_P.evaluated_at, _P.created_at))
        with self._session("read the last activity") as s:
            return s.scalar(select(latest).where(_P.run_id == run_id))

    def spend_by_model(self, run_id: str) -> list[ModelSpend]:
        """LLM calls, tokens, dollars and mean latency per model, most expensive first."""
        L = LLMCallRow
        query = (
            select(
                L.model, func.count(), func.count(L.error),
                func.coalesce(func.sum(L.prompt_tokens), 0),
                func.coalesce(func.sum(L.completion_tokens), 0),
                func.coalesce(func.sum(L.cost), 0.0), func.coalesce(func.avg(L.latency), 0.0),
            )
            .where(L.run_id == run_id)
            .group_by(L.model)
            .order_by(func.sum(L.cost).desc(), L.model)
        )  # fmt: skip
        with self._session("read the spend by model") as s:
            return [
                ModelSpend(m, int(n), int(f), int(pt), int(ct), float(c), float(lat))
                for m, n, f, pt, ct, c, lat in s.execute(query)
            ]

    def failure_reasons(self, run_id: str, limit: int = 5) -> list[FailureReason]:
        """The most frequent reasons programs failed (their errors, LLM failures aside) and
        LLM calls failed, each source's `limit` most frequent, most frequent first."""
        program_errors = (
            select(_P.status, _P.error, func.count())
            .where(_P.run_id == run_id, _P.error.is_not(None), _P.status.in_(sorted(Status.FAILED)))
            .group_by(_P.status, _P.error)
        )
        call_errors = (
            select(LLMCallRow.error, func.count())
            .where(LLMCallRow.run_id == run_id, LLMCallRow.error.is_not(None))
            .group_by(LLMCallRow.error)
        )
        programs: dict[tuple[str, str], int] = {}
        calls: dict[str, int] = {}
        with self._session("read the failure reasons") as s:
            for status, error, n in s.execute(program_errors):
                if not error.startswith(_LLM_FAILED):  # counted with the LLM calls
                    key = (status, _error_head(error))
                    programs[key] = programs.get(key, 0) + int(n)
            for error, n in s.execute(call_errors):
                head = _error_head(error, keep_colons=1)
                calls[head] = calls.get(head, 0) + int(n)
        ranked_programs = sorted(programs.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        ranked_calls = sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [FailureReason("program", st, r, n) for (st, r), n in ranked_programs] + [
            FailureReason("llm", "", r, n) for r, n in ranked_calls
        ]

    def stage_times(self, run_id: str) -> list[StageTime]:
        """Evaluation time per stage over the run, the most time-consuming stage first."""
        E = EvaluationRow
        failed = func.sum(case((E.ok.is_(False), 1), else_=0))
        query = (
            select(
                E.stage, func.count(), failed, func.sum(E.seconds), func.avg(E.seconds),
                func.max(E.seconds),
            )
            .join(_P, _P.id == E.program_id)
            .where(_P.run_id == run_id)
            .group_by(E.stage)
            .order_by(func.sum(E.seconds).desc(), E.stage)
        )  # fmt: skip
        with self._session("read evaluation times") as s:
            return [
                StageTime(st, int(n), int(f or 0), float(t or 0), float(m or 0), float(x or 0))
                for st, n, f, t, m, x in s.execute(query)
            ]


_LLM_FAILED = "LLM call failed: "  # a program that never was: its LLM call failed (agent/proposers.py)
_ATTEMPTS = re.compile(r"\s*\(gave up after \d+ attempts\)")
_HEAD_CHARS = 200


def _error_head(error: str, keep_colons: int = 0) -> str:
    """The error's first line up to its detail: the text before the first ": " after the
    first `keep_colons` ones (an LLM call's error starts with "model: ")."""
    line = _ATTEMPTS.sub("", error.strip().splitlines()[0] if error.strip() else "")
    parts = line.split(": ")
    head = ": ".join(parts[: keep_colons + 1])
    return head if len(head) <= _HEAD_CHARS else head[: _HEAD_CHARS - 3] + "..."


def _filtered(
    query: Any,
    run_id: str,
    statuses: Iterable[str] | None,
    generation: int | None,
    parent_id: str | None,
) -> Any:
    query = query.where(_P.run_id == run_id)
    if statuses is not None:
        statuses = [statuses] if isinstance(statuses, str) else list(statuses)
        query = query.where(_P.status.in_(statuses))
    if generation is not None:
        query = query.where(_P.generation == generation)
    if parent_id is not None:
        query = query.where(_P.parent_id == parent_id)
    return query


def _children_counts(s: Session, ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = (
            select(_P.parent_id, func.count())
            .where(_P.parent_id.in_(chunk))
            .group_by(_P.parent_id)
        )
        counts.update({pid: int(n) for pid, n in s.execute(query)})
    return counts
