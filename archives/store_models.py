"""The lineage store's schema: records, tables, and opening a database at this version.

Schema version 5, documented for users in docs/schema.md. A version-1 to -4 database is upgraded
in place when it is opened for writing (`_migrate`); a read-only opener refuses it until then.

Times are unix seconds (float). JSON columns are TEXT: `runs.config` holds any JSON object;
`programs.metrics` and `programs.descriptors` hold `{name: number}` objects where numbers
that JSON cannot spell (NaN, +-inf) are written as the strings "NaN", "Infinity" and
"-Infinity", so SQLite's `json_extract` can read every row. `programs.examples` holds
`{example id: {score, output, feedback, expected, input, split}}` (prompt tasks; NULL for the
others), `llm_calls.purpose` says who asked ("proposer", "target", "judge"; NULL: proposer).
Version 4 adds what the learning proposer records (agent/learning): `programs.proposal` (JSON:
how the proposer made the program), `llm_calls.role` and `llm_calls.reward`, and the tables
`meta_prompts`, `plans` and `knowledge` (archives/store_learning.py). Version 5 adds the tables
`suites` and `suite_problems` (archives/store_suites.py: `agent suite`).

Changing a table or the meaning of a column means a new `SCHEMA_VERSION` and a migration.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pathlib import Path

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, event, inspect
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

from archives.lease import as_seen
from archives.records import ExampleResult, LLMCall, Program

SCHEMA_VERSION = "5"

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class JSONText(TypeDecorator):
    """Any JSON value, stored as TEXT."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        return None if value is None else _loads(value)


class FloatMapText(TypeDecorator):
    """A `dict[str, float]` stored as a TEXT JSON object; non-finite numbers become strings."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, float] | None, dialect: Any) -> str:
        def spell(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
            return x

        return json.dumps({k: spell(v) for k, v in (value or {}).items()}, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Any) -> dict[str, float]:
        raw = _loads(value) if value else {}
        if not isinstance(raw, dict):
            raise CorruptValue(f"a stored metrics/descriptors value is not a JSON object: {value[:60]!r}")
        return {k: _NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in raw.items()}


def _loads(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise CorruptValue(f"a stored JSON value is not valid JSON ({exc}): {value[:60]!r}") from None


# -- records the store hands out ------------------------------------------------------


class StoreError(Exception):
    """A store operation failed; the message is one readable line."""


class StoreDamaged(StoreError):
    """The database is damaged: SQLite reports corruption, or a stored value cannot be decoded."""


class StoreMissing(StoreError):
    """The store to read does not exist (a SQLite file that is not there); nothing was created."""


class RunBusy(StoreError):
    """Another live controller holds the run's lease (archives/lease.py)."""


class CorruptValue(ValueError):
    """A stored value cannot be decoded (e.g. invalid JSON): the database is damaged."""


class RunStatus:
    """Run statuses, as stored in `runs.status`."""

    RUNNING = "running"
    FINISHED = "finished"  # budget spent or search converged
    STOPPED = "stopped"  # the user stopped it (Ctrl-C)
    CRASHED = "crashed"  # the controller died: an exception of ours, or its lease went stale
    FAILED = "failed"  # the run could not go on (e.g. the initial program fails)

    ALL = frozenset({RUNNING, FINISHED, STOPPED, CRASHED, FAILED})


@dataclass(frozen=True)
class RunInfo:
    id: str
    task_name: str
    task_path: str
    strategy: str
    seed: int
    config: dict[str, Any]
    status: str
    started_at: float
    ended_at: float | None
    notes: str | None = None
    heartbeat_at: float | None = None  # the owning controller's last sign of life
    owner: str | None = None  # "host:pid:token" of the controller holding the run's lease


@dataclass(frozen=True)
class RunSummary:
    run: RunInfo
    counts: dict[str, int]  # programs by status; statuses with no program are left out
    evaluated: int  # programs whose status is in Status.EVALUATED
    best_fitness: float | None
    cost: float  # dollars, all LLM calls of the run
    llm_calls: int
    tokens: int  # prompt + completion
    cost_by_purpose: dict[str, float] = field(default_factory=dict)  # "proposer", "target", "judge" -> dollars


@dataclass(frozen=True)
class StageRecord:
    attempt: int  # 1 for the first evaluation of a program, 2 for a re-evaluation, ...
    stage: str
    ok: bool
    seconds: float
    message: str
    log: str


# -- tables ------------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class MetaRow(Base):
    """Key/value facts about the database itself, e.g. `schema_version`."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(255), index=True)
    task_path: Mapped[str] = mapped_column(Text)
    strategy: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSONText)
    status: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    strategy_state: Mapped[dict | None] = mapped_column(JSONText, nullable=True)
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    owner: Mapped[str | None] = mapped_column(Text, nullable=True)

    def to_record(self) -> RunInfo:
        """The run as readers see it: `running` whose controller is dead reads `crashed`
        (archives/lease.py), with a note saying when it was last seen."""
        status, notes = as_seen(self.status, self.notes, self.heartbeat_at, self.owner)
        return RunInfo(
            id=self.id,
            task_name=self.task_name,
            task_path=self.task_path,
            strategy=self.strategy,
            seed=self.seed,
            config=dict(self.config or {}),
            status=status,
            started_at=self.started_at,
            ended_at=self.ended_at,
            notes=notes,
            heartbeat_at=self.heartbeat_at,
            owner=self.owner,
        )


class ProgramRow(Base):
    __tablename__ = "programs"
    __table_args__ = (
        Index("ix_programs_run_seq", "run_id", "seq", unique=True),
        Index("ix_programs_run_hash", "run_id", "source_hash"),
        Index("ix_programs_parent", "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    seq: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    fitness: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict] = mapped_column(FloatMapText)
    descriptors: Mapped[dict] = mapped_column(FloatMapText)
    feedback: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    diff: Mapped[str | None] = mapped_column(Text, nullable=True)
    proposer: Mapped[str] = mapped_column(Text)
    island: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    evaluated_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    backend: Mapped[str | None] = mapped_column(Text, nullable=True)
    examples: Mapped[dict | None] = mapped_column(JSONText, nullable=True)
    proposal: Mapped[dict | None] = mapped_column(JSONText, nullable=True)

    def to_record(self) -> Program:
        return Program(
            id=self.id,
            run_id=self.run_id,
            source=self.source,
            parent_id=self.parent_id,
            generation=self.generation,
            status=self.status,
            fitness=self.fitness,
            metrics=dict(self.metrics or {}),
            descriptors=dict(self.descriptors or {}),
            feedback=self.feedback or "",
            error=self.error,
            diff=self.diff,
            proposer=self.proposer,
            island=self.island,
            created_at=self.created_at,
            evaluated_at=self.evaluated_at,
            seq=self.seq,
            backend=self.backend,
            examples={k: ExampleResult.from_json(v) for k, v in (self.examples or {}).items()},
            proposal=dict(self.proposal or {}),
        )


class EvaluationRow(Base):
    """One stage of one evaluation attempt of a program."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(Boolean)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    log: Mapped[str] = mapped_column(Text, default="")

    def to_record(self) -> StageRecord:
        return StageRecord(self.attempt, self.stage, self.ok, self.seconds, self.message, self.log)


class LLMCallRow(Base):
    __tablename__ = "llm_calls"
    __table_args__ = (Index("ix_llm_calls_run", "run_id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"))
    model: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text, default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    latency: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    program_id: Mapped[str | None] = mapped_column(
        ForeignKey("programs.id"), nullable=True, index=True
    )
    created_at: Mapped[float] = mapped_column(Float)
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str | None] = mapped_column(Text, nullable=True)
    reward: Mapped[float | None] = mapped_column(Float, nullable=True)

    def to_record(self) -> LLMCall:
        return LLMCall(
            id=self.id,
            run_id=self.run_id,
            model=self.model,
            prompt=self.prompt,
            response=self.response,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost=self.cost,
            latency=self.latency,
            attempts=self.attempts,
            error=self.error,
            program_id=self.program_id,
            created_at=self.created_at,
            purpose=self.purpose or "proposer",
            role=self.role,
            reward=self.reward,
        )


# -- opening a database ------------------------------------------------------------------


def _is_memory_sqlite(url: Any) -> bool:
    db = url.database or ""
    return db in ("", ":memory:") or "mode=memory" in db or url.query.get("mode") == "memory"


def make_engine(url: str, busy_timeout: float, *, read_only: bool = False, create: bool = True) -> Engine:
    """An engine for `url`; SQLite files get WAL, foreign keys and a busy timeout;
    PostgreSQL: archives/store_postgres.py.

    `create=False`: a SQLite file must exist already (`StoreMissing` otherwise; nothing is
    created). `read_only`: the same, and connections refuse to write.
    """
    from archives.store_postgres import is_postgres, postgres_engine

    parsed = make_url(url)
    if is_postgres(parsed):
        return postgres_engine(parsed, read_only=read_only)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    memory = _is_memory_sqlite(parsed)
    connect_args: dict[str, Any] = {"check_same_thread": False}
    if not memory:
        connect_args["timeout"] = busy_timeout
        if not (parsed.database or "").startswith("file:"):
            if (read_only or not create) and not Path(parsed.database).is_file():
                raise StoreMissing(f"no store at {parsed.database} (no such file)")
            if not read_only and create:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # In memory, every connection would see its own empty database: share one.
    pool = {"poolclass": StaticPool} if memory else {}
    engine = create_engine(parsed, connect_args=connect_args, **pool)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    return engine


def prepare_schema(engine: Engine, url: str, *, create: bool = True, migrate: bool | None = None) -> None:
    """Refuse a database of another schema version; create the tables that are missing
    (with `create=False`, refuse a database that is not a whole evoforge store instead).
    `migrate` (default: `create`): upgrade an older schema version in place."""
    from archives.store_postgres import schema_lock

    migrate = create if migrate is None else migrate
    if create or migrate:  # several controllers may open one PostgreSQL store at once
        with schema_lock(engine):
            _prepare_schema(engine, url, create=create, migrate=migrate)
    else:
        _prepare_schema(engine, url, create=create, migrate=migrate)


def _prepare_schema(engine: Engine, url: str, *, create: bool, migrate: bool) -> None:
    tables = set(inspect(engine).get_table_names())
    version = None
    if "meta" in tables:
        with Session(engine) as s:
            row = s.get(MetaRow, "schema_version")
            version = row.value if row else None
    if version is None and tables & {"runs", "programs"}:
        raise StoreError(
            f"{url} holds tables but no evoforge schema version; "
            "point the store at a new database file"
        )
    if version in _MIGRATIONS and migrate:
        _migrate(engine, version)
        version = SCHEMA_VERSION
    if version is not None and version != SCHEMA_VERSION:
        raise StoreError(
            f"{url} has schema version {version}, this evoforge reads version "
            f"{SCHEMA_VERSION}; "
            + ("open it once for writing (e.g. `agent runs --store URL`) to upgrade it"
               if version in _MIGRATIONS else
               "use the evoforge release that wrote it, or start a new database file "
               "(the old one is left untouched)")
        )
    if not create:
        missing = set(Base.metadata.tables) - tables
        if version is None or missing:
            raise StoreError(f"{url} holds no evoforge store (missing: {', '.join(sorted(missing)) or 'meta'})")
        return
    Base.metadata.create_all(engine)
    if version is None:
        with Session(engine) as s, s.begin():
            s.merge(MetaRow(key="schema_version", value=SCHEMA_VERSION))


# Columns each older version lacks: (table, column, SQL type). Upgrading adds them (NULL).
# Tables a version lacks are created by `create_all`.
_V4_COLUMNS = (("programs", "proposal", "TEXT"), ("llm_calls", "role", "TEXT"), ("llm_calls", "reward", "FLOAT"))
_V3_COLUMNS = (("programs", "examples", "TEXT"), ("llm_calls", "purpose", "TEXT"), *_V4_COLUMNS)
_MIGRATIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "1": (("runs", "heartbeat_at", "FLOAT"), ("runs", "owner", "TEXT"), ("programs", "backend", "TEXT"), *_V3_COLUMNS),
    "2": _V3_COLUMNS,
    "3": _V4_COLUMNS,
    "4": (),  # version 5 adds tables only (suites, suite_problems)
}


def _migrate(engine: Engine, version: str) -> None:
    """Upgrade a database of an older schema version to this one, in one transaction."""
    from sqlalchemy import text

    with engine.begin() as conn:
        for table, column, sql_type in _MIGRATIONS[version]:
            present = {c["name"] for c in inspect(conn).get_columns(table)}
            if column not in present:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), {"v": SCHEMA_VERSION}
        )
