"""`agent report`: one run as a self-contained HTML page (the viewer's pages, offline).

The report records the API answers the run's pages need, plus a list of every program
without its source (from which the page itself pages lists and lays out the tree). Full
program pages (source, diff, stages, prompt) are recorded for up to `max_programs` programs:
all of them in a small run; otherwise the path to the best program, the fittest ones, and the
earliest ones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent.viewer.catalog import Catalog
from agent.viewer.data import ViewData, dumps
from agent.viewer.page import render_report


def chosen_programs(data: ViewData, run_id: str, max_programs: int) -> list[str]:
    """Ids of the programs whose full pages go into the report, at most `max_programs`."""
    store, run = data.catalog.find_run(run_id)
    total = store.count_programs(run.id)
    if total <= max_programs:
        return [b.id for b in store.program_briefs(run.id)]
    chosen: dict[str, None] = {}
    best = store.best_programs(run.id, 1)
    if best:
        chosen.update(dict.fromkeys(b.id for b in store.lineage(best[0].id)))
    fittest = store.program_briefs(run.id, order="fitness", limit=max_programs // 2)
    chosen.update(dict.fromkeys(b.id for b in fittest if b.fitness is not None))
    for b in store.program_briefs(run.id, limit=max_programs):
        if len(chosen) >= max_programs:
            break
        chosen.setdefault(b.id, None)
    return list(chosen)[:max_programs]


def report_data(data: ViewData, run_ref: str, max_programs: int = 200) -> dict[str, Any]:
    """The recorded API answers and program list for one run."""
    store, run = data.catalog.find_run(run_ref)
    base = f"/api/runs/{run.id}"
    summary = data.run(run.id)
    responses: dict[str, Any] = {
        "/api/runs": {"runs": [r for r in data.runs()["runs"] if r["id"] == run.id]},
        base: summary,
        f"{base}/points": data.points(run.id),
        f"{base}/tree": data.tree(run.id),
        f"{base}/strategy": data.strategy(run.id),
        f"{base}/spend": data.spend(run.id),
        f"{base}/spend/outcomes": data.spend_outcomes(run.id),
        f"{base}/stages": data.stages(run.id),
        f"{base}/proposer": data.proposer(run.id),
    }
    best = summary["run"]["best"]
    for pid in chosen_programs(data, run.id, max_programs):
        responses[f"{base}/programs/{pid}"] = data.program(run.id, pid)
        responses[f"{base}/programs/{pid}/diff"] = data.diff(run.id, pid, None)
        if best and best["id"] != pid:
            responses[f"{base}/programs/{pid}/diff?against={best['id']}"] = data.diff(run.id, pid, best["id"])
    return {
        "run_id": run.id,
        "generated_at": time.time(),
        "responses": responses,
        "briefs": store.program_briefs(run.id, with_children=True),
    }


def write_report(catalog: Catalog, run_ref: str, out: Path, max_programs: int = 200) -> tuple[str, int]:
    """Write the report of `run_ref` to `out`; returns (run id, programs with full pages)."""
    data = ViewData(catalog)
    recorded = report_data(data, run_ref, max_programs)
    run = recorded["responses"][f"/api/runs/{recorded['run_id']}"]["run"]
    page = render_report(dumps(recorded), f"evoforge report · {run['task']} · {run['id'][:8]}")
    out.write_text(page, encoding="utf-8")
    full = sum(1 for path in recorded["responses"] if path.count("/") == 5 and "/programs/" in path)
    return recorded["run_id"], full
