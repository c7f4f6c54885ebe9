"""A run's liveness lease: taken atomically, renewed from a thread, dead leases read `crashed`."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from archives.lease import STALE_SECONDS, Heartbeat, is_dead, new_owner, owner_gone
from archives.records import Program
from archives.store import RunBusy, RunInfo, Store, StoreDamaged, StoreError, StoreMissing

ELSEWHERE = "another-host.example:4242:feedface"  # a controller on another machine: only its heartbeat tells


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lease.db"


@pytest.fixture
def store(db_path: Path):
    with Store(f"sqlite:///{db_path}") as s:
        yield s


def new_run(store: Store, owner: str | None = None) -> RunInfo:
    return store.create_run("t", "t.yaml", "pq", 0, {}, owner=owner)


def set_lease(db_path: Path, run_id: str, owner: str | None, heartbeat_at: float | None, status: str = "running") -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute(
            "UPDATE runs SET owner = ?, heartbeat_at = ?, status = ? WHERE id = ?", (owner, heartbeat_at, status, run_id)
        )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_run_created_with_an_owner_holds_its_lease_and_reads_running(store: Store) -> None:
    me = new_owner()
    run = new_run(store, me)
    assert run.owner == me and run.heartbeat_at is not None and run.status == "running"
    assert me.startswith(f"{socket.gethostname()}:{os.getpid()}:")


def test_a_stale_heartbeat_reads_crashed_to_every_reader(store: Store, db_path: Path) -> None:
    run = new_run(store, ELSEWHERE)
    set_lease(db_path, run.id, ELSEWHERE, time.time() - STALE_SECONDS - 5)
    assert store.get_run(run.id).status == "crashed"
    assert "last seen 3" in store.get_run(run.id).notes  # 35 s ago
    assert store.latest_run("t").status == "crashed"
    assert [s.run.status for s in store.list_runs()] == ["crashed"]
    assert store.run_summary(run.id).run.status == "crashed"
    with Store(f"sqlite:///{db_path}", read_only=True) as viewer:
        assert viewer.get_run(run.id).status == "crashed"
    with sqlite3.connect(db_path) as raw:  # reading changed nothing
        assert raw.execute("SELECT status FROM runs").fetchone() == ("running",)


def test_a_fresh_heartbeat_from_another_host_reads_running(store: Store, db_path: Path) -> None:
    run = new_run(store, ELSEWHERE)
    set_lease(db_path, run.id, ELSEWHERE, time.time() - STALE_SECONDS / 2)
    assert store.get_run(run.id).status == "running"


def test_a_dead_process_on_this_host_reads_crashed_at_once(store: Store) -> None:
    owner = f"{socket.gethostname()}:{dead_pid()}:cafe"
    assert owner_gone(owner)
    assert not owner_gone(new_owner())  # this process
    run = new_run(store, owner)
    assert store.get_run(run.id).status == "crashed"


def test_runs_without_an_owner_keep_their_stored_status(store: Store) -> None:
    run = new_run(store)  # as a version-1 store or a direct caller left it
    assert store.get_run(run.id).status == "running"
    assert not is_dead("finished", None, ELSEWHERE)


def test_claiming_a_live_run_is_refused_naming_its_owner(store: Store, db_path: Path) -> None:
    run = new_run(store, ELSEWHERE)
    set_lease(db_path, run.id, ELSEWHERE, time.time() - 3)
    with pytest.raises(RunBusy, match=r"already running \(controller another-host.example:4242, last seen [34] s ago\)"):
        store.claim_run(run.id, new_owner())
    assert store.get_run(run.id).owner == ELSEWHERE


def test_claiming_a_dead_run_marks_it_crashed_then_takes_it(store: Store, db_path: Path) -> None:
    run = new_run(store, ELSEWHERE)
    set_lease(db_path, run.id, ELSEWHERE, time.time() - STALE_SECONDS - 1)
    with sqlite3.connect(db_path) as raw:  # the crash mark is its own committed write
        raw.execute(
            "CREATE TRIGGER seen AFTER UPDATE OF status ON runs WHEN NEW.status = 'crashed' "
            "BEGIN INSERT INTO meta (key, value) VALUES ('crash-note', NEW.notes); END"
        )
    me = new_owner()
    taken = store.claim_run(run.id, me)
    assert taken.owner == me and taken.status == "running" and taken.ended_at is None and taken.notes is None
    with sqlite3.connect(db_path) as raw:
        crashes = raw.execute("SELECT value FROM meta WHERE key = 'crash-note'").fetchall()
    assert len(crashes) == 1 and "crashed: controller another-host.example:4242, last seen" in crashes[0][0]


def test_an_ended_run_is_claimed_without_a_crash(store: Store) -> None:
    me = new_owner()
    run = new_run(store, me)
    assert store.release_run(run.id, me, "stopped", "stopped by Ctrl-C")
    stopped = store.get_run(run.id)
    assert stopped.status == "stopped" and stopped.owner is None and stopped.notes == "stopped by Ctrl-C"
    assert store.claim_run(run.id, new_owner()).status == "running"


def test_of_many_controllers_claiming_at_once_exactly_one_wins(db_path: Path) -> None:
    with Store(f"sqlite:///{db_path}") as store:
        run = new_run(store)
        store.set_run_status(run.id, "stopped")
    contenders = 8
    barrier = threading.Barrier(contenders)
    outcomes: list[str] = []

    def claim() -> None:
        with Store(f"sqlite:///{db_path}") as mine:  # a connection of its own, like another process
            barrier.wait()
            try:
                mine.claim_run(run.id, new_owner())
                outcomes.append("won")
            except RunBusy:
                outcomes.append("refused")

    threads = [threading.Thread(target=claim) for _ in range(contenders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["refused"] * (contenders - 1) + ["won"]


def test_a_lost_lease_can_neither_beat_nor_release(store: Store, db_path: Path) -> None:
    old, new = new_owner(), new_owner()
    run = new_run(store, old)
    set_lease(db_path, run.id, old, time.time() - STALE_SECONDS - 1)
    with sqlite3.connect(db_path) as raw:  # the old owner is another host's, silent too long
        raw.execute("UPDATE runs SET owner = ? WHERE id = ?", (ELSEWHERE, run.id))
    store.claim_run(run.id, new)
    assert store.beat(run.id, new)
    assert not store.beat(run.id, ELSEWHERE)
    assert not store.release_run(run.id, ELSEWHERE, "finished")
    assert store.get_run(run.id).status == "running" and store.get_run(run.id).owner == new


def test_the_heartbeat_renews_the_lease_while_the_main_thread_is_busy(store: Store) -> None:
    me = new_owner()
    run = new_run(store, me)
    first = store.get_run(run.id).heartbeat_at
    failures: list[str] = []
    beat = Heartbeat(lambda: store.beat(run.id, me), failures.append, what="run", every=0.05).start()
    try:
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # a busy loop that never yields on purpose
            sum(range(1000))
    finally:
        beat.stop()
    assert store.get_run(run.id).heartbeat_at > first and not failures


def test_the_heartbeat_reports_a_store_that_cannot_be_written_once(store: Store, db_path: Path) -> None:
    me = new_owner()
    run = new_run(store, me)
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TRIGGER frozen BEFORE UPDATE ON runs BEGIN SELECT RAISE(ABORT, 'disk is frozen'); END")
    failures: list[str] = []
    beat = Heartbeat(lambda: store.beat(run.id, me), failures.append, what="run", every=0.05).start()
    deadline = time.monotonic() + 30
    while not failures and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    beat.stop()
    assert len(failures) == 1 and "cannot renew the run's lease" in failures[0] and "disk is frozen" in failures[0]


def test_a_deleted_store_file_fails_the_next_beat(store: Store, db_path: Path) -> None:
    me = new_owner()
    run = new_run(store, me)
    for path in db_path.parent.glob("lease.db*"):
        path.unlink()
    with pytest.raises(StoreError, match=r"the store sqlite:///.*lease.db is gone: No such file"):
        store.beat(run.id, me)


def test_opening_a_missing_store_to_read_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreMissing, match="no store at"):
        Store(f"sqlite:///{tmp_path / 'typo.db'}", create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_row_with_invalid_json_is_a_damaged_store_error(store: Store, db_path: Path) -> None:
    run = new_run(store)
    store.add_program(Program(id="p1", run_id=run.id, source="x = 1"))
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE programs SET metrics = '{not json' WHERE id = 'p1'")
    with pytest.raises(StoreDamaged, match=r"cannot read a program \(sqlite:///.*\): the store is damaged: .*not valid JSON"):
        store.get_program("p1")
