"""How a session stops on a signal or a failure found by another thread.

`Stops` is installed around `agent evolve` (a context manager: handlers for SIGINT and SIGTERM
while it is open). SIGTERM stops a run exactly as Ctrl-C does. The first signal cancels the
event loop's main task, so the controller unwinds (sandboxes killed, the work in flight left
`pending` for a resume); outside the loop it raises `Interrupted` where the program is. While
the session records how the run ended (`recording()`), a further signal only prints a note, so
a second Ctrl-C cannot leave the status half-written; otherwise a second signal raises
`Interrupted` at once (e.g. to stop waiting for an evaluation that does not end). Once the
end is recorded and only output and the exit remain (`ending()`), signals are ignored.

`fail(message)` is for other threads (the lease's heartbeat): it stops the loop the same way
and `run()` then raises `RunFailed(message)`.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Coroutine, Iterator

from agent.failures import RunFailed

NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Interrupted(KeyboardInterrupt):
    """The session was stopped by SIGINT or SIGTERM; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 130 for Ctrl-C, 143 for SIGTERM


class Stops:
    """Signal handling and cross-thread failure for one session; see the module docstring."""

    def __init__(self) -> None:
        self.signum: int | None = None  # the first stop signal received
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._recording = 0
        self._ending = False
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> Stops:
        if threading.current_thread() is threading.main_thread():
            for signum in NAMES:
                self._saved[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ending:
            return  # the process ends: keep signals from cutting its exit short
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    # -- the event loop ----------------------------------------------------------------------

    def run(self, main: Coroutine[Any, Any, Any]) -> Any:
        """`asyncio.run(main)`, stoppable by a signal (raises `Interrupted`) or by `fail()`
        (raises `RunFailed`)."""
        if self.failure is not None:
            main.close()
            raise RunFailed(self.failure)
        try:
            return asyncio.run(self._attached(main))
        except asyncio.CancelledError:
            if self.failure is not None:
                raise RunFailed(self.failure) from None
            if self.signum is not None:
                raise Interrupted(self.signum) from None
            raise

    async def _attached(self, main: Coroutine[Any, Any, Any]) -> Any:
        with self._lock:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            if self.signum is not None or self.failure is not None:
                main.close()
                raise asyncio.CancelledError  # stopped before the loop started
            return await main
        finally:
            with self._lock:
                self._loop = self._task = None

    def _cancel_main(self) -> bool:
        """Cancel the loop's main task from any thread; False when no loop is running."""
        with self._lock:
            loop, task = self._loop, self._task
        if loop is None or task is None:
            return False
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return True

    # -- causes ------------------------------------------------------------------------------

    def fail(self, message: str) -> None:
        """Stop the session because of `message` (any thread); `run()` raises RunFailed."""
        with self._lock:
            if self.failure is None:
                self.failure = message
        self._cancel_main()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
        if self._recording:
            _note(f"{NAMES.get(signum, signum)}: already stopping; recording how the run ended")
            return
        if first and self._cancel_main():
            return
        raise Interrupted(self.signum or signum)

    def ending(self) -> None:
        """The run's end is recorded and the process is about to print its last lines and
        exit: from now on SIGINT and SIGTERM are ignored, so a late one cuts neither the
        output nor the exit code (Python's own handler would come back while it exits)."""
        self._recording += 1
        self._ending = True
        if self._saved:
            for signum in NAMES:
                signal.signal(signum, signal.SIG_IGN)

    @contextmanager
    def recording(self) -> Iterator[None]:
        """While inside, signals do not interrupt: the run's end is being recorded."""
        self._recording += 1
        try:
            yield
        finally:
            self._recording -= 1


def _note(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
