"""Every strategy through `agent evolve` on the deceptive task, with a simulated LLM over HTTP.

    python -m bench.strategies_evolve [--strategies pq,greedy,...] [--seeds 3] [--evaluations 1000]
                                      [--workers 4] [--score-only] [--out bench/results/strategies-evolve.md]

bench/strategies.py drives the strategies in-process, one proposal at a time. Here `agent
evolve` runs as a user runs it (its own process, the default sandbox, the program evaluator, a
SQLite store, `llm.concurrency` proposals in flight, so requests are made from a parent that may
have been bettered meanwhile). The LLM is the fake OpenAI-compatible server of the tests
(tests/fakes/openai_server.py) with a responder that finds the parent program in the prompt and
answers with one edit of the simulated proposer of bench/sim_search.py. The task is the
deceptive one: the program prints its vector, the evaluator scores it and reports the vector
as metrics x0..x5 (with --score-only, the score alone: strategies then see only the programs'
code and constants). The report gives per strategy how many runs ended with a best program
beyond the false peak (true value at or above the target), and the median best.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.sim_search import TASKS, SimulatedProposer, initial_program  # noqa: E402

TASK = TASKS["deceptive"]
MAIN = '\nif __name__ == "__main__":\n    import json\n    print(json.dumps(x))\n'
_BLOCK = re.compile(r"# EVOLVE-BLOCK-START\n.*?# EVOLVE-BLOCK-END\n", re.S)

EVALUATOR = '''"""The deceptive task of bench/sim_search.py: run the program, score the vector it prints."""
import json
import subprocess
import sys


def _trap(x):
    total = 0.0
    for u in x:
        total += 0.8 * (1 - u / 0.6) if u < 0.6 else (u - 0.6) / 0.4
    return total / len(x)


def evaluate(program_path):
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        raise RuntimeError("program failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1])
    x = [min(%(high)r, max(%(low)r, float(v))) for v in json.loads(proc.stdout.strip().splitlines()[-1])]
    return {"combined_score": _trap(x), **({"x%%d" %% i: v for i, v in enumerate(x)} if %(metrics)r else {})}
'''

TASK_YAML = """name: deceptive
kind: program
description: |
  Build the vector x term by term so that the score is as large as possible.
program: initial.py
evaluator: evaluator.py
budget:
  evaluations: {evaluations}
search:
  strategy: {strategy}
  seed: {seed}
llm:
  concurrency: {workers}
evaluate:
  workers: {workers}
  timeout_seconds: 60
"""


def block_of(text: str) -> str | None:
    match = _BLOCK.search(text)
    return None if match is None else match.group()


def run_value(block: str) -> float | None:
    """The noise-free value of the vector a program's block builds (None when it does not run)."""
    scope: dict = {}
    try:
        exec(compile(block, "<block>", "exec"), scope)  # the benchmark's own generated programs
        x = [min(TASK.high, max(TASK.low, float(v))) for v in scope["x"]]
    except Exception:  # noqa: BLE001 - any failure means no value
        return None
    return TASK.f(x)


def responder(seed: int):
    """One simulated edit of the parent shown under '# Current program', as a whole program."""
    from tests.fakes.openai_server import Reply

    proposer = SimulatedProposer(TASK, random.Random(f"proposer:evolve:{seed}"))

    def respond(request: dict) -> Reply:
        user = request["messages"][-1]["content"]
        current = user.split("# Current program", 1)[-1]
        parent = block_of(current) or initial_program(TASK)
        child = proposer.propose(parent)
        # The simulator's broken line "x[i] =+ v" is valid Python (x[i] = +v): make it a syntax
        # error here too, so that a broken program fails in the real evaluator as in bench/strategies.py.
        child = child.replace(" =+ ", " += += ")
        return Reply(f"One edit.\n```python\n{child}{MAIN}```\n")

    return respond


def run_one(strategy: str, seed: int, evaluations: int, workers: int, folder: Path, metrics: bool = True) -> dict:
    from archives.store import Store
    from tests.fakes.openai_server import FakeOpenAIServer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial.py").write_text(initial_program(TASK) + MAIN)
    (folder / "evaluator.py").write_text(EVALUATOR % {"low": TASK.low, "high": TASK.high, "metrics": metrics})
    task = folder / "task.yaml"
    task.write_text(TASK_YAML.format(evaluations=evaluations, strategy=strategy, seed=seed, workers=workers))
    url = f"sqlite:///{folder / 'store.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    with FakeOpenAIServer() as server:
        server.set_responder(responder(seed))
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", "evolve", str(task), "--model", "openai/fake-coder",
             "--api-base", server.url, "--store", url, "-q"],
            cwd=folder, capture_output=True, text=True, env=env, timeout=3600,
        )
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{strategy} seed {seed}: agent evolve failed: {proc.stderr.strip()[-500:]}")
    with Store(url) as store:
        run = store.list_runs()[0].run
        best = store.best_programs(run.id, 1)
        programs = store.programs(run.id)
    best_source = block_of(best[0].source) if best else None
    value = run_value(best_source) if best_source else None
    return {"strategy": strategy, "seed": seed, "best_true": value, "programs": len(programs),
            "found": value is not None and value >= TASK.target, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="greedy,pq,map_elites,mcts,best_of_n")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--score-only", action="store_true", help="the evaluator reports the score alone")
    parser.add_argument("--out", type=Path, default=Path("bench/results/strategies-evolve.md"))
    args = parser.parse_args(argv)
    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="strategies-evolve-") as tmp:
        for strategy in args.strategies.split(","):
            for seed in range(args.seeds):
                row = run_one(strategy, seed, args.evaluations, args.workers, Path(tmp) / f"{strategy}-{seed}",
                              metrics=not args.score_only)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    seconds = time.monotonic() - started
    command = "python -m bench.strategies_evolve " + " ".join(argv if argv is not None else sys.argv[1:])
    reports = "the score alone" if args.score_only else "the score and the vector as metrics x0..x5"
    out = ["# Strategies through `agent evolve` (deceptive task, simulated LLM)", "",
           f"`{command.strip()}` ({seconds:.0f} s on this machine). {args.workers} proposals and "
           f"{args.workers} evaluations in flight; {args.evaluations} evaluations per run; the evaluator reports "
           f"{reports}. *found*: runs whose "
           f"best program lies beyond the false peak (true value at least {TASK.target:g}).", "",
           "| strategy | found | median best | programs stored (median) | seconds per run (median) |",
           "| --- | --- | --- | --- | --- |"]
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        rs = [r for r in rows if r["strategy"] == strategy]
        bests = [r["best_true"] for r in rs if r["best_true"] is not None]
        out.append(f"| {strategy} | {sum(r['found'] for r in rs)}/{len(rs)} | "
                   f"{median(bests):.3g} | {median(r['programs'] for r in rs):.0f} | "
                   f"{median(r['seconds'] for r in rs):.0f} |")
    report = "\n".join(out) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
