"""`Store.failure_reasons`: the top reasons programs and LLM calls failed in a run (`agent show`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archives.records import EvalResult, LLMCall, Program, Status
from archives.store import Store
from archives.store_queries import FailureReason


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'f.db'}" if request.param == "file" else "sqlite://"
    with Store(url) as s:
        yield s


def test_reasons_are_grouped_by_their_head_and_counted(store: Store) -> None:
    run = store.create_run("t", "/t.yaml", "map_elites", 0, {})
    other = store.create_run("t", "/t.yaml", "map_elites", 0, {})
    n = 0

    def program(run_id: str, status: str, error: str | None) -> None:
        nonlocal n
        n += 1
        store.add_program(Program(id=f"p{n}", run_id=run_id, source=f"s{n}", status=status, error=error))

    def evaluated(status: str, error: str) -> None:
        nonlocal n
        n += 1
        store.add_program(Program(id=f"p{n}", run_id=run.id, source=f"s{n}"))
        store.finish_program(f"p{n}", EvalResult(status, error=error))

    def call(run_id: str, error: str | None) -> None:
        nonlocal n
        n += 1
        store.add_llm_call(LLMCall(id=f"c{n}", run_id=run_id, model="openai/m", prompt="[]", error=error))

    auth = "openai/m: HTTP 401 authentication failed (check OPENAI_API_KEY): Incorrect key sk-{}"
    for k in range(3):
        call(run.id, auth.format(k))
        program(run.id, Status.APPLY_FAILED, f"LLM call failed: {auth.format(k)}")  # counted with the calls
    call(run.id, "openai/m: connection failed: [Errno 111] Connection refused (gave up after 4 attempts)")
    call(run.id, None)
    call(other.id, auth.format(9))
    for k in range(2):
        program(run.id, Status.APPLY_FAILED, f"the edit did not apply: block {k} did not match\nmore lines")
    evaluated(Status.ERROR, "ZeroDivisionError: division by zero")
    program(run.id, Status.DUPLICATE, "same source as program 1234abcd")  # not a failure

    assert store.failure_reasons(run.id) == [
        FailureReason("program", Status.APPLY_FAILED, "the edit did not apply", 2),
        FailureReason("program", Status.ERROR, "ZeroDivisionError", 1),
        FailureReason("llm", "", "openai/m: HTTP 401 authentication failed (check OPENAI_API_KEY)", 3),
        FailureReason("llm", "", "openai/m: connection failed", 1),
    ]
    assert store.failure_reasons(run.id, limit=1) == [
        FailureReason("program", Status.APPLY_FAILED, "the edit did not apply", 2),
        FailureReason("llm", "", "openai/m: HTTP 401 authentication failed (check OPENAI_API_KEY)", 3),
    ]
    assert store.failure_reasons(store.create_run("t", "/t.yaml", "map_elites", 0, {}).id) == []
