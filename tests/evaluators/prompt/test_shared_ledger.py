"""One dollar ledger shared by gateways on different event loops in different threads (the
proposer's on the run's loop, a prompt task's target model on the evaluator's own loop)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agent.llm.errors import BudgetExceeded
from agent.llm.ledger import DollarLedger


def test_a_settle_in_one_thread_wakes_a_reservation_waiting_on_another_loop():
    ledger = DollarLedger(1.0)
    held = asyncio.run(ledger.reserve(0.8))  # in flight, made on a loop now gone
    outcome: dict[str, object] = {}
    waiting = threading.Event()

    def other_thread() -> None:
        async def wait_for_room() -> int:
            waiting.set()
            return await asyncio.wait_for(ledger.reserve(0.5), timeout=30)

        try:
            outcome["id"] = asyncio.run(wait_for_room())
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=other_thread)
    thread.start()
    assert waiting.wait(30)
    for _ in range(100):  # let it reach its wait
        if ledger._changed:
            break
        threading.Event().wait(0.01)
    ledger.settle(held, 0.1)  # from this thread: the answer was cheap, room for 0.5 now
    thread.join(30)
    assert "error" not in outcome and isinstance(outcome["id"], int)
    assert ledger.spent == pytest.approx(0.1) and ledger.reserved == pytest.approx(0.5)


def test_reservations_from_many_threads_never_exceed_the_budget():
    ledger = DollarLedger(1.0)
    granted: list[int] = []
    refused: list[BaseException] = []
    lock = threading.Lock()

    def grab() -> None:
        try:
            rid = asyncio.run(ledger.reserve(0.1))
        except BudgetExceeded as exc:
            with lock:
                refused.append(exc)
        else:
            with lock:
                granted.append(rid)

    threads = [threading.Thread(target=grab) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not refused and len(set(granted)) == 10  # distinct ids: no two threads got the same one
    assert ledger.reserved == pytest.approx(1.0)
    for rid in granted:
        ledger.settle(rid, 0.1)
    with pytest.raises(BudgetExceeded):
        asyncio.run(ledger.reserve(0.01))
