"""What `agent suite` keeps in the store: suites and where each of their problems stands.

`StoreSuites` is mixed into `Store` (archives/store.py). A suite's problems point at their runs
by id (no foreign key: a run may be deleted, and the report then says so).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sqlalchemy import Float, ForeignKey, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from archives.records import SUITE_PROBLEM_STATUSES, Suite, SuiteProblem
from archives.store_models import Base, JSONText


class SuiteRow(Base):
    __tablename__ = "suites"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    config: Mapped[dict] = mapped_column(JSONText)
    created_at: Mapped[float] = mapped_column(Float)

    def to_record(self) -> Suite:
        return Suite(name=self.name, config=dict(self.config or {}), created_at=self.created_at)


class SuiteProblemRow(Base):
    __tablename__ = "suite_problems"

    suite: Mapped[str] = mapped_column(ForeignKey("suites.name"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    task_file: Mapped[str | None] = mapped_column(Text, nullable=True)
    run_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    def to_record(self) -> SuiteProblem:
        return SuiteProblem(**{k: getattr(self, k) for k in _PROBLEM_FIELDS})


_PROBLEM_FIELDS = tuple(SuiteProblem.__dataclass_fields__)


class StoreSuites:
    """Suites and their problems; each method is one `Store._session`."""

    _session: Any  # Store's: (what) -> context manager of a Session
    _records: Any  # Store's: (query, what) -> the rows' records

    def add_suite(self, suite: Suite) -> Suite:
        """Record a new suite (StoreError when the name is taken)."""
        suite = replace(suite, created_at=suite.created_at or time.time())
        with self._session(f"add suite {suite.name!r}") as s:
            s.add(SuiteRow(name=suite.name, config=dict(suite.config), created_at=suite.created_at))
        return suite

    def find_suite(self, name: str) -> Suite | None:
        with self._session(f"read suite {name!r}") as s:
            row = s.get(SuiteRow, name)
            return row.to_record() if row is not None else None

    def suites(self) -> list[Suite]:
        """Every suite, oldest first."""
        return self._records(select(SuiteRow).order_by(SuiteRow.created_at), "read suites")

    def put_suite_problem(self, problem: SuiteProblem) -> SuiteProblem:
        """Insert the problem or replace what is stored for (suite, name)."""
        if problem.status not in SUITE_PROBLEM_STATUSES:
            raise ValueError(f"unknown suite problem status {problem.status!r}")
        with self._session(f"record suite problem {problem.suite}/{problem.name}") as s:
            s.merge(SuiteProblemRow(**{k: getattr(problem, k) for k in _PROBLEM_FIELDS}))
        return problem

    def suite_problems(self, suite: str) -> list[SuiteProblem]:
        """The suite's problems in name order."""
        query = select(SuiteProblemRow).where(SuiteProblemRow.suite == suite).order_by(SuiteProblemRow.name)
        return self._records(query, f"read the problems of suite {suite!r}")
