"""The store on PostgreSQL (archives/store_postgres.py): what differs from SQLite. The shared
contract is in test_store.py and test_store_queries.py, run over PostgreSQL too."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from archives.records import Program
from archives.store import RunBusy, Store, StoreError
from archives.store_postgres import with_driver
from tests.postgres import fresh_schema


def test_plain_postgresql_url_gets_an_installed_driver_and_a_named_one_is_kept() -> None:
    got = with_driver(make_url("postgresql://me@db.example/evo")).drivername
    assert got in ("postgresql+psycopg2", "postgresql+psycopg")
    assert __import__(got.split("+")[1])  # the driver it picked is importable
    assert with_driver(make_url("postgresql+psycopg://me@db.example/evo")).drivername == "postgresql+psycopg"


def test_url_naming_a_driver_that_is_not_installed_says_what_to_install() -> None:
    with pytest.raises(StoreError) as info:
        Store("postgresql+pg8000://me:hunter2@127.0.0.1:1/evo")
    message = str(info.value)
    assert "evoforge[postgres]" in message and "\n" not in message and "hunter2" not in message


def test_plain_url_without_any_driver_says_what_to_install() -> None:
    hide_drivers = """
import sys
class Hidden:
    def __init__(self, finder): self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg2"): return None
        return self.finder.find_spec(name, path, target)
sys.meta_path[:] = [Hidden(f) for f in sys.meta_path]
from archives.store import RunBusy, Store, StoreError
try:
    Store("postgresql://me:hunter2@127.0.0.1:1/evo")
except StoreError as exc:
    print(exc)
"""
    root = Path(__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", hide_drivers], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "the store postgresql://me:***@127.0.0.1:1/evo needs a PostgreSQL driver: pip install 'evoforge[postgres]' (psycopg 3)\n"


def test_unreachable_server_is_one_store_error_line() -> None:
    with pytest.raises(StoreError, match="cannot open store") as info:
        Store("postgresql://me@127.0.0.1:1/evo")
    assert "\n" not in str(info.value)


def test_controllers_opening_a_new_database_at_once_all_get_one_schema() -> None:
    with fresh_schema() as url:
        stores: list[Store] = []
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def open_store() -> None:
            start.wait()
            try:
                stores.append(Store(url))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_store) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert errors == [] and len(stores) == 4
            run = stores[0].create_run("t", "t.yaml", "pq", 0, {})
            assert all(s.get_run(run.id) == run for s in stores)
        finally:
            for s in stores:
                s.close()
        with Store(url) as s, s._engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM meta")).scalar() == 1


def test_nul_characters_are_stored_as_replacement_characters() -> None:
    with fresh_schema() as url, Store(url) as store:
        run = store.create_run("t", "t.yaml", "pq", 0, {"note": "a\x00b"})
        store.add_program(Program(id="p1", run_id=run.id, source="print('\x00')", feedback="x\x00"))
        got = store.get_program("p1")
        assert got.source == "print('\ufffd')" and got.feedback == "x\ufffd"
        assert store.get_run(run.id).config == {"note": "a\x00b"}  # JSON spells it \u0000: kept


def test_read_only_store_refuses_to_write() -> None:
    with fresh_schema() as url:
        Store(url).close()
        with Store(url, read_only=True) as reader:
            assert reader.list_runs() == []
            with pytest.raises(StoreError, match="create a run.*read-only"):
                reader.create_run("t", "t.yaml", "pq", 0, {})


def test_version_3_store_is_upgraded_in_place() -> None:
    with fresh_schema() as url:
        with Store(url) as store:
            run = store.create_run("t", "t.yaml", "pq", 0, {})
            store.add_program(Program(id="p1", run_id=run.id, source="x = 1"))
        engine = create_engine(with_driver(make_url(url)))
        with engine.begin() as conn:  # as version 3 wrote it: no suites, no learning records
            for table in ("suite_problems", "suites", "meta_prompts", "plans", "knowledge"):
                conn.execute(text(f"DROP TABLE {table}"))
            for table, column in (("programs", "proposal"), ("llm_calls", "role"), ("llm_calls", "reward")):
                conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
            conn.execute(text("UPDATE meta SET value = '3' WHERE key = 'schema_version'"))
        with pytest.raises(StoreError, match="schema version 3.*open it once for writing"):
            Store(url, read_only=True)
        with Store(url) as store:
            assert store.get_program("p1").source == "x = 1" and store.knowledge() == []
            store.add_program(Program(id="p2", run_id=run.id, source="x = 2", parent_id="p1", proposal={"role": "fix"}))
            assert store.get_program("p2").proposal == {"role": "fix"}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar() == "5"
        engine.dispose()


def test_of_controllers_claiming_one_run_at_once_exactly_one_wins() -> None:
    with fresh_schema() as url:
        with Store(url) as store:
            run = store.create_run("t", "t.yaml", "pq", 0, {})
            store.set_run_status(run.id, "stopped")
        contenders = 6
        barrier = threading.Barrier(contenders)
        outcomes: list[str] = []

        def claim(k: int) -> None:
            with Store(url) as mine:  # connections of its own, like another machine's controller
                barrier.wait()
                try:
                    mine.claim_run(run.id, f"host{k}:{k}:token")
                    outcomes.append("won")
                except RunBusy:
                    outcomes.append("refused")

        threads = [threading.Thread(target=claim, args=(k,)) for k in range(contenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(outcomes) == ["refused"] * (contenders - 1) + ["won"]
