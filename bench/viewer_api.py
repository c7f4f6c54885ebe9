"""Viewer benchmark: how fast the JSON API answers on a run of 10,000 programs.

    python -m bench.viewer_api [--programs 10000] [--reps 7] [--out bench/results/viewer_api.md] [--keep big.db]

Builds a store through the `Store` API (a lineage of the given size: statuses mixed as in real
runs, two evaluation stages and one LLM call per program, a MAP-Elites snapshot), then times
each endpoint the pages call, in process through Starlette's test client (HTTP handling and
JSON encoding included, no network). Reports the first (uncached) call, the median and the
slowest of the next calls, and the answer's size; also times `agent report` on the same run. The store is kept in a temporary
folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

STATUSES = ["correct"] * 55 + ["wrong"] * 15 + ["build_failed"] * 10 + ["apply_failed"] * 12 + ["error"] * 5 + ["duplicate"] * 3
SOURCE = "import math\n\n\ndef solve(x):\n" + "".join(f"    y{i} = math.sin(x * {i})\n" for i in range(40)) + "    return x\n"


def build_store(url: str, n: int, seed: int = 0) -> str:
    from archives.records import LLMCall, Program, Status
    from archives.store import Store
    from archives.records import EvalResult, StageResult

    rng = random.Random(seed)
    with Store(url) as store:
        run = store.create_run("bench_task", "/bench/task.yaml", "map_elites", seed, {"program": "p.py", "budget": {"evaluations": n}})
        parents: list[Program] = []
        for i in range(n):
            parent = None
            if parents:  # favour recent good programs, as a search does
                parent = parents[-1 - min(int(rng.expovariate(1 / 40)), len(parents) - 1)]
            status = "correct" if i == 0 else rng.choice(STATUSES)
            source = "" if status == "apply_failed" else SOURCE.replace("y3 =", f"y3 = {i} +")
            program = store.add_program(
                Program(id=uuid.uuid4().hex, run_id=run.id, source=source, parent_id=parent.id if parent else None,
                        generation=parent.generation + 1 if parent else 0, proposer="llm:bench/model",
                        diff=None if parent is None else f"<<<<<<< SEARCH\ny3 =\n=======\ny3 = {i} +\n>>>>>>> REPLACE\n")
            )  # fmt: skip
            if status in Status.EVALUATED:
                fitness = rng.gauss(i / n, 0.1) if status == Status.CORRECT else None
                stages = (StageResult("compile", status != "build_failed", 0.2), StageResult("run", status == "correct", 1.5, log="x" * 200))
                program = store.finish_program(program.id, EvalResult(status, fitness=fitness, metrics={"runtime_ms": 1.0}, stages=stages))
            else:
                program = store.mark_program(program.id, status, error="edit did not apply" if status == "apply_failed" else "duplicate")
            if parent is not None:
                store.add_llm_call(LLMCall(id=uuid.uuid4().hex, run_id=run.id, model=rng.choice(["m/a", "m/b"]),
                                           prompt=json.dumps([{"role": "user", "content": SOURCE}]), response="ok",
                                           prompt_tokens=900, completion_tokens=120, cost=0.001, latency=3.0,
                                           program_id=program.id))  # fmt: skip
            if program.is_correct:
                parents.append(program)
        elites = [{"cell": [i % 10, (i // 10) % 10], "program_id": p.id, "fitness": p.fitness, "descriptors": {"a": 0.0, "b": 0.0}} for i, p in enumerate(parents[-100:])]
        axes = [{"name": name, "low": 0, "high": 1, "bins": 10, "log": False, "edges": [k / 10 for k in range(11)]} for name in ("a", "b")]
        store.set_strategy_state(run.id, {"kind": "map_elites", "descriptors": ["a", "b"], "shape": [10, 10], "axes": axes, "elites": elites, "stats": {}})
        store.set_run_status(run.id, "finished")
        return run.id


def time_endpoints(url: str, run_id: str, reps: int) -> list[dict]:
    from starlette.testclient import TestClient

    from agent.viewer.app import create_app
    from agent.viewer.catalog import Catalog
    from archives.store import Store

    with Store(url) as store:
        best = store.best_programs(run_id, 1)[0]
        deep = store.program_briefs(run_id, order="seq", offset=9_000 if store.count_programs(run_id) > 9_000 else 0, limit=1)[0]
        levels = store.generation_counts(run_id)
    widest = max(levels, key=levels.get)
    base = f"/api/runs/{run_id}"
    paths = [
        "/api/runs", base, f"{base}/points", f"{base}/programs?limit=50",
        f"{base}/programs?limit=50&offset=9000", f"{base}/programs?order=fitness&status=correct&limit=50",
        f"{base}/tree", f"{base}/tree/{widest}?limit=500", f"{base}/strategy", f"{base}/spend", f"{base}/stages",
        f"{base}/programs/{best.id}", f"{base}/programs/{best.id}/diff", f"{base}/programs/{deep.id}/diff?against={best.id}",
        f"{base}/programs/{best.id}/children",
    ]  # fmt: skip
    catalog = Catalog([url])
    rows = []
    with TestClient(create_app(catalog), base_url="http://127.0.0.1") as client:
        for path in paths:
            times, size = [], 0
            for _ in range(reps):
                started = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.text)
                size = len(response.content)
            rows.append({"path": path.replace(run_id, "RUN").replace(best.id, "BEST").replace(deep.id, "P"),
                         "first_ms": 1000 * times[0], "median_ms": 1000 * statistics.median(times[1:]),
                         "max_ms": 1000 * max(times[1:]), "bytes": size})  # fmt: skip
    catalog.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/viewer_api.md"))
    parser.add_argument("--keep", type=Path, help="Also copy the benchmark's store to this file (to open it with `agent view`).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        started = time.perf_counter()
        run_id = build_store(url, args.programs)
        built = time.perf_counter() - started
        rows = time_endpoints(url, run_id, args.reps)
        from agent.viewer.catalog import Catalog
        from agent.viewer.report import write_report

        catalog = Catalog([url])
        started = time.perf_counter()
        _, pages = write_report(catalog, run_id, Path(tmp) / "report.html", 200)
        report_s = time.perf_counter() - started
        report_kib = (Path(tmp) / "report.html").stat().st_size // 1024
        catalog.close()
        if args.keep:
            import sqlite3

            with sqlite3.connect(Path(tmp) / "bench.db") as source, sqlite3.connect(args.keep) as target:
                source.backup(target)
    lines = [
        f"# Viewer API on a run of {args.programs:,} programs",
        "",
        f"`python -m bench.viewer_api --programs {args.programs} --reps {args.reps}`; store built in {built:.0f} s "
        f"through the Store API (SQLite file, WAL). In-process HTTP through Starlette's test client.",
        "",
        "First call: nothing cached (the store was just opened). Then: the median and slowest of",
        f"{args.reps - 1} more calls, answered from the viewer's cache while the database is unchanged",
        "(program pages and diffs are not cached).",
        "",
        "| endpoint | first call ms | then median ms | then max ms | bytes |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(f"| `{r['path']}` | {r['first_ms']:.1f} | {r['median_ms']:.1f} | {r['max_ms']:.1f} | {r['bytes']:,} |" for r in rows),
        "",
        f"`agent report` of the same run: {report_s:.1f} s, {report_kib:,} KiB, {pages} full program pages.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps({"programs": args.programs, "reps": args.reps, "build_s": built,
                                                          "report_s": report_s, "report_kib": report_kib, "endpoints": rows}, indent=2))  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
