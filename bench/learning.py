"""The learning proposer's parts on and off, through `agent evolve`, under one simulated LLM.

    python -m bench.learning [--arms baseline,ucb,...] [--seeds 5] [--evaluations 40] [--workers 2]
                             [--out bench/results/learning.md]

Each arm runs the same small numeric task (tests/fakes/learning_llm.py: build a vector whose
fitness is minus its squared distance to a hidden centre) as a user runs it: `agent evolve` in
its own process, the program evaluator in the default sandbox, a SQLite store, and two models
("sim-strong": informed changes 35% of the time, 0.2 s an answer; "sim-weak": 5%, 0.1 s)
behind the fake OpenAI-compatible server (tests/fakes/openai_server.py), answered by
`LearningLLM`, whose answers depend on the prompt in the ways its docstring lists. Arms:

| arm | task.yaml | what the simulated LLM rewards |
| --- | --- | --- |
| baseline | nothing learns: models by equal weights | |
| ucb, thompson | `llm.choice` | the strong model gains more per second |
| meta_prompts | `learning.meta_prompts` (evolve_every 5) | rewrites may add the marker word, worth +0.25 |
| plan | `learning.plan` | plans are informed +0.15 more often, and never broken |
| knowledge | `learning.knowledge`, two runs in one store; the second is measured | a knowledge section, +0.15 |
| all | every part (two runs, as knowledge) | all of the above |

Every arm uses the same seeds (search seed and answerer seed); with several requests in flight
the runs are still not reproducible draw for draw. Per run the benchmark reads the store: the
best fitness, the evaluations until a program reached TARGET, the share of children that
improved on their parent, the LLM calls and their seconds, the strong model's share of the
changes, the share of children made with a meta-prompt holding the marker, and the knowledge
entries shown. The report gives per arm the mean and standard deviation over seeds, the range,
and the difference from the baseline with its standard error. What such a simulation can and
cannot show: docs/learning.md ("What the simulated benchmark can and cannot show").
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fakes.learning_llm import EVALUATOR, MARKER, LearningLLM, learning_program, true_fitness  # noqa: E402

TASK_NAME = "learning_sim"
TARGET = -1.0
"""A run "reaches" once a program's fitness is at least this (the initial program's is -18.2, the best 0)."""
MODELS = ("openai/sim-strong", "openai/sim-weak")
STRONG = "sim-strong"
_META = {"meta_prompts": {"enabled": True, "evolve_every": 5}}
_PLAN = {"plan": {"enabled": True}}
_KNOWLEDGE = {"knowledge": {"enabled": True}}
ARMS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "ucb": {"llm": {"choice": "ucb"}},
    "thompson": {"llm": {"choice": "thompson"}},
    "meta_prompts": {"learning": _META},
    "plan": {"learning": _PLAN},
    "knowledge": {"learning": _KNOWLEDGE},
    "all": {"llm": {"choice": "ucb"}, "learning": {**_META, **_PLAN, **_KNOWLEDGE}},
}
TWO_RUNS = ("knowledge", "all")  # the knowledge base needs a run that writes it before one that reads it


def task_config(arm: str, seed: int, evaluations: int, workers: int) -> dict[str, Any]:
    """The task.yaml of one run of `arm`, as a dict."""
    config: dict[str, Any] = {
        "name": TASK_NAME, "kind": "program",
        "description": "Build the vector x term by term so that the score is as large as possible.",
        "program": "initial.py", "evaluator": "evaluator.py",
        "budget": {"evaluations": evaluations},
        "search": {"seed": seed},
        "llm": {"models": [{"name": m} for m in MODELS], "concurrency": workers},
        "evaluate": {"workers": workers, "timeout_seconds": 60},
    }
    for key, value in ARMS[arm].items():
        config[key] = {**config.get(key, {}), **value}
    return config


def evolve(folder: Path, config: dict[str, Any], store_url: str, answerer_seed: int) -> tuple[float, LearningLLM]:
    """One `agent evolve` run in `folder` against a fresh simulated LLM; its wall seconds and the LLM."""
    from tests.fakes.openai_server import FakeOpenAIServer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial.py").write_text(learning_program())
    (folder / "evaluator.py").write_text(EVALUATOR)
    task = folder / f"task-{config['search']['seed']}.yaml"
    task.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    started = time.monotonic()
    answerer = LearningLLM(seed=answerer_seed)
    with FakeOpenAIServer() as server:
        server.set_responder(answerer)
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", "evolve", str(task), "--api-base", server.url, "--store", store_url,
             "-q"], cwd=folder, capture_output=True, text=True, env=env, timeout=3600,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"agent evolve failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-800:]}")
    return time.monotonic() - started, answerer


def informed_share(answerer: LearningLLM) -> float | None:
    """The share of the answers that decide a child's edit (changes without a plan, and plans) that were
    informed, by the simulated LLM's own count."""
    asked = sum(n for (kind, _), n in answerer.requests.items() if kind in ("change", "plan"))
    return sum(answerer.informed.values()) / asked if asked else None


def measure(store_url: str) -> dict[str, Any]:
    """What the latest run of the store did (see the module's docstring)."""
    from archives.store import Store

    with Store(store_url) as store:
        run = store.latest_run(TASK_NAME)
        programs = sorted(store.programs(run.id), key=lambda p: p.seq)
        calls = store.llm_calls(run.id)
        metas = {m.id: m for m in store.meta_prompts(run.id)}
        plans = store.plans(run.id)
        entries = store.knowledge()
    by_id = {p.id: p for p in programs}
    children = [p for p in programs if p.parent_id is not None and p.proposer.startswith("llm")]
    improved = [c for c in children if c.is_correct and by_id.get(c.parent_id) is not None
                and by_id[c.parent_id].is_correct and c.fitness > by_id[c.parent_id].fitness]
    changes = [c for c in calls if c.role in ("draft", "fix")]
    planned = [c for c in calls if c.role == "plan"]
    with_meta = [c for c in children if c.proposal.get("meta_prompt_id") in metas]
    marked = [c for c in with_meta if _has_marker(metas[c.proposal["meta_prompt_id"]])]
    reached = next((p.seq for p in programs if p.is_correct and p.fitness >= TARGET), None)
    best = max((p.fitness for p in programs if p.is_correct), default=None)
    return {
        "run_id": run.id, "best": best, "to_target": reached, "evaluated": len(programs),
        "improved_share": len(improved) / len(children) if children else 0.0,
        "calls": len(calls), "llm_seconds": sum(c.latency for c in calls),
        "strong_share": sum(STRONG in c.model for c in changes) / len(changes) if changes else None,
        "plan_strong_share": sum(STRONG in c.model for c in planned) / len(planned) if planned else None,
        "marked_share": len(marked) / len(with_meta) if with_meta else None,
        "meta_prompts": len(metas), "plans": len(plans), "knowledge_entries": len(entries),
        "shown_knowledge": sum(bool(c.proposal.get("knowledge_ids")) for c in children) / len(children)
        if children else 0.0,
    }


def _has_marker(meta: Any) -> bool:
    return MARKER in meta.system or MARKER in meta.hints


def run_arm(arm: str, seed: int, evaluations: int, workers: int, folder: Path) -> dict[str, Any]:
    """One seed of one arm; for the knowledge arms a first run writes the base, the second is measured."""
    url = f"sqlite:///{folder / 'store.db'}"
    row: dict[str, Any] = {"arm": arm, "seed": seed}
    seconds = 0.0
    if arm in TWO_RUNS:
        seconds, _ = evolve(folder, task_config(arm, 1000 + seed, evaluations, workers), url, 1000 + seed)
        first = measure(url)
        row["first_run"] = {"best": first["best"], "knowledge_entries": first["knowledge_entries"]}
    more, answerer = evolve(folder, task_config(arm, seed, evaluations, workers), url, seed)
    return {**row, **measure(url), "informed_share": informed_share(answerer), "seconds": seconds + more}


# ---- the report ----------------------------------------------------------------------------------


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _mean_of(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if known else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per arm: mean, sd, range of the best fitness, and the difference from the baseline."""
    arms: dict[str, dict[str, Any]] = {}
    for arm in dict.fromkeys(r["arm"] for r in rows):
        rs = [r for r in rows if r["arm"] == arm]
        bests = [r["best"] for r in rs if r["best"] is not None]
        mean, sd = _mean_sd(bests)
        reached = [r["to_target"] for r in rs if r["to_target"] is not None]
        arms[arm] = {
            "runs": len(rs), "best_mean": mean, "best_sd": sd, "best_min": min(bests), "best_max": max(bests),
            "reached": len(reached), "to_target_median": statistics.median(reached) if reached else None,
            "improved_share": statistics.fmean(r["improved_share"] for r in rs),
            "informed_share": _mean_of(r.get("informed_share") for r in rs),
            "calls_per_evaluation": statistics.fmean(r["calls"] / max(1, r["evaluated"] - 1) for r in rs),
            "llm_seconds": statistics.fmean(r["llm_seconds"] for r in rs),
            "strong_share": _mean_of(r["strong_share"] for r in rs),
            "plan_strong_share": _mean_of(r.get("plan_strong_share") for r in rs),
            "marked_share": _mean_of(r["marked_share"] for r in rs),
            "shown_knowledge": statistics.fmean(r["shown_knowledge"] for r in rs),
        }
    base = arms.get("baseline")
    for summary in arms.values():
        if base is not None:
            se = math.sqrt(summary["best_sd"] ** 2 / summary["runs"] + base["best_sd"] ** 2 / base["runs"])
            summary["vs_baseline"], summary["vs_baseline_se"] = summary["best_mean"] - base["best_mean"], se
    return arms


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


_LEGEND = (
    "*best*: the best fitness of a run, mean ± standard deviation over seeds and [min, max]; *vs baseline*: the "
    "difference of the means ± its standard error; *reached*: runs with a program at fitness {target:g} or better, "
    "and the median evaluation it came at; *improved*: children better than their parent; *informed*: the "
    "simulated LLM's informed answers among those that decide a child's edit (changes without a plan, plans); "
    "*strong*: the strong model's share of the change calls (roles draft and fix) / of the plan calls; *marked*: "
    "children made with a "
    "meta-prompt holding the marker word; *knowledge*: children whose prompt showed knowledge entries. The "
    "knowledge and all arms measure the second of two runs in one store. What this can and cannot show: "
    "docs/learning.md, 'What the simulated benchmark can and cannot show'."
)


def report(arms: dict[str, dict[str, Any]], command: str, seconds: float, evaluations: int, workers: int) -> str:
    start = true_fitness(learning_program())
    out = ["# The learning proposer's parts on and off (simulated LLM)", "",
           f"`{command}` ({seconds:.0f} s on this machine). Task: tests/fakes/learning_llm.py (the initial "
           f"program's fitness is {start:.1f}, the best possible 0); {evaluations} evaluations per run, {workers} "
           f"proposals and evaluations in flight; two models, sim-strong and sim-weak. "
           + _LEGEND.format(target=TARGET),
           "", "| arm | runs | best | [min, max] | vs baseline | reached (median eval) | improved | informed "
           "| LLM calls / eval | LLM s / run | strong: change / plan | marked | knowledge |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for arm, s in arms.items():
        vs = f"{s['vs_baseline']:+.2f} ± {s['vs_baseline_se']:.2f}" if arm != "baseline" and "vs_baseline" in s else ""
        median = "-" if s["to_target_median"] is None else f"{s['to_target_median']:.0f}"
        cells = [arm, str(s["runs"]), f"{s['best_mean']:.2f} ± {s['best_sd']:.2f}",
                 f"[{s['best_min']:.2f}, {s['best_max']:.2f}]", vs, f"{s['reached']}/{s['runs']} ({median})",
                 _pct(s["improved_share"]), _pct(s["informed_share"]), f"{s['calls_per_evaluation']:.2f}",
                 f"{s['llm_seconds']:.0f}", f"{_pct(s['strong_share'])} / {_pct(s['plan_strong_share'])}",
                 _pct(s["marked_share"]), _pct(s["shown_knowledge"])]  # fmt: skip
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results/learning.md"))
    args = parser.parse_args(argv)
    unknown = [a for a in args.arms.split(",") if a not in ARMS]
    if unknown:
        parser.error(f"--arms: unknown arm(s) {', '.join(unknown)} (known: {', '.join(ARMS)})")
    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="learning-bench-") as tmp:
        for seed in range(args.seeds):
            for arm in args.arms.split(","):
                row = run_arm(arm, seed, args.evaluations, args.workers, Path(tmp) / f"{arm}-{seed}")
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    seconds = time.monotonic() - started
    command = ("python -m bench.learning " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    arms = summarize(rows)
    text = report(arms, command, seconds, args.evaluations, args.workers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps({"command": command, "seconds": seconds, "arms": arms, "runs": rows}, indent=1), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
