"""The store's read-side queries (archives/store_queries.py) and read-only opening."""

from __future__ import annotations

from pathlib import Path

import pytest

from archives.records import EvalResult, LLMCall, Program, StageResult, Status
from archives.store import Store, StoreError
from tests.postgres import fresh_schema


@pytest.fixture(params=["file", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":
        with fresh_schema() as url, Store(url) as s:
            yield s
        return
    url = f"sqlite:///{tmp_path / 'q.db'}" if request.param == "file" else "sqlite://"
    with Store(url) as s:
        yield s


def settle(store: Store, run_id: str, pid: str, parent: str | None, fitness: float | None, gen: int, stages=()):
    store.add_program(Program(id=pid, run_id=run_id, source=f"src {pid}", parent_id=parent, generation=gen))
    status = Status.CORRECT if fitness is not None else Status.WRONG
    return store.finish_program(pid, EvalResult(status, fitness=fitness, stages=tuple(stages)))


@pytest.fixture
def lineage(store: Store):
    """root -> a -> (b, c); root -> d (wrong); another run with one program."""
    run = store.create_run("t", "/t.yaml", "map_elites", 0, {})
    other = store.create_run("t", "/t.yaml", "map_elites", 0, {})
    settle(store, run.id, "root", None, 1.0, 0, [StageResult("run", True, 0.5), StageResult("score", True, 0.1)])
    settle(store, run.id, "a", "root", 3.0, 1, [StageResult("run", True, 0.25)])
    settle(store, run.id, "d", "root", None, 1, [StageResult("run", False, 2.0)])
    settle(store, run.id, "b", "a", 2.0, 2)
    settle(store, run.id, "c", "a", 5.0, 2)
    settle(store, other.id, "x", None, 9.0, 0, [StageResult("run", True, 7.0)])
    return run.id


def test_briefs_are_paged_and_ordered_without_sources(store, lineage):
    assert [b.id for b in store.program_briefs(lineage)] == ["root", "a", "d", "b", "c"]
    assert [b.id for b in store.program_briefs(lineage, order="fitness")] == ["c", "a", "b", "root", "d"]
    assert [b.id for b in store.program_briefs(lineage, offset=1, limit=2)] == ["a", "d"]
    assert [b.id for b in store.program_briefs(lineage, order="done")] == ["root", "a", "d", "b", "c"]
    assert [b.id for b in store.program_briefs(lineage, generation=2)] == ["b", "c"]
    assert [b.id for b in store.program_briefs(lineage, parent_id="a")] == ["b", "c"]
    assert [b.id for b in store.program_briefs(lineage, Status.WRONG)] == ["d"]
    assert not hasattr(store.program_briefs(lineage)[0], "source")
    with pytest.raises(ValueError, match="unknown order"):
        store.program_briefs(lineage, order="random")


def test_children_counts_come_with_briefs_and_alone(store, lineage):
    counts = {b.id: b.children for b in store.program_briefs(lineage, with_children=True)}
    assert counts == {"root": 2, "a": 2, "d": 0, "b": 0, "c": 0}
    assert store.program_briefs(lineage)[0].children is None
    assert store.children_counts(["a", "c", "missing"]) == {"a": 2, "c": 0, "missing": 0}


def test_counts_generations_and_last_activity(store, lineage):
    assert store.count_programs(lineage) == 5
    assert store.count_programs(lineage, [Status.CORRECT]) == 4
    assert store.count_programs(lineage, generation=1) == 2
    assert store.generation_counts(lineage) == {0: 1, 1: 2, 2: 2}
    last = store.last_activity(lineage)
    assert last == max(p.evaluated_at for p in store.programs(lineage))
    assert store.last_activity("no-such-run") is None


def test_lineage_runs_from_the_initial_program_down_to_the_program(store, lineage):
    assert [b.id for b in store.lineage("c")] == ["root", "a", "c"]
    assert [b.id for b in store.lineage("root")] == ["root"]
    assert store.lineage("missing") == []


def test_spend_by_model_and_stage_times_are_per_run(store, lineage):
    for i, (model, cost, error) in enumerate([("m1", 0.5, None), ("m1", 0.25, "timeout"), ("m2", 1.0, None)]):
        store.add_llm_call(LLMCall(id=f"c{i}", run_id=lineage, model=model, prompt="[]", prompt_tokens=10 * (i + 1),
                                   completion_tokens=i, cost=cost, latency=1.0 + i, error=error))  # fmt: skip
    spend = store.spend_by_model(lineage)
    assert [(m.model, m.calls, m.failed, m.prompt_tokens, m.completion_tokens) for m in spend] == [
        ("m2", 1, 0, 30, 2), ("m1", 2, 1, 30, 1),
    ]  # fmt: skip
    assert spend[1].cost == pytest.approx(0.75) and spend[1].mean_latency == pytest.approx(1.5)
    times = {t.stage: t for t in store.stage_times(lineage)}
    assert set(times) == {"run", "score"}  # the other run's stages are not counted
    assert (times["run"].runs, times["run"].failures) == (3, 1)
    assert times["run"].total_seconds == pytest.approx(2.75) and times["run"].max_seconds == pytest.approx(2.0)
    assert [t.stage for t in store.stage_times(lineage)] == ["run", "score"]


def test_read_only_store_reads_but_refuses_to_write_or_to_create(tmp_path):
    url = f"sqlite:///{tmp_path / 'ro.db'}"
    with Store(url) as writer:
        run = writer.create_run("t", "/t.yaml", "map_elites", 0, {})
    with Store(url, read_only=True) as reader:
        assert reader.get_run(run.id).id == run.id
        with pytest.raises(StoreError):
            reader.create_run("t", "/t.yaml", "map_elites", 0, {})
    with pytest.raises(StoreError, match="no store at"):
        Store(f"sqlite:///{tmp_path / 'missing.db'}", read_only=True)
    assert not (tmp_path / "missing.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(StoreError, match="holds no evoforge store"):
        Store(f"sqlite:///{tmp_path / 'empty.db'}", read_only=True)
