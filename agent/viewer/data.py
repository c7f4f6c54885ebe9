"""What the viewer shows, as JSON-ready dicts: one method per API endpoint.

The web app (agent/viewer/app.py) serves these over HTTP; the static report
(agent/viewer/report.py) records them into the page. Nothing here writes to a store.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections import OrderedDict
from pathlib import PurePath
from types import SimpleNamespace
from typing import Any, Callable

from agent.viewer.catalog import Catalog, NotFound
from agent.viewer.diffs import line_diff
from agent.viewer.examples import compare_examples
from agent.viewer.proposer import program_proposal, run_proposer
from agent.viewer.spend import run_spend_outcomes
from agent.viewer.suites import suite_report, suite_rows
from archives.records import Program, Status
from archives.lease import as_seen
from archives.store import RunInfo, Store, StoreDamaged, StoreError

MAX_PAGE = 1000
KERNEL_KEYS = ("speedup", "speedup_vs_compile", "roofline_fraction")
LANGUAGES = {
    ".py": "python", ".cu": "cpp", ".cuh": "cpp", ".cpp": "cpp", ".cc": "cpp", ".h": "cpp",
    ".hpp": "cpp", ".c": "c", ".rs": "rust", ".js": "javascript", ".ts": "typescript",
    ".go": "go", ".java": "java", ".jl": "julia", ".md": "markdown", ".txt": "plaintext",
}  # fmt: skip


def jsonable(value: Any) -> Any:
    """Dataclasses to dicts; floats JSON cannot spell to the strings the store uses."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), separators=(",", ":"), allow_nan=False)


def page_args(offset: int, limit: int) -> tuple[int, int]:
    if offset < 0 or limit < 1:
        raise ValueError("offset must be >= 0 and limit >= 1")
    return offset, min(limit, MAX_PAGE)


TEXT_LANGUAGES = ("text", "plaintext")


def language_of(run: RunInfo) -> str:
    """The highlighting language of the run's programs: plain text when the run's task kind
    says its candidates are text (prompt tasks), else from the task's program file."""
    config = run.config or {}
    if _kind_language(config) in TEXT_LANGUAGES:
        return "plaintext"
    name = config.get("program") or config.get("reference") or ""
    return LANGUAGES.get(PurePath(str(name)).suffix.lower(), "python")


def _kind_language(config: dict[str, Any]) -> str | None:
    """The candidate language the run's task kind (agent/plugins.py) gives for the stored task
    config; None where the kind is not installed here or cannot answer from the stored config."""
    from agent.plugins import resolve

    try:
        kind = resolve("kinds", str(config.get("kind") or "program"))()
        return str(kind.candidate_language(SimpleNamespace(**config)))
    except Exception:  # noqa: BLE001 - a viewer of someone else's store may lack their plugin
        return None


CACHE_SIZE = 256


class ViewData:
    """Reads runs and programs from a `Catalog` and shapes them for the viewer.

    Answers that scan a whole run (summaries, chart points, tree levels, pages) are cached
    until the store's SQLite file changes, so a finished run of 10,000 programs, or a running
    one between two results, answers from memory.
    """

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self._cache: OrderedDict[tuple, tuple[int, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def _cached(self, store: Store, key: tuple, compute: Callable[[], Any]) -> Any:
        version = self.catalog.version(store)
        if version is None:
            return compute()
        key = (store.url, *key)
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                self._cache.move_to_end(key)
                return hit[1]
        value = jsonable(compute())  # stored as plain JSON data: nothing mutable is shared
        with self._cache_lock:
            self._cache[key] = (version, value)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return value

    # -- runs ------------------------------------------------------------------------------

    def runs(self) -> dict[str, Any]:
        rows = []
        for store in self.catalog.stores():
            rows += self._cached(store, ("runs",), lambda: [self._run_row(store, s) for s in store.list_runs()])
        rows.sort(key=lambda r: r["started_at"], reverse=True)
        return {"runs": [_as_of_now(r) for r in rows]}

    def _run_row(self, store: Store, summary: Any) -> dict[str, Any]:
        run = summary.run
        return {
            "id": run.id, "task": run.task_name, "strategy": run.strategy, "status": run.status,
            "seed": run.seed, "started_at": run.started_at, "ended_at": run.ended_at,
            "last_activity": store.last_activity(run.id), "evaluated": summary.evaluated,
            "programs": sum(summary.counts.values()), "counts": summary.counts,
            "best_fitness": summary.best_fitness, "cost": summary.cost,
            "llm_calls": summary.llm_calls, "tokens": summary.tokens, "notes": run.notes,
            "heartbeat_at": run.heartbeat_at, "owner": run.owner,
        }  # fmt: skip

    def run(self, ref: str) -> dict[str, Any]:
        store, run = self.catalog.find_run(ref)
        answer = self._cached(store, ("run", run.id), lambda: self._run(store, run))
        row = _as_of_now(answer["run"])
        return answer if row is answer["run"] else {**answer, "run": row}

    def _run(self, store: Store, run: RunInfo) -> dict[str, Any]:
        row = self._run_row(store, store.run_summary(run.id))
        best = store.best_programs(run.id, 1)
        row.update(
            task_path=run.task_path,
            kind=(run.config or {}).get("kind", "program"),
            language=language_of(run),
            budget=(run.config or {}).get("budget"),
            best=self._light(best[0]) if best else None,
            generations=len(store.generation_counts(run.id)),
        )
        return {"run": row}

    def points(self, ref: str) -> dict[str, Any]:
        """Every settled program in the order it was settled, as columns (for the charts)."""
        store, run = self.catalog.find_run(ref)
        return self._cached(store, ("points", run.id), lambda: self._points(store, run.id))

    @staticmethod
    def _points(store: Store, run_id: str) -> dict[str, Any]:
        briefs = store.program_briefs(run_id, order="done")
        settled = [b for b in briefs if b.status != Status.PENDING]
        return {
            "id": [b.id for b in settled],
            "seq": [b.seq for b in settled],
            "status": [b.status for b in settled],
            "fitness": [b.fitness for b in settled],
            "done_at": [b.evaluated_at or b.created_at for b in settled],
            "generation": [b.generation for b in settled],
            "pending": len(briefs) - len(settled),
        }

    def programs(
        self, ref: str, statuses: list[str] | None, order: str, offset: int, limit: int
    ) -> dict[str, Any]:
        store, run = self.catalog.find_run(ref)
        offset, limit = page_args(offset, limit)
        unknown = sorted(set(statuses or ()) - Status.ALL)
        if unknown:
            raise ValueError(f"unknown status {unknown[0]!r}")
        def compute() -> dict[str, Any]:
            items = store.program_briefs(
                run.id, statuses, order=order, offset=offset, limit=limit, with_children=True
            )
            total = store.count_programs(run.id, statuses)
            return {"total": total, "offset": offset, "limit": limit, "items": items}

        key = ("programs", run.id, tuple(statuses or ()), order, offset, limit)
        return self._cached(store, key, compute)

    # -- lineage tree ----------------------------------------------------------------------

    def tree(self, ref: str) -> dict[str, Any]:
        """The tree's levels (program counts by generation) and the path to the best program."""
        store, run = self.catalog.find_run(ref)
        return self._cached(store, ("tree", run.id), lambda: self._tree(store, run.id))

    @staticmethod
    def _tree(store: Store, run_id: str) -> dict[str, Any]:
        levels = store.generation_counts(run_id)
        best = store.best_programs(run_id, 1)
        path = store.lineage(best[0].id) if best else []
        counts = store.children_counts(b.id for b in path)
        return {
            "levels": [{"generation": g, "count": n} for g, n in levels.items()],
            "total": sum(levels.values()),
            "best_path": [dataclasses.replace(b, children=counts[b.id]) for b in path],
        }

    def tree_level(self, ref: str, generation: int, offset: int, limit: int) -> dict[str, Any]:
        store, run = self.catalog.find_run(ref)
        offset, limit = page_args(offset, limit)
        def compute() -> dict[str, Any]:
            items = store.program_briefs(
                run.id, generation=generation, offset=offset, limit=limit, with_children=True
            )
            total = store.count_programs(run.id, generation=generation)
            return {"generation": generation, "total": total, "offset": offset, "limit": limit, "items": items}

        return self._cached(store, ("level", run.id, generation, offset, limit), compute)

    def children(self, ref: str, program_ref: str, offset: int, limit: int) -> dict[str, Any]:
        store, run, program = self._program(ref, program_ref)
        offset, limit = page_args(offset, limit)
        items = store.program_briefs(
            run.id, parent_id=program.id, offset=offset, limit=limit, with_children=True
        )
        total = store.children_counts([program.id])[program.id]
        return {"parent": program.id, "total": total, "offset": offset, "limit": limit, "items": items}

    # -- one program -----------------------------------------------------------------------

    def _program(self, ref: str, program_ref: str) -> tuple[Store, RunInfo, Program]:
        store, run = self.catalog.find_run(ref)
        try:
            return store, run, store.get_program(program_ref, run_id=run.id)
        except StoreDamaged:
            raise
        except StoreError as exc:
            raise NotFound(str(exc)) from None

    @staticmethod
    def _light(p: Program) -> dict[str, Any]:
        """A program without its source: for headers and links."""
        fields = ("id", "seq", "parent_id", "generation", "status", "fitness", "proposer", "error")
        return {**{k: getattr(p, k) for k in fields}, "metrics": p.metrics}

    def program(self, ref: str, program_ref: str) -> dict[str, Any]:
        store, run, p = self._program(ref, program_ref)
        parent = store.get_program(p.parent_id) if p.parent_id else None
        calls = store.llm_calls(program_id=p.id)
        record = jsonable(p)
        record.pop("examples", None)  # sent once, compared with the parent's, under "examples"
        record["reason"] = store.reason_of(p.id)
        return {
            "program": record,
            "language": language_of(run),
            "run": {"id": run.id, "task": run.task_name, "strategy": run.strategy, "status": run.status},
            "parent": self._light(parent) if parent else None,
            "children": store.children_counts([p.id])[p.id],
            "lineage": store.lineage(p.id),
            "evaluations": store.evaluations(p.id),
            "llm_calls": [_call(c) for c in calls],
            "kernel": _kernel(p.metrics),
            "examples": compare_examples(p, parent),
            "proposal": program_proposal(store, p),
        }

    def diff(self, ref: str, program_ref: str, against: str | None) -> dict[str, Any]:
        """The diff from `against` (default: the parent) to the program."""
        store, run, p = self._program(ref, program_ref)
        if against:
            try:
                base = store.get_program(against, run_id=run.id)
            except StoreDamaged:
                raise
            except StoreError as exc:
                raise NotFound(str(exc)) from None
        elif p.parent_id:
            base = store.get_program(p.parent_id)
        else:
            base = None
        diff = line_diff(base.source if base else "", p.source)
        return {"from": self._light(base) if base else None, "to": self._light(p), **diff}

    # -- the search and the costs ----------------------------------------------------------

    def strategy(self, ref: str) -> dict[str, Any]:
        store, run = self.catalog.find_run(ref)
        return {"strategy": run.strategy, "state": store.strategy_state(run.id)}

    def spend(self, ref: str) -> dict[str, Any]:
        store, run = self.catalog.find_run(ref)

        def compute() -> dict[str, Any]:
            models = store.spend_by_model(run.id)
            return {"models": models, "total": sum(m.cost for m in models)}

        return self._cached(store, ("spend", run.id), compute)

    def spend_outcomes(self, ref: str) -> dict[str, Any]:
        """What the run's LLM dollars bought, per model (agent/viewer/spend.py)."""
        store, run = self.catalog.find_run(ref)
        return self._cached(store, ("spend_outcomes", run.id), lambda: run_spend_outcomes(store, run.id))

    def proposer(self, ref: str) -> dict[str, Any]:
        """What the learning proposer did in the run (agent/viewer/proposer.py)."""
        store, run = self.catalog.find_run(ref)
        return self._cached(store, ("proposer", run.id), lambda: run_proposer(store, run.id))

    def stages(self, ref: str) -> dict[str, Any]:
        store, run = self.catalog.find_run(ref)
        return self._cached(store, ("stages", run.id), lambda: {"stages": store.stage_times(run.id)})

    # -- suites (agent suite run) ------------------------------------------------------------

    def suites(self) -> list[dict[str, Any]]:
        """Every suite of every store, newest first."""
        rows = []
        for store in self.catalog.stores():
            rows += self._cached(store, ("suites",), lambda: suite_rows(store))
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return rows

    def suite(self, name: str) -> dict[str, Any]:
        """The report of the suite called `name` (the first store holding one)."""
        for store in self.catalog.stores():
            if store.find_suite(name) is not None:
                return self._cached(store, ("suite", name), lambda: suite_report(store, name))
        raise NotFound(f"no suite {name!r} in the store")


def _as_of_now(row: dict[str, Any]) -> dict[str, Any]:
    """A cached run row with its status as of now: a run whose controller died since the
    row was cached (nothing was written since, so the cache still holds) reads crashed."""
    status, notes = as_seen(row["status"], row.get("notes"), row.get("heartbeat_at"), row.get("owner"))
    return row if status == row["status"] else {**row, "status": status, "notes": notes}


def _call(call: Any) -> dict[str, Any]:
    """An LLM call with its prompt split into chat messages (raw text if it is not JSON)."""
    try:
        messages = json.loads(call.prompt)
        if not isinstance(messages, list):
            raise ValueError
        messages = [{"role": str(m.get("role", "")), "content": str(m.get("content", ""))} for m in messages]
    except (ValueError, AttributeError):
        messages = [{"role": "prompt", "content": call.prompt}]
    record = jsonable(call)
    record.pop("prompt")
    record["messages"] = messages
    return record


def _kernel(metrics: dict[str, float]) -> dict[str, Any] | None:
    """The kernel panel's numbers, when the program's metrics come from the kernel judge."""
    if not any(k in metrics for k in KERNEL_KEYS):
        return None
    headline = (
        *KERNEL_KEYS, "runtime_ms", "runtime_ms_ci_low", "runtime_ms_ci_high", "reference_ms",
        "compile_ref_ms", "roofline_floor_ms", "max_abs_err", "max_rel_err",
    )  # fmt: skip
    return {
        "headline": {k: metrics[k] for k in headline if k in metrics},
        "profiler": {k: v for k, v in sorted(metrics.items()) if k.startswith("ncu_")},
    }
