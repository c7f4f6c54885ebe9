"""Two workers failing at once (two evaluations that cannot be recorded on a full disk): the run
stops with the first error, and the second is collected, not printed by asyncio as "Task
exception was never retrieved" with its traceback after the run's one-line error."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from agent.controller import _unless_a_worker_fails
from archives.store_models import StoreError


async def _cannot_record(n: int) -> None:
    raise StoreError(f"cannot record the evaluation of program {n}: database or disk is full")


async def _two_workers_fail_in_one_step() -> None:
    workers = [asyncio.create_task(_cannot_record(n)) for n in (1, 2)]
    await asyncio.sleep(0)  # both run to their error before the watcher looks
    assert all(w.done() for w in workers)
    await _unless_a_worker_fails(asyncio.sleep(3600), workers)


def test_two_workers_failing_together_raise_one_error_and_leave_nothing_unretrieved(caplog):
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(StoreError, match="database or disk is full") as raised:
            asyncio.run(_two_workers_fail_in_one_step())
        del raised  # its traceback holds the frames, and through them the worker tasks
        gc.collect()  # asyncio reports an unretrieved error when the task is collected
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()], caplog.text
