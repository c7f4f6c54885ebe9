"""Strategy benchmark: every strategy and baseline on four cheap tasks, many seeds, equal budgets.

    python -m bench.strategies [--seeds 15] [--budget 200] [--jobs 2] [--out bench/results/strategies.md]

Each (strategy, task, seed) is one search of `--budget` evaluations with the simulated proposer
of bench/sim_search.py, in-process. The report gives, per task and strategy, the median true
value of the strategy's best program at the end of the budget and the median evaluations until
a program reached the task's target, each with a distribution-free 95% interval of the median,
and a one-sided Mann-Whitney test against `best_of_n` and `greedy`. The raw outcomes go to a
JSON file beside the report.
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
    "map_elites": {"strategy": "map_elites"},
    "map_elites_islands": {"strategy": "map_elites", "map_elites": {"islands": 4}},
    "pq": {"strategy": "pq"},
    "mcts": {"strategy": "mcts"},
}
"""Row name -> `search` settings (defaults for everything not named)."""

BASELINES = ("best_of_n", "greedy")
CLEAR_P = 0.01  # "clearly better": one-sided Mann-Whitney p below this


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


def summarize(rows: list[dict[str, Any]], budget: int) -> dict[tuple[str, str], dict[str, Any]]:
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        by_variant = {v: [r for r in rows if r["task"] == task and r["variant"] == v] for v in VARIANTS}
        best = {v: [r["best_true"] for r in rs] for v, rs in by_variant.items()}
        # Not reaching the target counts as needing more than the budget (ranked last).
        reach = {v: [r["to_target"] if r["to_target"] is not None else math.inf for r in rs] for v, rs in by_variant.items()}
        for v, rs in by_variant.items():
            cells[(task, v)] = {
                "best": (median(best[v]), *median_interval(best[v])),
                "reach": (median(reach[v]), *median_interval(reach[v])),
                "reached": sum(x != math.inf for x in reach[v]),
                "runs": len(rs),
                "repeats": sum(r["repeats"] for r in rs) / len(rs),
                "rejected": sum(r["rejected"] for r in rs) / len(rs),
                "p_best": {b: mann_whitney_greater(best[v], best[b]) for b in BASELINES},
                "p_reach": {b: mann_whitney_greater([-x for x in reach[v]], [-x for x in reach[b]]) for b in BASELINES},
            }
    return cells


def render_report(rows: list[dict[str, Any]], budget: int, seeds: int, seconds: float) -> str:
    from bench.sim_search import TASKS

    cells = summarize(rows, budget)
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    out = [
        "# Strategy benchmark",
        "",
        f"`python -m bench.strategies --seeds {seeds} --budget {budget}` ({seconds:.0f} s on this machine).",
        f"Every strategy gets the same budget of {budget} evaluations (repeats of noisy evaluations",
        "count), the same simulated proposer (bench/sim_search.py), and the same near-duplicate",
        "rejection as `agent evolve`. Numbers are medians over the seeds with a distribution-free 95%",
        "interval of the median in brackets. *best* is the true (noise-free) value of the program the",
        "strategy names as its best at the end (higher is better); *evals to target* counts",
        "evaluations until a program at or above the target was evaluated (— : not reached in the",
        "median run; `k/n`: runs that reached it). **bold**: better than `best_of_n` with one-sided",
        f"Mann-Whitney p < {CLEAR_P}; ≥ greedy / < greedy: the same test against `greedy` (p < {CLEAR_P}",
        "either way), blank when neither is clearly better.",
        "",
        "Tasks (6 coordinates each; programs build the vector term by term):",
        "",
    ]
    about = {
        "smooth": "a sphere: one broad optimum",
        "rugged": "Rastrigin: a local optimum at every integer offset",
        "deceptive": "per coordinate a broad slope to a false peak (0.8) and a narrow true peak (1.0) behind a valley",
        "noisy": f"the sphere with Gaussian evaluation noise (sd {TASKS['noisy'].noise:g})",
    }
    for t in tasks:
        out.append(f"- **{t}**: {about.get(t, '')}; target {TASKS[t].target:g}.")
    for t in tasks:
        out += ["", f"## {t}", "", "| strategy | best at budget | evals to target | reached | vs greedy | repeats | rejected |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        for v in VARIANTS:
            c = cells[(t, v)]
            m, lo, hi = c["best"]
            rm, rlo, rhi = c["reach"]
            beats = c["p_best"]["best_of_n"] < CLEAR_P and v != "best_of_n"
            best_txt = f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]"
            if beats:
                best_txt = f"**{best_txt}**"
            vs = ""
            if v != "greedy":
                if c["p_best"]["greedy"] < CLEAR_P:
                    vs = "≥ greedy"
                elif mann_whitney_greater(
                    [r["best_true"] for r in rows if r["task"] == t and r["variant"] == "greedy"],
                    [r["best_true"] for r in rows if r["task"] == t and r["variant"] == v],
                ) < CLEAR_P:
                    vs = "< greedy"
            out.append(
                f"| {v} | {best_txt} | {_fmt(rm)} [{_fmt(rlo)}, {_fmt(rhi)}] | {c['reached']}/{c['runs']} | {vs} "
                f"| {c['repeats']:.1f} | {c['rejected']:.1f} |"
            )
    out += ["", "## Who beats best_of_n clearly", "", "| strategy | tasks (best at budget, p < 0.01) |", "| --- | --- |"]
    for v in VARIANTS:
        if v == "best_of_n":
            continue
        won = [t for t in tasks if cells[(t, v)]["p_best"]["best_of_n"] < CLEAR_P]
        out.append(f"| {v} | {', '.join(won) or 'none'} ({len(won)}/{len(tasks)}) |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=15)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tasks", default="smooth,rugged,deceptive,noisy")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("bench/results/strategies.md"))
    args = parser.parse_args(argv)
    variants = args.variants.split(",")
    for v in list(VARIANTS):
        if v not in variants and v not in BASELINES:
            del VARIANTS[v]
    jobs = [(v, t, s, args.budget) for t in args.tasks.split(",") for v in VARIANTS for s in range(args.seeds)]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(run_one, jobs, chunksize=4))
    seconds = time.monotonic() - started
    report = render_report(rows, args.budget, args.seeds, seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(report)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')} in {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
