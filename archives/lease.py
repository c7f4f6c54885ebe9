"""Which controller runs a run: the liveness lease, and how readers tell a dead run.

The controller that owns a run writes `runs.owner` ("host:pid:token") and refreshes
`runs.heartbeat_at` every `HEARTBEAT_SECONDS` from a background thread (`Heartbeat`), so a busy
event loop never loses the lease. A run whose status is `running` but whose owner is dead (no
heartbeat for `STALE_SECONDS`, or, on this host, its process no longer exists) reads as
`crashed` to every reader (`is_dead`, applied by the store when it hands out a `RunInfo`).

Taking the lease is one conditional UPDATE (`Store.claim_run`): of two controllers starting at
the same moment only one wins, and the other is refused (`RunBusy`). A run that has ended has
no owner. Runs written before schema version 2 have no owner either: a `running` one of those
reads as `running` (nothing tells whether its controller lives).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from typing import Any, Callable

HEARTBEAT_SECONDS = 5.0  # how often the owner renews its lease
STALE_SECONDS = 30.0  # a lease not renewed for this long is dead: the run reads as crashed


def new_owner() -> str:
    """This process's identity as a lease owner: "host:pid:token"."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_gone(owner: str | None) -> bool:
    """Whether `owner` was a process of this host that no longer exists (or is a zombie).

    Owners on other hosts, or unreadable ones, are never "gone": only their heartbeat tells.
    """
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_dead(status: str, heartbeat_at: float | None, owner: str | None, now: float | None = None) -> bool:
    """Whether a run stored with this status and lease has lost its controller."""
    if status != "running" or owner is None:
        return False
    now = time.time() if now is None else now
    return heartbeat_at is None or now - heartbeat_at > STALE_SECONDS or owner_gone(owner)


def as_seen(status: str, notes: str | None, heartbeat_at: float | None, owner: str | None) -> tuple[str, str | None]:
    """(status, notes) as readers show a run: `running` whose controller is dead reads
    `crashed`, with a note saying when it was last seen (unless the run has notes already)."""
    if not is_dead(status, heartbeat_at, owner):
        return status, notes
    return "crashed", notes or f"no sign of life: {last_seen(owner, heartbeat_at)}"


def last_seen(owner: str | None, heartbeat_at: float | None, now: float | None = None) -> str:
    """"controller host:pid, last seen 12 s ago", for messages about a run's lease."""
    who = ":".join((owner or "?").split(":")[:2])
    if heartbeat_at is None:
        return f"controller {who}, never seen"
    now = time.time() if now is None else now
    return f"controller {who}, last seen {max(0.0, now - heartbeat_at):.0f} s ago"


def busy_message(run_id: str, owner: str | None, heartbeat_at: float | None) -> str:
    """Why a run whose lease is live is refused to another controller, in one line."""
    return (
        f"run {run_id[:8]} is already running ({last_seen(owner, heartbeat_at)}); one controller "
        f"runs a run at a time: stop that one first, or, if it is dead, wait until it has been "
        f"silent for {STALE_SECONDS:.0f} s"
    )


class Heartbeat:
    """Renews a run's lease every `every` seconds from a daemon thread, until `stop()`.

    `beat()` is `Store.beat(run_id, owner)`: True while the lease is ours. When a beat fails
    (the store cannot be written) or finds the lease taken, `on_failure(message)` is called
    once, from the thread, and beating stops.
    """

    def __init__(
        self,
        beat: Callable[[], bool],
        on_failure: Callable[[str], Any],
        *,
        what: str,
        every: float = HEARTBEAT_SECONDS,
    ):
        self._beat = beat
        self._on_failure = on_failure
        self._what = what  # e.g. "run 3fa8c2d1", for the message
        self._every = every
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="evoforge-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (also before `start`); waits for a beat under way."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=STALE_SECONDS)

    def _loop(self) -> None:
        from archives.store_models import StoreError

        while not self._stopping.wait(self._every):
            try:
                held = self._beat()
            except StoreError as exc:
                if not self._stopping.is_set():
                    self._on_failure(str(exc))
                return
            if not held and not self._stopping.is_set():
                self._on_failure(
                    f"{self._what} was taken over by another controller while this one was not "
                    f"answering (its lease is older than {STALE_SECONDS:.0f} s); this session stops"
                )
                return
