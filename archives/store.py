"""The lineage store: runs, programs, evaluation stages and LLM calls in one database.

`Store(url)` takes any SQLAlchemy URL; the default is a SQLite file beside the run. Every
method opens a short session that commits before returning (a kill -9 right after loses
nothing) and turns database errors into `StoreError`. Passing a value the schema does not
know (an unknown status, an unknown order) is a caller bug and raises `ValueError`.

On SQLite the store turns on WAL journaling, foreign keys and a busy timeout, so a reader
(the web viewer, `agent show`) can read while a run writes. One `Store` may be shared by the
threads of a process: its calls are serialised by a lock. On PostgreSQL (archives/store_postgres.py)
several controllers, on several machines, write their runs into one database at once.
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from archives.records import EvalResult, LLMCall, Program, source_hash, Status
from archives.store_lease import StoreLease, file_identity
from archives.store_models import (
    CorruptValue,
    EvaluationRow,
    LLMCallRow,
    ProgramRow,
    RunBusy,
    RunInfo,
    RunRow,
    RunStatus,
    RunSummary,
    StageRecord,
    StoreDamaged,
    StoreError,
    StoreMissing,
    make_engine,
    prepare_schema,
)
from archives.store_learning import StoreLearning
from archives.store_suites import StoreSuites
from archives.store_queries import StoreQueries

__all__ = [
    "RunBusy", "RunInfo", "RunStatus", "RunSummary", "StageRecord", "Store", "StoreDamaged", "StoreError",
    "StoreMissing",
]

_ORDERS = ("seq", "evaluated", "fitness")


def _one_line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    code = getattr(inner, "sqlite_errorname", None)  # e.g. SQLITE_IOERR_WRITE, SQLITE_FULL
    return f"{type(inner).__name__}: {text[0] if text else ''}" + (f" ({code})" if code else "")


def _is_corruption(exc: BaseException) -> bool:
    """Whether SQLite says the database file is damaged (or is not a database)."""
    code = getattr(getattr(exc, "orig", None), "sqlite_errorname", None) or ""
    return code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def shown_url(url: str) -> str:
    """The URL as messages show it: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: make_engine will say so
        return url


def _check_status(status: str, allowed: frozenset[str], what: str) -> None:
    if status not in allowed:
        raise ValueError(f"unknown {what} status {status!r}; expected one of {sorted(allowed)}")


class Store(StoreQueries, StoreLease, StoreLearning, StoreSuites):
    """Lineage store over any SQLAlchemy URL; see the module docstring.

    `create=False` (the CLI's readers) opens an existing store and creates nothing: a missing
    SQLite file is a `StoreMissing`, a database without evoforge's tables a `StoreError`; an
    older schema version is still upgraded in place. `read_only=True` (the viewer) also never
    writes: SQLite connections run with `PRAGMA query_only`, PostgreSQL ones in read-only
    transactions, and an older version is refused.

    A run's `status` reads `crashed` when it is stored as `running` but its controller's lease
    is dead (archives/lease.py); the lease itself is taken and renewed through `StoreLease`.
    """

    def __init__(self, url: str, *, busy_timeout: float = 30.0, read_only: bool = False, create: bool = True):
        self.url = url
        self._shown = shown_url(url)  # for messages: no password
        self._lock = threading.RLock()
        self._closed = False
        self._last_start = 0.0
        try:
            create = create and not read_only
            self._engine = make_engine(url, busy_timeout, read_only=read_only, create=create)
            prepare_schema(self._engine, self._shown, create=create, migrate=not read_only)
            self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            self._file = file_identity(url)
        except StoreError:
            self._dispose()
            raise
        except (SQLAlchemyError, OSError, ImportError) as exc:
            self._dispose()
            raise StoreError(f"cannot open store {self._shown}: {_one_line(exc)}") from exc

    def _dispose(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is not None:
            engine.dispose()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self._shown!r})"

    @contextmanager
    def _session(self, what: str) -> Iterator[Session]:
        """A session that commits on exit, rolls back on error, raises StoreError."""
        with self._lock:
            if self._closed:
                raise StoreError(f"cannot {what}: the store {self._shown} is closed")
            session = self._sessions()
            try:
                yield session
                session.commit()
            except SQLAlchemyError as exc:
                session.rollback()
                error = StoreDamaged if _is_corruption(exc) else StoreError
                raise error(f"cannot {what} ({self._shown}): {_one_line(exc)}") from exc
            except CorruptValue as exc:
                session.rollback()
                raise StoreDamaged(f"cannot {what} ({self._shown}): the store is damaged: {exc}") from exc
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()

    # -- runs ------------------------------------------------------------------------------

    def create_run(
        self, task_name: str, task_path: str, strategy: str, seed: int, config: dict,
        *, run_id: str | None = None, owner: str | None = None,
    ) -> RunInfo:
        """A new run, `running`; with `owner`, created holding its lease (archives/lease.py)."""
        now = max(time.time(), self._last_start + 1e-6)  # latest_run needs distinct times
        self._last_start = now
        row = RunRow(
            id=run_id or uuid.uuid4().hex, task_name=task_name, task_path=str(task_path),
            strategy=strategy, seed=int(seed), config=dict(config), status=RunStatus.RUNNING,
            started_at=now, ended_at=None, owner=owner, heartbeat_at=now if owner else None,
        )  # fmt: skip
        with self._session("create a run") as s:
            s.add(row)
            s.flush()
            return row.to_record()

    def get_run(self, run_id_or_unique_prefix: str) -> RunInfo:
        with self._session("read a run") as s:
            return _by_prefix(s, RunRow, run_id_or_unique_prefix, "run").to_record()

    def latest_run(self, task_name: str | None = None) -> RunInfo | None:
        query = select(RunRow).order_by(RunRow.started_at.desc()).limit(1)
        if task_name is not None:
            query = query.where(RunRow.task_name == task_name)
        with self._session("read the latest run") as s:
            row = s.scalars(query).first()
            return row.to_record() if row else None

    def list_runs(self) -> list[RunSummary]:
        with self._session("list runs") as s:
            rows = s.scalars(select(RunRow).order_by(RunRow.started_at.desc())).all()
            return _summaries(s, rows, None)

    def run_summary(self, run_id: str) -> RunSummary:
        with self._session("summarise a run") as s:
            return _summaries(s, [_get(s, RunRow, run_id, "run")], run_id)[0]

    def set_run_status(self, run_id: str, status: str, notes: str | None = None) -> None:
        """Set a run's status; `ended_at` is set (and the lease dropped) unless the status is
        "running". A controller ends its own session with `release_run` instead."""
        _check_status(status, RunStatus.ALL, "run")
        with self._session("set a run's status") as s:
            row = _get(s, RunRow, run_id, "run")
            row.status = status
            row.ended_at = None if status == RunStatus.RUNNING else time.time()
            if status != RunStatus.RUNNING:
                row.owner = None
            if notes is not None:
                row.notes = notes

    def set_strategy_state(self, run_id: str, state: dict) -> None:
        """Store the strategy's latest `snapshot()` (JSON), for the viewer and by-hand queries."""
        with self._session("save the strategy's state") as s:
            _get(s, RunRow, run_id, "run").strategy_state = state

    def strategy_state(self, run_id: str) -> dict | None:
        """The strategy's last stored snapshot, or None."""
        with self._session("read the strategy's state") as s:
            state = _get(s, RunRow, run_id, "run").strategy_state
            return dict(state) if state is not None else None

    # -- programs --------------------------------------------------------------------------

    def add_program(self, program: Program, reason: str | None = None) -> Program:
        """Insert a program; the store assigns `seq` (and `created_at` when it is 0)."""
        _check_status(program.status, Status.ALL, "program")
        with self._session(f"add program {program.id}") as s:
            _get(s, RunRow, program.run_id, "run")
            if s.get(ProgramRow, program.id) is not None:
                raise StoreError(f"program {program.id} is already in the store")
            if program.parent_id is not None:
                _get(s, ProgramRow, program.parent_id, "parent program")
            last = s.scalar(
                select(func.max(ProgramRow.seq)).where(ProgramRow.run_id == program.run_id)
            )
            program = replace(
                program, seq=(last or 0) + 1, created_at=program.created_at or time.time()
            )
            fields = {k: getattr(program, k) for k in _PROGRAM_FIELDS}
            fields["examples"] = _examples_json(program.examples)
            fields["proposal"] = dict(program.proposal) or None
            s.add(ProgramRow(**fields, source_hash=source_hash(program.source), reason=reason))
            return program

    def finish_program(self, program_id: str, result: EvalResult) -> Program:
        """Record an evaluation in one transaction: the program's outcome and its stages."""
        _check_status(result.status, Status.ALL, "program")
        with self._session(f"record the evaluation of program {program_id}") as s:
            row = _get(s, ProgramRow, program_id, "program")
            row.status = result.status
            row.fitness = result.fitness
            row.metrics = dict(result.metrics)
            row.descriptors = dict(result.descriptors)
            row.feedback = result.feedback
            row.error = result.error
            row.evaluated_at = time.time()
            if result.backend is not None:
                row.backend = result.backend
            if result.examples:
                row.examples = _examples_json(result.examples)
            E = EvaluationRow
            last = s.scalar(select(func.max(E.attempt)).where(E.program_id == program_id))
            attempt = (last or 0) + 1
            s.add_all(
                E(program_id=program_id, attempt=attempt, stage=st.name, ok=st.ok,
                  seconds=st.seconds, message=st.message, log=st.log)
                for st in result.stages
            )  # fmt: skip
            s.flush()
            return row.to_record()

    def mark_program(self, program_id: str, status: str, error: str | None = None) -> Program:
        """Set a status without an evaluation (e.g. duplicate); `error` replaces the old one."""
        _check_status(status, Status.ALL, "program")
        with self._session(f"mark program {program_id}") as s:
            row = _get(s, ProgramRow, program_id, "program")
            row.status = status
            if error is not None:
                row.error = error
            s.flush()
            return row.to_record()

    def add_attempt(self, program_id: str, result: EvalResult) -> Program:
        """Record a repeat evaluation of an evaluated program as its next attempt, in one
        transaction: its stages, and the outcome folded in by `archives.repeats.combine`
        (fitness becomes the mean of the attempts; a failed attempt fails the program)."""
        from archives.repeats import FITNESS_EVALS, combine

        _check_status(result.status, Status.ALL, "program")
        with self._session(f"record a repeat evaluation of program {program_id}") as s:
            row = _get(s, ProgramRow, program_id, "program")
            if row.status not in Status.EVALUATED:
                raise ValueError(f"program {program_id} is {row.status}: only evaluated programs are evaluated again")
            outcome = combine(row.to_record(), result.status, result.fitness, result.error)
            row.status, row.fitness, row.error = outcome.status, outcome.fitness, outcome.error
            row.metrics = outcome.metrics
            row.evaluated_at = time.time()
            E = EvaluationRow
            attempt = int(outcome.metrics[FITNESS_EVALS])
            s.add_all(
                E(program_id=program_id, attempt=attempt, stage=st.name, ok=st.ok,
                  seconds=st.seconds, message=st.message, log=st.log)
                for st in result.stages
            )  # fmt: skip
            s.flush()
            return row.to_record()

    def get_program(self, program_id_or_unique_prefix: str, run_id: str | None = None) -> Program:
        with self._session("read a program") as s:
            row = _by_prefix(s, ProgramRow, program_id_or_unique_prefix, "program", run_id)
            return row.to_record()

    def programs(
        self,
        run_id: str,
        statuses: Iterable[str] | None = None,
        *,
        order: str = "seq",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Program]:
        """A run's programs. `order`: "seq" (insertion), "evaluated" (evaluated_at, then seq;
        never-evaluated last) or "fitness" (best first, no fitness last)."""
        if order not in _ORDERS:
            raise ValueError(f"unknown order {order!r}; expected one of {list(_ORDERS)}")
        P = ProgramRow
        query = select(P).where(P.run_id == run_id)
        if statuses is not None:
            statuses = [statuses] if isinstance(statuses, str) else list(statuses)
            query = query.where(P.status.in_(statuses))
        if order == "evaluated":
            query = query.order_by(P.evaluated_at.is_(None), P.evaluated_at, P.seq)
        elif order == "fitness":
            query = query.order_by(P.fitness.is_(None), P.fitness.desc(), P.seq)
        else:
            query = query.order_by(P.seq)
        query = query.offset(offset).limit(limit)
        return self._records(query, "list programs")

    def find_by_hash(self, run_id: str, source_hash: str) -> Program | None:
        """The first program of the run with this source hash, unless it failed to apply."""
        P = ProgramRow
        query = (
            select(P)
            .where(P.run_id == run_id, P.source_hash == source_hash)
            .where(P.status != Status.APPLY_FAILED)
            .order_by(P.seq)
            .limit(1)
        )
        found = self._records(query, "find a program by hash")
        return found[0] if found else None

    def status_counts(self, run_id: str) -> dict[str, int]:
        with self._session("count programs") as s:
            return _status_counts(s, run_id).get(run_id, {})

    def best_programs(self, run_id: str, n: int = 5) -> list[Program]:
        P = ProgramRow
        query = (
            select(P)
            .where(P.run_id == run_id, P.status == Status.CORRECT, P.fitness.is_not(None))
            .order_by(P.fitness.desc(), P.seq)
            .limit(n)
        )
        return self._records(query, "read the best programs")

    def children(self, program_id: str) -> list[Program]:
        query = select(ProgramRow).where(ProgramRow.parent_id == program_id)
        return self._records(query.order_by(ProgramRow.seq), "read children")

    def failed_children(self, parent_id: str, limit: int = 3) -> list[Program]:
        """The newest failed children of a parent, for the next prompt's feedback."""
        P = ProgramRow
        query = (
            select(P)
            .where(P.parent_id == parent_id, P.status.in_(sorted(Status.FAILED)))
            .order_by(P.seq.desc())
            .limit(limit)
        )
        return self._records(query, "read failed children")

    def reason_of(self, program_id: str) -> str | None:
        with self._session("read a program's reason") as s:
            return _get(s, ProgramRow, program_id, "program").reason

    def _records(self, query: Any, what: str) -> list[Any]:
        with self._session(what) as s:
            return [row.to_record() for row in s.scalars(query).all()]

    # -- evaluations -----------------------------------------------------------------------

    def evaluations(self, program_id: str) -> list[StageRecord]:
        E = EvaluationRow
        query = select(E).where(E.program_id == program_id).order_by(E.attempt, E.id)
        with self._session("read evaluations") as s:
            return [r.to_record() for r in s.scalars(query).all()]

    # -- llm calls -------------------------------------------------------------------------

    def add_llm_call(self, call: LLMCall) -> None:
        """Insert a call; `created_at` is set to now when it is 0."""
        with self._session(f"add LLM call {call.id}") as s:
            _get(s, RunRow, call.run_id, "run")
            fields = {k: getattr(call, k) for k in _LLM_FIELDS}
            fields["created_at"] = call.created_at or time.time()
            s.add(LLMCallRow(**fields))

    def link_llm_call(self, call_id: str, program_id: str) -> None:
        with self._session(f"link LLM call {call_id}") as s:
            _get(s, ProgramRow, program_id, "program")
            _get(s, LLMCallRow, call_id, "LLM call").program_id = program_id

    def llm_calls(self, run_id: str | None = None, program_id: str | None = None) -> list[LLMCall]:
        """Calls in the order they were made, filtered by run and/or program."""
        L = LLMCallRow
        query = select(L).order_by(L.created_at, L.id)
        if run_id is not None:
            query = query.where(L.run_id == run_id)
        if program_id is not None:
            query = query.where(L.program_id == program_id)
        return self._records(query, "read LLM calls")

    def spend(self, run_id: str) -> float:
        with self._session("read the spend") as s:
            total = s.scalar(select(func.sum(LLMCallRow.cost)).where(LLMCallRow.run_id == run_id))
            return float(total or 0.0)


_PROGRAM_FIELDS = tuple(Program.__dataclass_fields__)  # each one is a column
_LLM_FIELDS = tuple(LLMCall.__dataclass_fields__)


def _examples_json(examples: dict[str, Any]) -> dict[str, dict] | None:
    """`Program.examples` as stored in `programs.examples` (None when there are none)."""
    return {k: v.to_json() for k, v in examples.items()} if examples else None


def _get(s: Session, model: type, key: str, what: str) -> Any:
    row = s.get(model, key)
    if row is None:
        raise StoreError(f"no {what} {key!r} in the store")
    return row


def _by_prefix(s: Session, model: Any, prefix: str, what: str, run_id: str | None = None) -> Any:
    """The row whose id is `prefix`, or the only one whose id starts with it."""
    if not prefix:
        raise StoreError(f"an empty {what} id matches nothing")
    row = s.get(model, prefix)
    if row is not None and (run_id is None or row.run_id == run_id):
        return row
    query = select(model).where(model.id.startswith(prefix, autoescape=True)).limit(3)
    if run_id is not None:
        query = query.where(model.run_id == run_id)
    rows = s.scalars(query).all()
    if not rows:
        where = f" in run {run_id}" if run_id else ""
        raise StoreError(f"no {what} id starts with {prefix!r}{where}")
    if len(rows) > 1:
        shown = ", ".join(r.id for r in rows[:2])
        raise StoreError(f"{what} id {prefix!r} is ambiguous ({shown}, ...); give more of it")
    return rows[0]


def _status_counts(s: Session, run_id: str | None) -> dict[str, dict[str, int]]:
    """Program counts by status, per run (of one run, or of all runs when `run_id` is None)."""
    P = ProgramRow
    query = _only(select(P.run_id, P.status, func.count()), P.run_id, run_id)
    counts: dict[str, dict[str, int]] = {}
    for rid, status, n in s.execute(query.group_by(P.run_id, P.status)):
        counts.setdefault(rid, {})[status] = n
    return counts


def _only(query: Any, column: Any, run_id: str | None) -> Any:
    return query if run_id is None else query.where(column == run_id)


def _summaries(s: Session, runs: list[RunRow], run_id: str | None) -> list[RunSummary]:
    """Summaries of `runs` (all runs, or the one `run_id`) from four grouped queries."""
    P, L = ProgramRow, LLMCallRow
    counts = _status_counts(s, run_id)
    best_query = select(P.run_id, func.max(P.fitness)).where(P.status == Status.CORRECT)
    best = dict(s.execute(_only(best_query, P.run_id, run_id).group_by(P.run_id)).all())
    tokens = func.coalesce(func.sum(L.prompt_tokens + L.completion_tokens), 0)
    llm_query = select(L.run_id, func.coalesce(func.sum(L.cost), 0.0), func.count(), tokens)
    llm = {
        rid: (cost, n, tok)
        for rid, cost, n, tok in s.execute(_only(llm_query, L.run_id, run_id).group_by(L.run_id))
    }
    purpose = func.coalesce(L.purpose, "proposer")
    purpose_query = select(L.run_id, purpose, func.coalesce(func.sum(L.cost), 0.0))
    by_purpose: dict[str, dict[str, float]] = {}
    for rid, name, cost in s.execute(_only(purpose_query, L.run_id, run_id).group_by(L.run_id, purpose)):
        by_purpose.setdefault(rid, {})[name] = float(cost)
    out = []
    for run in runs:
        c = counts.get(run.id, {})
        cost, n, tok = llm.get(run.id, (0.0, 0, 0))
        out.append(
            RunSummary(
                run=run.to_record(),
                counts=c,
                evaluated=sum(v for k, v in c.items() if k in Status.EVALUATED),
                best_fitness=best.get(run.id),
                cost=float(cost),
                llm_calls=int(n),
                tokens=int(tok),
                cost_by_purpose=by_purpose.get(run.id, {}),
            )
        )
    return out
