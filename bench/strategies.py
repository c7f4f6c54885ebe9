"""Strategy benchmark: every strategy and baseline on cheap tasks, many seeds, equal budgets.

    python -m bench.strategies [--seeds 10] [--budgets deceptive=1000,rugged=200,...] [--jobs 2]
                               [--out bench/results/strategies.md]

Each (strategy, task, seed) is one search of the task's budget of evaluations (deceptive tasks
1000, the others 200, or `--budget N` for all) with the simulated proposer of
bench/sim_search.py, in-process. The report gives, per task and strategy, the median true value
of the strategy's best program at the end of the budget and the median evaluations until a
program reached the task's target, each with a distribution-free 95% interval of the median, how
many runs ended with a best program at or above the target (on the deceptive tasks: beyond the
false peak), and one-sided Mann-Whitney tests against `best_of_n` and `greedy`. The raw outcomes
go to a JSON file beside the report.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from statistics import median
from typing import Any

VARIANTS: dict[str, dict[str, Any]] = {
    "best_of_n": {"strategy": "best_of_n"},
    "greedy": {"strategy": "greedy"},
    "pq": {"strategy": "pq"},
    "pq_before": {"strategy": "pq", "pq": {"capacity": 32, "epsilon": 0.05, "distance": "code", "eviction": "fitness",
                                             "pool": 4, "climb_pool": 4, "explore_share": 0.0}},
    "pq_code_distance": {"strategy": "pq", "pq": {"distance": "code"}},
    "pq_capacity_32": {"strategy": "pq", "pq": {"capacity": 32}},
    "pq_no_explore": {"strategy": "pq", "pq": {"explore_share": 0.0}},
    "pq_fitness_eviction": {"strategy": "pq", "pq": {"eviction": "fitness"}},
    "pq_always_explore": {"strategy": "pq", "pq": {"explore_patience": 0, "climb_pool": 4}},
    "map_elites": {"strategy": "map_elites"},
    "map_elites_uniform": {"strategy": "map_elites", "map_elites": {"selection": "uniform", "exploit_ratio": 0.0}},
    "map_elites_islands": {"strategy": "map_elites", "map_elites": {"islands": 4}},
    "mcts": {"strategy": "mcts"},
    "mcts_explore": {"strategy": "mcts", "mcts": {"exploration": 0.5}},
}
"""Row name -> `search` settings (defaults for everything not named)."""

BASELINES = ("best_of_n", "greedy")
CLEAR_P = 0.01  # "clearly better than best_of_n": one-sided Mann-Whitney p below this
GREEDY_P = 0.05  # "better / worse than greedy": one-sided Mann-Whitney p below this
DEFAULT_BUDGETS = {"deceptive": 1000, "deceptive_code": 1000}
DEFAULT_BUDGET = 200
DEFAULT_TASKS = "rugged,noisy,deceptive,deceptive_code,rugged_code,noisy_code,smooth"


def run_one(job: tuple[str, str, int, int]) -> dict[str, Any]:
    from agent.config import SearchConfig
    from archives.registry import make_strategy
    from bench.sim_search import TASKS, run_search

    variant, task, seed, budget = job
    config = SearchConfig.model_validate({**VARIANTS[variant], "seed": seed})
    strategy = make_strategy(config, random.Random(seed))
    outcome = run_search(strategy, TASKS[task], seed, budget)
    return {"variant": variant, "task": task, "seed": seed, **asdict(outcome)}


# ---- statistics ---------------------------------------------------------------------------------


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval for the median from order statistics (binomial, n >= 6)."""
    xs = sorted(values)
    n = len(xs)
    alpha = (1 - level) / 2
    k, cum = 0, 0.0
    while True:  # largest k with P(Binomial(n, 1/2) <= k - 1) <= alpha
        p = math.comb(n, k) / 2**n
        if cum + p > alpha:
            break
        cum += p
        k += 1
    k = max(k, 1)
    return xs[k - 1], xs[n - k]


def mann_whitney_greater(a: list[float], b: list[float]) -> float:
    """One-sided p-value that values in `a` tend to be larger than in `b` (normal approximation
    with tie correction; infinities compare as usual)."""
    pooled = sorted((v, g) for g, vs in ((0, a), (1, b)) for v in vs)
    ranks: list[float] = [0.0] * len(pooled)
    i = 0
    ties = 0.0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    n1, n2 = len(a), len(b)
    r1 = sum(r for r, (_, g) in zip(ranks, pooled) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return 0.5
    z = (u - n1 * n2 / 2 - 0.5) / math.sqrt(var)  # continuity correction
    return 0.5 * math.erfc(z / math.sqrt(2))


# ---- the report ---------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    if v == math.inf:
        return "—"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def summarize(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    from bench.sim_search import TASKS

    cells: dict[tuple[str, str], dict[str, Any]] = {}
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    for task in dict.fromkeys(r["task"] for r in rows):
        by_variant = {v: [r for r in rows if r["task"] == task and r["variant"] == v] for v in variants}
        best = {v: [r["best_true"] for r in rs] for v, rs in by_variant.items()}
        # Not reaching the target counts as needing more than the budget (ranked last).
        reach = {v: [r["to_target"] if r["to_target"] is not None else math.inf for r in rs] for v, rs in by_variant.items()}
        for v, rs in by_variant.items():
            if not rs:
                continue
            cells[(task, v)] = {
                "best": (median(best[v]), *median_interval(best[v])),
                "reach": (median(reach[v]), *median_interval(reach[v])),
                "reached": sum(x != math.inf for x in reach[v]),
                "found": sum(b >= TASKS[task].target for b in best[v]),
                "runs": len(rs),
                "budget": rs[0]["evaluations"],
                "repeats": sum(r["repeats"] for r in rs) / len(rs),
                "rejected": sum(r["rejected"] for r in rs) / len(rs),
                "p_best": {b: mann_whitney_greater(best[v], best[b]) for b in BASELINES if best.get(b)},
                "p_worse": {b: mann_whitney_greater(best[b], best[v]) for b in BASELINES if best.get(b)},
            }
    return cells


ABOUT = {
    "smooth": "a sphere: one broad optimum",
    "rugged": "Rastrigin: a local optimum at every integer offset",
    "deceptive": "per coordinate a broad slope to a false peak (0.8) and a narrow true peak (1.0) behind a "
                 "valley; a best at or above the target lies beyond the false peak",
    "noisy": "the sphere with Gaussian evaluation noise (sd 1)",
}


def _about(task: str) -> str:
    base = task.removesuffix("_code")
    text = ABOUT.get(base, "")
    if task.endswith("_code"):
        return f"{text}; the evaluator reports the fitness alone (no metrics)"
    return f"{text}; the evaluator also reports the vector as metrics x0..x5"


def render_report(rows: list[dict[str, Any]], command: str, seconds: float) -> str:
    from bench.sim_search import TASKS

    cells = summarize(rows)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    seeds = len({r["seed"] for r in rows})
    out = [
        "# Strategy benchmark",
        "",
        f"`{command}` ({seconds:.0f} s on this machine, {seeds} seeds).",
        "Every strategy gets the same budget of evaluations per task (repeats of noisy evaluations",
        "count), the same simulated proposer (bench/sim_search.py), and the same near-duplicate",
        "rejection as `agent evolve`. Numbers are medians over the seeds with a distribution-free 95%",
        "interval of the median in brackets. *best* is the true (noise-free) value of the program the",
        "strategy names as its best at the end (higher is better); *found* counts runs whose best is",
        "at or above the task's target; *evals to target* counts evaluations until a program at or",
        "above the target was evaluated (— : not reached in the median run). **bold**: better than",
        f"`best_of_n` (one-sided Mann-Whitney p < {CLEAR_P}); *vs greedy*: `better` or `worse` when the",
        f"one-sided Mann-Whitney test against `greedy` gives p < {GREEDY_P} (the p value follows), blank",
        "when neither.",
        "",
        "Tasks (6 coordinates each; programs build the vector term by term):",
        "",
    ]
    for t in tasks:
        budget = next(r["evaluations"] for r in rows if r["task"] == t)
        out.append(f"- **{t}** ({budget} evaluations): {_about(t)}; target {TASKS[t].target:g}.")
    if "pq" in variants and "greedy" in variants:
        out += ["", "## The default (`pq`) against `greedy`", "",
                "| task | pq best | greedy best | pq found | greedy found | p (pq better) | p (greedy better) |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for t in tasks:
            c, g = cells[(t, "pq")], cells[(t, "greedy")]
            out.append(f"| {t} | {_fmt(c['best'][0])} | {_fmt(g['best'][0])} | {c['found']}/{c['runs']} "
                       f"| {g['found']}/{g['runs']} | {c['p_best']['greedy']:.3f} | {c['p_worse']['greedy']:.3f} |")
    for t in tasks:
        out += ["", f"## {t}", "",
                "| strategy | best at budget | found | evals to target | vs greedy | repeats | rejected |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for v in variants:
            c = cells.get((t, v))
            if c is None:
                continue
            m, lo, hi = c["best"]
            rm, rlo, rhi = c["reach"]
            best_txt = f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]"
            if v != "best_of_n" and c["p_best"].get("best_of_n", 1.0) < CLEAR_P:
                best_txt = f"**{best_txt}**"
            vs = ""
            if v != "greedy" and "greedy" in c["p_best"]:
                if c["p_best"]["greedy"] < GREEDY_P:
                    vs = f"better (p={c['p_best']['greedy']:.3f})"
                elif c["p_worse"]["greedy"] < GREEDY_P:
                    vs = f"worse (p={c['p_worse']['greedy']:.3f})"
            out.append(
                f"| {v} | {best_txt} | {c['found']}/{c['runs']} | {_fmt(rm)} [{_fmt(rlo)}, {_fmt(rhi)}] | {vs} "
                f"| {c['repeats']:.1f} | {c['rejected']:.1f} |"
            )
    return "\n".join(out) + "\n"


def dump(command: str, seconds: float, rows: list[dict[str, Any]]) -> str:
    """The raw outcomes as JSON, one row a line."""
    lines = ",\n".join(json.dumps(r) for r in rows)
    return f'{{"command": {json.dumps(command)}, "seconds": {seconds:.1f}, "rows": [\n{lines}\n]}}\n'


def parse_budgets(text: str) -> dict[str, int]:
    out = {}
    for part in filter(None, text.split(",")):
        task, _, n = part.partition("=")
        out[task.strip()] = int(n)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=None, help="one budget for every task")
    parser.add_argument("--budgets", default="", help="per task, e.g. deceptive=1000,rugged=200")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tasks", default=DEFAULT_TASKS)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("bench/results/strategies.md"))
    parser.add_argument("--render", type=Path, help="only rewrite the report from this JSON of an earlier run")
    args = parser.parse_args(argv)
    if args.render is not None:
        saved = json.loads(args.render.read_text(encoding="utf-8"))
        report = render_report(saved["rows"], saved["command"], saved["seconds"])
        args.out.write_text(report, encoding="utf-8")
        print(report)
        return
    variants = list(dict.fromkeys([*BASELINES, *args.variants.split(",")]))
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    budgets = {**DEFAULT_BUDGETS, **parse_budgets(args.budgets)}
    tasks = args.tasks.split(",")

    def budget(task: str) -> int:
        return args.budget if args.budget is not None else budgets.get(task, DEFAULT_BUDGET)

    # Longest jobs first, so the pool ends together.
    jobs = sorted(((v, t, s, budget(t)) for t in tasks for v in variants for s in range(args.seeds)),
                  key=lambda j: -j[3])
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(run_one, jobs, chunksize=1))
    seconds = time.monotonic() - started
    order = {(t, v): i for i, (t, v) in enumerate((t, v) for t in tasks for v in variants)}
    rows.sort(key=lambda r: (order[(r["task"], r["variant"])], r["seed"]))
    command = "python -m bench.strategies " + " ".join(argv if argv is not None else sys.argv[1:])
    report = render_report(rows, command.strip(), seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    args.out.with_suffix(".json").write_text(dump(command.strip(), seconds, rows), encoding="utf-8")
    print(report)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
