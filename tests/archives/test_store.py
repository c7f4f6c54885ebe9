"""Contract tests of the lineage store, run over a SQLite file, in-memory SQLite and PostgreSQL
(tests/postgres.py: skipped without a server)."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from archives.records import EvalResult, LLMCall, Program, source_hash, StageResult, Status, Suite, SuiteProblem
from archives.store import RunInfo, RunSummary, StageRecord, Store, StoreError
from tests.postgres import fresh_schema


@pytest.fixture(params=["file", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":
        with fresh_schema() as url, Store(url) as s:
            yield s
        return
    url = f"sqlite:///{tmp_path / 'runs' / 'task.db'}" if request.param == "file" else "sqlite://"
    with Store(url) as s:
        yield s


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'lineage.db'}"


@pytest.fixture
def run(store: Store) -> RunInfo:
    return store.create_run("matmul", "/tasks/matmul/task.yaml", "map_elites", 7, {"n": 3})


def prog(run: RunInfo, pid: str, source: str | None = None, **kw) -> Program:
    return Program(id=pid, run_id=run.id, source=f"src {pid}" if source is None else source, **kw)


def correct(fitness: float) -> EvalResult:
    return EvalResult(status=Status.CORRECT, fitness=fitness)


# -- runs ------------------------------------------------------------------------------------


def test_create_run_round_trips_every_field(store: Store, run: RunInfo) -> None:
    got = store.get_run(run.id)
    assert got == run
    assert (got.task_name, got.task_path, got.strategy, got.seed) == (
        "matmul", "/tasks/matmul/task.yaml", "map_elites", 7,
    )  # fmt: skip
    assert got.config == {"n": 3} and got.status == "running" and got.ended_at is None
    assert len(got.id) == 32 and abs(got.started_at - time.time()) < 60


def test_set_run_status_sets_ended_at_and_running_clears_it(store: Store, run: RunInfo) -> None:
    store.set_run_status(run.id, "crashed", notes="controller died")
    got = store.get_run(run.id)
    assert got.status == "crashed" and got.ended_at is not None and got.notes == "controller died"
    store.set_run_status(run.id, "running")
    got = store.get_run(run.id)
    assert got.status == "running" and got.ended_at is None and got.notes == "controller died"


def test_set_run_status_rejects_unknown_status_and_unknown_run(store: Store, run: RunInfo) -> None:
    with pytest.raises(ValueError, match="done"):
        store.set_run_status(run.id, "done")
    with pytest.raises(StoreError, match="no run"):
        store.set_run_status("f" * 32, "finished")


def test_latest_run_is_the_newest_and_filters_by_task(store: Store) -> None:
    assert store.latest_run() is None
    a = store.create_run("a", "a.yaml", "pq", 0, {})
    b = store.create_run("b", "b.yaml", "pq", 0, {})
    assert store.latest_run() == b
    assert store.latest_run("a") == a
    assert store.latest_run("zzz") is None


def test_get_run_accepts_a_unique_prefix(store: Store, run: RunInfo) -> None:
    assert store.get_run(run.id[:12]) == run


def test_get_run_prefix_errors_name_missing_and_ambiguous(store: Store) -> None:
    runs = [store.create_run("t", "t.yaml", "pq", i, {}) for i in range(17)]  # 17 > 16 hex digits
    first = [r.id[0] for r in runs]
    shared = next(c for c in first if first.count(c) > 1)
    with pytest.raises(StoreError, match="ambiguous"):
        store.get_run(shared)
    missing = next(c for c in "0123456789abcdef" if c not in first) if len(set(first)) < 16 else "x"
    with pytest.raises(StoreError, match="no run id starts with"):
        store.get_run(missing)
    with pytest.raises(StoreError):
        store.get_run("")


def test_list_runs_summarises_counts_best_and_spend_newest_first(store: Store) -> None:
    old = store.create_run("t", "t.yaml", "pq", 0, {})
    new = store.create_run("t", "t.yaml", "pq", 1, {})
    for pid, result in [("a", correct(1.5)), ("b", correct(2.5)), ("c", EvalResult("wrong"))]:
        store.add_program(prog(new, pid))
        store.finish_program(pid, result)
    store.add_program(prog(new, "d"))  # pending
    store.add_program(prog(new, "e"))
    store.mark_program("e", Status.DUPLICATE)
    for i, cost in enumerate([0.25, 0.5]):
        store.add_llm_call(
            LLMCall(f"c{i}", new.id, "m", "[]", prompt_tokens=10, completion_tokens=5, cost=cost)
        )
    summaries = store.list_runs()
    assert [s.run.id for s in summaries] == [new.id, old.id]
    expected = RunSummary(
        run=store.get_run(new.id),
        counts={"correct": 2, "wrong": 1, "pending": 1, "duplicate": 1},
        evaluated=3,
        best_fitness=2.5,
        cost=0.75,
        llm_calls=2,
        tokens=30,
        cost_by_purpose={"proposer": 0.75},
    )
    assert summaries[0] == expected == store.run_summary(new.id)
    empty = summaries[1]
    assert (empty.counts, empty.evaluated, empty.best_fitness) == ({}, 0, None)
    assert (empty.cost, empty.llm_calls, empty.tokens) == (0.0, 0, 0)


# -- programs --------------------------------------------------------------------------------


def test_add_program_round_trips_every_field(store: Store, run: RunInfo) -> None:
    store.add_program(prog(run, "p0"))
    full = Program(
        id="p1", run_id=run.id, source="def f(): pass\n", parent_id="p0", generation=1,
        status=Status.CORRECT, fitness=1.25, metrics={"ms": 0.5, "speedup": math.inf},
        descriptors={"lines": 3.0}, feedback="fine", error=None, diff="- a\n+ b",
        proposer="llm:gpt", island=2, created_at=123.5, evaluated_at=124.0, seq=99,
    )  # fmt: skip
    added = store.add_program(full, reason="best of island 2")
    assert added == replace(full, seq=2)
    assert store.get_program("p1") == added
    assert store.reason_of("p1") == "best of island 2" and store.reason_of("p0") is None


def test_add_program_assigns_seq_per_run_from_one(store: Store, run: RunInfo) -> None:
    other = store.create_run("t2", "t2.yaml", "pq", 0, {})
    seqs = [store.add_program(prog(run, f"a{i}")).seq for i in range(3)]
    assert seqs == [1, 2, 3]
    assert store.add_program(prog(other, "b0")).seq == 1
    assert store.add_program(prog(run, "a3")).seq == 4
    assert [p.seq for p in store.programs(run.id)] == [1, 2, 3, 4]


def test_add_program_sets_created_at_only_when_zero(store: Store, run: RunInfo) -> None:
    assert abs(store.add_program(prog(run, "a")).created_at - time.time()) < 60
    assert store.add_program(prog(run, "b", created_at=5.0)).created_at == 5.0


def test_add_program_refuses_unknown_run_parent_and_duplicate_id(
    store: Store, run: RunInfo
) -> None:
    store.add_program(prog(run, "a"))
    with pytest.raises(StoreError, match="already"):
        store.add_program(prog(run, "a"))
    with pytest.raises(StoreError, match="no parent program"):
        store.add_program(prog(run, "b", parent_id="nope"))
    with pytest.raises(StoreError, match="no run"):
        store.add_program(Program(id="c", run_id="nope", source=""))
    with pytest.raises(ValueError):
        store.add_program(prog(run, "d", status="great"))
    assert [p.id for p in store.programs(run.id)] == ["a"]


def test_non_finite_metrics_round_trip_and_are_stored_as_valid_json(
    store: Store, run: RunInfo
) -> None:
    metrics = {"inf": math.inf, "ninf": -math.inf, "nan": math.nan, "x": 2.0}
    store.add_program(prog(run, "a", metrics=metrics))
    got = store.get_program("a").metrics
    assert got["inf"] == math.inf and got["ninf"] == -math.inf and math.isnan(got["nan"])
    assert got["x"] == 2.0
    with store._engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT metrics FROM programs").scalar()
    assert json.loads(raw, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))["x"] == 2.0


def test_finish_program_records_outcome_and_one_row_per_stage(store: Store, run: RunInfo) -> None:
    store.add_program(prog(run, "a"))
    result = EvalResult(
        status=Status.CORRECT, fitness=3.0, metrics={"ms": 1.0}, descriptors={"d": 0.5},
        feedback="fast", error=None,
        stages=(StageResult("compile", True, 0.5, "ok", "log1"), StageResult("time", True, 2.0)),
    )  # fmt: skip
    done = store.finish_program("a", result)
    assert (done.status, done.fitness, done.metrics, done.descriptors, done.feedback) == (
        "correct", 3.0, {"ms": 1.0}, {"d": 0.5}, "fast",
    )  # fmt: skip
    assert done.evaluated_at is not None and done == store.get_program("a")
    assert store.evaluations("a") == [
        StageRecord(1, "compile", True, 0.5, "ok", "log1"),
        StageRecord(1, "time", True, 2.0, "", ""),
    ]


def test_finish_program_again_numbers_the_next_attempt(store: Store, run: RunInfo) -> None:
    store.add_program(prog(run, "a"))
    failed, passed = (StageResult("run", False),), (StageResult("run", True),)
    store.finish_program("a", EvalResult("error", error="boom", stages=failed))
    again = store.finish_program("a", EvalResult("correct", 1.0, stages=passed))
    assert again.status == "correct" and again.error is None
    assert [(e.attempt, e.ok) for e in store.evaluations("a")] == [(1, False), (2, True)]


def test_finish_program_is_atomic_when_a_stage_insert_fails(store: Store, run: RunInfo) -> None:
    before = store.add_program(prog(run, "a"))
    bad = StageResult("time", True, message=object())  # type: ignore[arg-type]  # cannot bind
    result = EvalResult("correct", 9.0, stages=(StageResult("compile", True), bad))
    with pytest.raises(StoreError, match="program a"):
        store.finish_program("a", result)
    assert store.get_program("a") == before
    assert store.evaluations("a") == []
    assert store.finish_program("a", correct(1.0)).fitness == 1.0  # the store still works


def test_finish_program_of_unknown_program_raises(store: Store, run: RunInfo) -> None:
    with pytest.raises(StoreError, match="no program 'zz'"):
        store.finish_program("zz", correct(1.0))


def test_mark_program_sets_status_and_error_without_evaluation(store: Store, run: RunInfo) -> None:
    store.add_program(prog(run, "a"))
    marked = store.mark_program("a", Status.APPLY_FAILED, error="SEARCH block not found")
    assert (marked.status, marked.error, marked.evaluated_at) == (
        "apply_failed", "SEARCH block not found", None,
    )  # fmt: skip
    assert store.get_program("a") == marked and store.evaluations("a") == []
    with pytest.raises(ValueError):
        store.mark_program("a", "meh")


def test_get_program_prefix_lookup_is_literal_and_scoped(store: Store, run: RunInfo) -> None:
    other = store.create_run("t2", "t2.yaml", "pq", 0, {})
    for pid in ("abc1", "abc2", "x_1", "xy1"):
        store.add_program(prog(run, pid))
    store.add_program(prog(other, "qq1"))
    assert store.get_program("abc1").id == "abc1"
    assert store.get_program("x_").id == "x_1"  # "_" is not a wildcard
    with pytest.raises(StoreError, match="ambiguous"):
        store.get_program("abc")
    with pytest.raises(StoreError, match="no program id starts with 'qq'"):
        store.get_program("qq", run_id=run.id)
    assert store.get_program("qq", run_id=other.id).id == "qq1"


def test_programs_filters_by_status_orders_and_pages(store: Store, run: RunInfo) -> None:
    for pid in "abcde":
        store.add_program(prog(run, pid))
    for pid, fit in [("c", 1.0), ("a", 3.0), ("e", 2.0)]:  # evaluation order: c, a, e
        store.finish_program(pid, correct(fit))
        time.sleep(0.002)
    store.finish_program("b", EvalResult("wrong"))
    ids = lambda ps: "".join(p.id for p in ps)  # noqa: E731
    assert ids(store.programs(run.id)) == "abcde"
    assert ids(store.programs(run.id, order="evaluated")) == "caebd"
    assert ids(store.programs(run.id, order="fitness")) == "aecbd"
    assert ids(store.programs(run.id, ["correct", "wrong"], order="evaluated")) == "caeb"
    assert ids(store.programs(run.id, Status.EVALUATED, limit=2, offset=1)) == "bc"
    assert store.programs(run.id, []) == []
    with pytest.raises(ValueError):
        store.programs(run.id, order="random")


def test_find_by_hash_ignores_apply_failed_and_other_runs(store: Store, run: RunInfo) -> None:
    other = store.create_run("t2", "t2.yaml", "pq", 0, {})
    h = source_hash("same")
    store.add_program(prog(run, "failed", "same"))
    store.mark_program("failed", Status.APPLY_FAILED)
    store.add_program(prog(other, "elsewhere", "same"))
    assert store.find_by_hash(run.id, h) is None
    store.add_program(prog(run, "first", "same"))
    store.add_program(prog(run, "second", "same", status=Status.DUPLICATE))
    assert store.find_by_hash(run.id, h).id == "first"
    assert store.find_by_hash(run.id, source_hash("other")) is None


def test_status_counts_counts_each_status_of_the_run(store: Store, run: RunInfo) -> None:
    assert store.status_counts(run.id) == {}
    store.add_program(prog(run, "a"))
    store.add_program(prog(run, "b"))
    store.finish_program("b", EvalResult("timeout"))
    store.add_program(prog(run, "c"))
    store.finish_program("c", EvalResult("timeout"))
    assert store.status_counts(run.id) == {"pending": 1, "timeout": 2}


def test_best_programs_are_correct_ones_by_fitness_desc(store: Store, run: RunInfo) -> None:
    for pid, fit in [("a", 1.0), ("b", 5.0), ("c", 3.0), ("d", 4.0)]:
        store.add_program(prog(run, pid))
        store.finish_program(pid, correct(fit))
    store.add_program(prog(run, "w"))
    store.finish_program("w", EvalResult("wrong", fitness=100.0))  # not correct: never best
    assert [p.id for p in store.best_programs(run.id, n=3)] == ["b", "d", "c"]
    assert len(store.best_programs(run.id)) == 4


def test_children_and_failed_children_newest_first_with_limit(store: Store, run: RunInfo) -> None:
    store.add_program(prog(run, "root"))
    outcomes = ["wrong", "correct", "build_failed", "error", "apply_failed", "timeout", "pending"]
    for i, status in enumerate(outcomes):
        store.add_program(prog(run, f"k{i}", parent_id="root", generation=1))
        if status == "apply_failed":
            store.mark_program(f"k{i}", status, error="no match")
        elif status != "pending":
            store.finish_program(f"k{i}", EvalResult(status, 1.0 if status == "correct" else None))
    assert [p.id for p in store.children("root")] == [f"k{i}" for i in range(7)]
    assert [p.id for p in store.failed_children("root")] == ["k5", "k4", "k3"]
    assert [p.id for p in store.failed_children("root", limit=10)] == ["k5", "k4", "k3", "k2", "k0"]
    assert store.children("k0") == [] and store.failed_children("k0") == []


# -- llm calls -------------------------------------------------------------------------------


def test_llm_call_round_trips_every_field_and_links(store: Store, run: RunInfo) -> None:
    call = LLMCall(
        id="c1", run_id=run.id, model="openai/gpt", prompt='[{"role": "user"}]', response="hi",
        prompt_tokens=12, completion_tokens=34, cost=0.125, latency=1.5, attempts=2,
        error="rate limited", program_id=None, created_at=100.0,
    )  # fmt: skip
    store.add_llm_call(call)
    store.add_llm_call(LLMCall("c2", run.id, "m2", "[]", cost=0.5, created_at=200.0))
    assert store.llm_calls(run.id) == [call, store.llm_calls(run.id)[1]]
    assert store.llm_calls(run.id)[1].id == "c2"
    store.add_program(prog(run, "p"))
    store.link_llm_call("c1", "p")
    assert store.llm_calls(program_id="p") == [replace(call, program_id="p")]
    assert store.spend(run.id) == 0.625 and store.spend("nope") == 0.0
    with pytest.raises(StoreError, match="no LLM call"):
        store.link_llm_call("c9", "p")
    with pytest.raises(StoreError, match="no program"):
        store.link_llm_call("c2", "zz")


def test_add_llm_call_sets_created_at_and_turns_db_errors_into_store_error(
    store: Store, run: RunInfo
) -> None:
    store.add_llm_call(LLMCall("c1", run.id, "m", "[]"))
    assert abs(store.llm_calls()[0].created_at - time.time()) < 60
    with pytest.raises(StoreError, match="add LLM call c1") as info:
        store.add_llm_call(LLMCall("c1", run.id, "m", "[]"))  # duplicate primary key
    assert "\n" not in str(info.value)
    with pytest.raises(StoreError, match="no run"):
        store.add_llm_call(LLMCall("c2", "nope", "m", "[]"))


def test_closed_store_raises_store_error(store: Store, run: RunInfo) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.get_run(run.id)


# -- SQLite file only ------------------------------------------------------------------------


def test_sqlite_file_uses_wal_and_creates_the_parent_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "x.db"
    with Store(f"sqlite:///{path}") as s:
        assert s.url == f"sqlite:///{path}"
    assert path.exists()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_data_survives_close_and_reopen(db_url: str) -> None:
    with Store(db_url) as s:
        run = s.create_run("t", "t.yaml", "pq", 0, {"a": [1, 2]})
        s.add_program(prog(run, "a"), reason="seed")
        s.finish_program("a", EvalResult("correct", 2.0, stages=(StageResult("run", True),)))
        s.add_llm_call(LLMCall("c", run.id, "m", "[]", cost=1.0, program_id="a"))
        before = (s.get_program("a"), s.evaluations("a"), s.llm_calls(run.id))
    with Store(db_url) as s:
        assert s.get_run(run.id) == run
        assert (s.get_program("a"), s.evaluations("a"), s.llm_calls(run.id)) == before
        assert s.reason_of("a") == "seed" and s.add_program(prog(run, "b")).seq == 2


def test_second_store_reads_what_the_first_wrote_while_it_is_open(db_url: str) -> None:
    with Store(db_url) as writer, Store(db_url) as reader:
        run = writer.create_run("t", "t.yaml", "pq", 0, {})
        writer.add_program(prog(run, "a"))
        assert reader.get_program("a").seq == 1
        writer.finish_program("a", correct(4.0))
        assert reader.run_summary(run.id).best_fitness == 4.0


def test_reader_is_not_blocked_by_an_open_write_transaction(db_url: str, tmp_path: Path) -> None:
    with Store(db_url) as writer:
        run = writer.create_run("t", "t.yaml", "pq", 0, {})
    raw = sqlite3.connect(tmp_path / "lineage.db", isolation_level=None)
    raw.execute("BEGIN EXCLUSIVE")  # in rollback-journal mode this would lock readers out
    raw.execute("UPDATE runs SET status = 'failed'")
    try:
        with Store(db_url, busy_timeout=0.2) as reader:
            assert reader.get_run(run.id).status == "running"  # sees the last commit
    finally:
        raw.execute("ROLLBACK")
        raw.close()


def test_other_schema_version_is_refused_with_how_to_proceed(db_url: str, tmp_path: Path) -> None:
    Store(db_url).close()
    with sqlite3.connect(tmp_path / "lineage.db") as raw:
        raw.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 999.*reads version 5.*new database"):
        Store(db_url)


_V4_COLUMNS = (("programs", "proposal"), ("llm_calls", "role"), ("llm_calls", "reward"))
_V4_TABLES = ("meta_prompts", "plans", "knowledge")


def _downgrade_to_version_4(path: Path) -> None:
    """Rebuild the store file as schema version 4 wrote it: without the suites."""
    with sqlite3.connect(path) as raw:
        for table in ("suite_problems", "suites"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")


def _downgrade_to_version_3(path: Path) -> None:
    """Rebuild the store file as schema version 3 wrote it: without the learning proposer's records."""
    _downgrade_to_version_4(path)
    with sqlite3.connect(path) as raw:
        for table, column in _V4_COLUMNS:
            raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for table in _V4_TABLES:
            raw.execute(f"DROP TABLE {table}")
        raw.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")


def _downgrade_to_version_1(path: Path) -> None:
    """Rebuild the store file as schema version 1 wrote it: without the version-2 columns."""
    _downgrade_to_version_3(path)
    with sqlite3.connect(path) as raw:
        for table, column in (("runs", "heartbeat_at"), ("runs", "owner"), ("programs", "backend"),
                              ("programs", "examples"), ("llm_calls", "purpose")):
            raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_version_4_store_is_upgraded_in_place_with_the_suites(db_url: str, tmp_path: Path) -> None:
    with Store(db_url) as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {})
    _downgrade_to_version_4(tmp_path / "lineage.db")
    with pytest.raises(StoreError, match="schema version 4.*open it once for writing"):
        Store(db_url, read_only=True)
    with Store(db_url) as store:
        assert store.get_run(run.id).task_name == "t" and store.suites() == []
        store.add_suite(Suite("level1", {"language": "triton"}))
        store.put_suite_problem(SuiteProblem("level1", "19_ReLU", "kb/19_ReLU.py", run_id=run.id, status="running"))
        store.put_suite_problem(SuiteProblem("level1", "19_ReLU", "kb/19_ReLU.py", run_id=run.id, status="finished"))
        store.put_suite_problem(SuiteProblem("level1", "1_Conv", "kb/1_Conv.py", status="cannot_run", reason="no GPU"))
        assert [s.name for s in store.suites()] == ["level1"] and store.find_suite("level1").config == {"language": "triton"}
        assert store.find_suite("level2") is None
        assert [(p.name, p.status) for p in store.suite_problems("level1")] == [("19_ReLU", "finished"), ("1_Conv", "cannot_run")]
        with pytest.raises(StoreError):
            store.add_suite(Suite("level1"))
        with pytest.raises(ValueError, match="unknown suite problem status"):
            store.put_suite_problem(SuiteProblem("level1", "x", "x.py", status="done"))
    with sqlite3.connect(tmp_path / "lineage.db") as raw:
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)


def test_version_3_store_is_upgraded_in_place_with_the_learning_records(db_url: str, tmp_path: Path) -> None:
    with Store(db_url) as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {})
        store.add_program(Program(id="p1", run_id=run.id, source="x = 1"))
    _downgrade_to_version_3(tmp_path / "lineage.db")
    with pytest.raises(StoreError, match="schema version 3.*open it once for writing"):
        Store(db_url, read_only=True)
    with Store(db_url) as store:
        assert store.get_program("p1").proposal == {}
        assert store.meta_prompts(run.id) == [] and store.plans(run.id) == [] and store.knowledge() == []
        store.add_program(Program(id="p2", run_id=run.id, source="x = 2", parent_id="p1", proposal={"role": "fix"}))
        assert store.get_program("p2").proposal == {"role": "fix"}
    with sqlite3.connect(tmp_path / "lineage.db") as raw:
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)


def test_version_1_store_is_upgraded_in_place_and_keeps_its_runs(db_url: str, tmp_path: Path) -> None:
    with Store(db_url) as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {})
        store.add_program(Program(id="p1", run_id=run.id, source="x = 1"))
    _downgrade_to_version_1(tmp_path / "lineage.db")
    with pytest.raises(StoreError, match="schema version 1.*open it once for writing"):
        Store(db_url, read_only=True)
    with Store(db_url) as store:
        assert store.get_run(run.id).task_name == "t"
        assert store.get_program("p1").backend is None
    with sqlite3.connect(tmp_path / "lineage.db") as raw:
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)
    Store(db_url, read_only=True).close()


def test_database_of_unknown_origin_is_refused(db_url: str, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "lineage.db") as raw:
        raw.execute("CREATE TABLE programs (id TEXT)")
    with pytest.raises(StoreError, match="no evoforge schema version"):
        Store(db_url)


def test_unusable_url_raises_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open store"):
        Store("nosuchdialect://x")


def test_threads_sharing_a_store_get_distinct_seqs(store: Store, run: RunInfo) -> None:
    def add(worker: int) -> None:
        for i in range(10):
            store.add_program(prog(run, f"w{worker}-{i}"))

    threads = [threading.Thread(target=add, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.seq for p in store.programs(run.id)] == list(range(1, 81))


def test_store_errors_never_show_the_url_password() -> None:
    with pytest.raises(StoreError) as info:
        Store("nosuchdialect://user:hunter2@db.example/evo")
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_a_store_url_is_shown_without_its_password():
    from archives.store import shown_url

    assert shown_url("postgresql://me:secret@db.example/evo") == "postgresql://me:***@db.example/evo"
    assert shown_url("sqlite:///runs/t.db") == "sqlite:///runs/t.db"
