"""The dollar ledger of one run's LLM calls: what was spent, what is reserved, what is left.

Before a request is sent, the gateway reserves its worst-case cost (the prompt's tokens at the
input price plus `max_tokens` at the output price); when the answer comes, the reservation is
replaced by what the call actually cost (`settle`), and when no answer comes it is dropped
(`release`). A call is sent only if its reservation fits beside what was spent and what calls
in flight have reserved, so spent + reserved never exceeds the budget: the recorded spend
stays within it unless a server bills more than the reservation allowed (more completion
tokens than `max_tokens`, or more prompt tokens than counted), and then by at most that excess
of the calls in flight at the time (at most `llm.concurrency` of them).

A reservation that does not fit waits while other calls are in flight (their settling may
leave room, since answers are usually shorter than `max_tokens`) and raises `BudgetExceeded`
once nothing is in flight and it still does not fit.

One ledger may serve gateways on several event loops in several threads (the proposer's on the
run's loop, a prompt task's target model in the evaluation threads): its state changes under a
lock, and a waiter on another loop is woken through that loop's `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import threading

from agent.llm.errors import BudgetExceeded


class DollarLedger:
    """Spent and reserved US dollars against an optional budget (None: no limit)."""

    def __init__(self, budget: float | None, spent: float = 0.0):
        self._budget = budget
        self._spent = float(spent)
        self._reserved: dict[int, float] = {}
        self._next = 0
        self._changed: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self._lock = threading.Lock()

    @property
    def budget(self) -> float | None:
        return self._budget

    @property
    def spent(self) -> float:
        """Dollars of the calls settled so far (including those of earlier sessions)."""
        return self._spent

    @property
    def reserved(self) -> float:
        """Dollars held for calls in flight."""
        return sum(self._reserved.values())

    def check(self) -> None:
        """Raise `BudgetExceeded` if the budget is spent already (nothing is left to reserve)."""
        if self._budget is not None and self._spent >= self._budget:
            raise BudgetExceeded(self._spent, self._budget)

    async def reserve(self, amount: float) -> int:
        """Hold `amount` dollars for a call about to be sent; returns the reservation's id.

        Waits while it does not fit and other reservations are in flight; raises
        `BudgetExceeded` when it does not fit and none is.
        """
        amount = max(0.0, float(amount))
        while True:
            with self._lock:
                if self._budget is None or self._spent + self.reserved + amount <= self._budget:
                    self._next += 1
                    self._reserved[self._next] = amount
                    return self._next
                if not self._reserved or self._spent >= self._budget:
                    raise BudgetExceeded(self._spent, self._budget, amount)
                changed = self._changed_event()  # made under the lock: no settle slips between
            await changed.wait()

    def settle(self, reservation: int, cost: float) -> None:
        """Replace the reservation by what the call cost."""
        with self._lock:
            self._reserved.pop(reservation, None)
            self._spent += max(0.0, float(cost))
            self._notify()

    def release(self, reservation: int) -> None:
        """Drop a reservation whose call brought no answer (failed, cancelled)."""
        with self._lock:
            if self._reserved.pop(reservation, None) is not None:
                self._notify()

    def _changed_event(self) -> asyncio.Event:
        """An event of the running loop, set at the next settle or release (call under the lock)."""
        loop = asyncio.get_running_loop()
        event = self._changed.get(loop)
        if event is None:
            self._changed = {lp: e for lp, e in self._changed.items() if not lp.is_closed()}
            event = self._changed[loop] = asyncio.Event()
        return event

    def _notify(self) -> None:
        """Wake every reservation waiting (on any loop, in any thread); the next waiters get a
        fresh event. Called under the lock."""
        changed, self._changed = self._changed, {}
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, event in changed.items():
            if loop is running:
                event.set()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
