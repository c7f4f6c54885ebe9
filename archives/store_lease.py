"""The store's side of a run's liveness lease (archives/lease.py): take, renew, release.

`StoreLease` is mixed into `Store` (archives/store.py). Each change is one conditional UPDATE
that says in its WHERE clause what it expects to find, so two controllers racing for a run
cannot both win, and a controller that lost its lease cannot overwrite its successor's status.
Each renewal also checks that the store's SQLite file is still the one opened (`check_file`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.engine import make_url

from archives.lease import busy_message, is_dead, last_seen
from archives.store_models import RunBusy, RunInfo, RunRow, RunStatus, StoreError

_SYNC = {"synchronize_session": False}


class StoreLease:
    """Lease operations; mixed into `Store`, which provides `_session`."""

    _session: Any  # Callable[[str], AbstractContextManager[Session]], from Store
    _shown: str  # the store's URL without its password, from Store
    _file: tuple[str, tuple[int, int]] | None  # from Store: file_identity(url) when opened

    def claim_run(self, run_id: str, owner: str) -> RunInfo:
        """Take the run's lease for `owner`: the run becomes `running`, owned and seen now.

        A run left `running` by a dead controller is first marked `crashed` (its notes say
        whose lease went stale). Raises `RunBusy` while another controller's lease is live.
        """
        with self._session("read a run") as s:
            row = s.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"no run {run_id!r} in the store")
            status, seen, heartbeat = row.status, row.owner, row.heartbeat_at
        now = time.time()
        if status == RunStatus.RUNNING and (seen is None or is_dead(status, heartbeat, seen, now)):
            self._mark_crashed(run_id, seen, heartbeat, now)
        R = RunRow
        with self._session("take the run's lease") as s:
            taken = s.execute(
                update(R)
                .where(R.id == run_id, or_(R.owner.is_(None), R.status != RunStatus.RUNNING))
                .values(owner=owner, heartbeat_at=now, status=RunStatus.RUNNING, ended_at=None, notes=None)
                .execution_options(**_SYNC)
            ).rowcount
            row = s.get(R, run_id)
            if taken != 1:
                raise RunBusy(busy_message(run_id, row.owner, row.heartbeat_at))
            return row.to_record()

    def _mark_crashed(self, run_id: str, seen: str | None, heartbeat: float | None, now: float) -> None:
        """Mark a run crashed, unless its lease changed since it was read as dead."""
        R = RunRow
        why = (
            f"crashed: {last_seen(seen, heartbeat, now)}; taken over by a resume"
            if seen is not None
            else "crashed: left running by an evoforge without leases; taken over by a resume"
        )
        same_owner = R.owner.is_(None) if seen is None else R.owner == seen
        same_beat = R.heartbeat_at.is_(None) if heartbeat is None else R.heartbeat_at == heartbeat
        with self._session("mark a dead run crashed") as s:
            s.execute(
                update(R)
                .where(R.id == run_id, R.status == RunStatus.RUNNING, same_owner, same_beat)
                .values(status=RunStatus.CRASHED, ended_at=now, owner=None, notes=why)
                .execution_options(**_SYNC)
            )

    def beat(self, run_id: str, owner: str) -> bool:
        """Renew `owner`'s lease on the run; False when the lease is no longer theirs.
        Raises StoreError when the store cannot be written, or its file is gone."""
        self.check_file()
        R = RunRow
        with self._session("renew the run's lease") as s:
            return s.execute(
                update(R)
                .where(R.id == run_id, R.owner == owner, R.status == RunStatus.RUNNING)
                .values(heartbeat_at=time.time())
                .execution_options(**_SYNC)
            ).rowcount == 1

    def release_run(self, run_id: str, owner: str, status: str, notes: str | None = None) -> bool:
        """End `owner`'s session of the run with `status` (not "running") and give up the
        lease; False (nothing written) when the lease is no longer theirs."""
        if status == RunStatus.RUNNING or status not in RunStatus.ALL:
            raise ValueError(f"a run is released as one of {sorted(RunStatus.ALL - {RunStatus.RUNNING})}, not {status!r}")
        R = RunRow
        with self._session("record how the run ended") as s:
            return s.execute(
                update(R)
                .where(R.id == run_id, R.owner == owner)
                .values(status=status, ended_at=time.time(), owner=None, notes=notes)
                .execution_options(**_SYNC)
            ).rowcount == 1

    def check_file(self) -> None:
        """Raise StoreError when the store's SQLite file was deleted or replaced since it was
        opened: SQLite would go on writing to the deleted file, and every result be lost."""
        if self._file is None:
            return
        path, identity = self._file
        try:
            found = os.stat(path)
        except OSError as exc:
            raise StoreError(f"the store {self._shown} is gone: {exc.strerror or exc} ({path})") from None
        if (found.st_dev, found.st_ino) != identity:
            raise StoreError(f"the store {self._shown} was replaced by another file while in use ({path})")

    def set_run_config(self, run_id: str, config: dict, strategy: str, seed: int) -> None:
        """Store the settings a resumed run goes on with (command-line overrides applied)."""
        R = RunRow
        with self._session("store the run's settings") as s:
            s.execute(
                update(R)
                .where(R.id == run_id)
                .values(config=dict(config), strategy=strategy, seed=int(seed))
                .execution_options(**_SYNC)
            )


def file_identity(url: str) -> tuple[str, tuple[int, int]] | None:
    """(path, (device, inode)) of a SQLite file store; None for other databases."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database.startswith("file:") or database in ("", ":memory:"):
        return None
    try:
        found = os.stat(database)
    except OSError:
        return None
    return database, (found.st_dev, found.st_ino)
