"""The viewer's suites (`agent suite run`): a row per suite and a suite's report, as JSON.

The numbers are the report's own (agent/suites/report.py builds them, render.py's
`render_json` spells them), so the viewer, `agent suite report --out x.json` and the markdown
table never disagree. The report modules are imported when a suite is asked for, not when the
viewer starts.
"""

from __future__ import annotations

import json
from typing import Any

from archives.store import Store


def suite_report(store: Store, name: str) -> dict[str, Any]:
    """The suite's report: `render_json`'s object."""
    from agent.suites.render import render_json
    from agent.suites.report import build_report

    return json.loads(render_json(build_report(store, name)))


def suite_rows(store: Store) -> list[dict[str, Any]]:
    """One row per suite of the store: name, created_at, problems, correct, statuses."""
    from agent.suites.report import build_report

    rows = []
    for suite in store.suites():
        report = build_report(store, suite.name)
        rows.append({
            "name": suite.name, "created_at": suite.created_at, "problems": report.problems,
            "correct": report.correct, "statuses": dict(report.statuses),
        })  # fmt: skip
    return rows
