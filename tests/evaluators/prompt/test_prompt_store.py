"""Per-example results and call purposes in the lineage store, and older stores upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from archives.records import EvalResult, ExampleResult, LLMCall, Program
from archives.store import Store


def test_per_example_results_and_call_purposes_are_stored_and_read_back(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'lineage.db'}") as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {})
        store.add_program(Program(id="p1", run_id=run.id, source="Label it."))
        examples = {"e1": ExampleResult(1.0, "positive", "correct", "positive", "Great!", "validation"),
                    "e2": ExampleResult(0.0, "positive", "expected 'neutral'", None, "A fact.", "minibatch")}  # fmt: skip
        stored = store.finish_program("p1", EvalResult("correct", fitness=0.5, examples=examples))
        assert stored.examples == examples
        assert store.get_program("p1").examples == examples
        store.add_llm_call(LLMCall(id="c1", run_id=run.id, model="m", prompt="[]", purpose="target"))
        store.add_llm_call(LLMCall(id="c2", run_id=run.id, model="m", prompt="[]"))
        assert [c.purpose for c in store.llm_calls(run.id)] in (["target", "proposer"], ["proposer", "target"])
        store.add_program(Program(id="p2", run_id=run.id, source="x"))
        assert store.get_program("p2").examples == {}


def test_a_version_2_store_gets_the_new_columns_when_opened_for_writing(tmp_path: Path):
    path = tmp_path / "lineage.db"
    with Store(f"sqlite:///{path}") as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {})
        store.add_program(Program(id="p1", run_id=run.id, source="x"))
        store.add_llm_call(LLMCall(id="c1", run_id=run.id, model="m", prompt="[]"))
    with sqlite3.connect(path) as raw:  # as version 2 wrote it (without version 3's and 4's columns and tables)
        for table, column in (("programs", "examples"), ("llm_calls", "purpose"), ("programs", "proposal"),
                              ("llm_calls", "role"), ("llm_calls", "reward")):
            raw.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for table in ("meta_prompts", "plans", "knowledge"):
            raw.execute(f"DROP TABLE {table}")
        raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    with Store(f"sqlite:///{path}") as store:
        assert store.get_program("p1").examples == {}
        assert store.llm_calls(run.id)[0].purpose == "proposer"
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("5",)
