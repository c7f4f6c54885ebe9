"""What a run's LLM spend buys, for scripted misbehaving models (issue 20's measurement).

    python -m bench.waste --label before [--behaviours stubborn,repeater,half] [--evaluations 20]
                          [--summarizer on,off] [--strategy pq] [--model openai/gpt-4o-mini]
                          [--out bench/results/waste.md]

For each behaviour of tests/fakes/behaviours.py, `agent evolve` runs as a user runs it (its own
process, a SQLite store) on a one-constant program task (the quadratic task of the end-to-end
tests) against the fake OpenAI-compatible server over real HTTP. The model name is a priced one
litellm knows, and the server reports token usage (about 4 characters a token of the actual
request and answer), so every call costs what it would and a longer prompt costs more. Each
behaviour runs once with the priority queue's summarizer as configured by default ("on") and
once with it switched off (`search.pq.summarize_every: 0`, "off"): a summary call buys no
evaluated program by definition, so the two rows say what the summarizer costs.

Read back from the store, per behaviour:
- *calls*, *dollars*: every LLM call of the run and their cost;
- *evaluated share*: the share of dollars spent on proposal calls whose program was evaluated
  (a status in Status.EVALUATED: correct, wrong, build_failed, timeout, error); calls whose
  child was apply_failed or duplicate, summary calls (role "summarize") and calls that failed
  are the rest;
- *longest same failure*: the most proposal calls in a row (in call order, summary calls
  skipped) that ended the same unevaluated way: the same status and, for apply_failed and
  failed calls, the same error head (its first line up to the second ": ", digits as #); every
  duplicate counts as one kind;
- *format probes*: proposal calls that asked a model once more for the answer format it had been
  moved away from ("format probe" in `programs.proposal["advice"]`, agent/failure_memory.py),
  and how many of them did not apply (they are in the waste like any other);
- the calls by outcome, and the run's end: the end-of-run summary's status line, or for a run
  that failed (`agent evolve` exit code 1, e.g. nothing left to change) its stored status and notes.

Results are kept per `--label` in bench/results/waste.json (a run replaces its label's rows and
keeps the others), and waste.md shows every label, with a side-by-side table of the labels.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results" / "waste.md"

PROGRAM = """# EVOLVE-BLOCK-START
X = -4.0
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
"""

EVALUATOR = '''"""Scores a program by the X it prints: -(X - 3)^2."""
import subprocess
import sys


def evaluate(program_path):
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        return {"combined_score": 0.0, "error": "program failed"}
    x = float(proc.stdout.strip().splitlines()[-1])
    return {"combined_score": -((x - 3.0) ** 2), "x": x}
'''

TASK_YAML = """name: waste-{behaviour}
kind: program
description: |
  Set X so that f(X) = -(X - 3)^2 is as large as possible.
program: initial.py
evaluator: evaluator.py
budget:
  evaluations: {evaluations}
search:
  strategy: {strategy}
  seed: 0
{summarizer}llm:
  concurrency: 1
evaluate:
  workers: 1
  timeout_seconds: 30
"""

_SIDE_BY_SIDE = "calls / $ / evaluated share / longest same failure"
_STATUS_LINE = re.compile(r"status\s*│\s*(\w+): (.*?)\s*│")


@dataclass(frozen=True)
class WasteRow:
    behaviour: str
    calls: int
    dollars: float
    evaluated_share: float  # of dollars, on calls whose program was evaluated
    longest_failure: int  # proposal calls in the longest run of one unevaluated outcome
    longest_failure_kind: str
    calls_by_outcome: dict[str, int]  # evaluated / apply_failed / duplicate / summary / failed call / other
    evaluations: int
    stop_reason: str
    seconds: float
    summarizer: str = "on"  # "off": search.pq.summarize_every 0
    probes: int = 0  # proposal calls that were format probes
    probes_unapplied: int = 0  # ... whose edit did not apply
    exit_code: int = 0  # of agent evolve


def outcome_of(call, program) -> str:
    """What a call bought: "summary", "failed call", "evaluated", or the child's status."""
    from archives.records import Status

    if call.role == "summarize":
        return "summary"
    if call.error is not None:
        return "failed call"
    if program is None:
        return "other"
    return "evaluated" if program.status in Status.EVALUATED else program.status


def failure_kind(call, program) -> str | None:
    """The kind of an unevaluated proposal call's outcome (None: evaluated, or not a proposal)."""
    outcome = outcome_of(call, program)
    if outcome in ("evaluated", "summary", "other"):
        return None
    if outcome == "duplicate":
        return "duplicate"
    error = call.error if outcome == "failed call" else (program.error or "")
    head = ": ".join((error.strip().splitlines() or [""])[0].split(": ")[:2])
    return f"{outcome}: {re.sub(r'[0-9]+', '#', head)}"


def longest_failure(kinds: list[str | None]) -> tuple[int, str]:
    """The longest run of equal, not-None kinds: (its length, the kind)."""
    best, best_kind, run, last = 0, "", 0, None
    for kind in kinds:
        run = run + 1 if kind is not None and kind == last else (1 if kind is not None else 0)
        last = kind
        if run > best:
            best, best_kind = run, kind
    return best, best_kind


def read_waste(url: str, behaviour: str, stop_reason: str | None, seconds: float, *, summarizer: str = "on",
               exit_code: int = 0) -> WasteRow:
    """The row of the only run in the store at `url`; `stop_reason` None: the run's stored status and notes."""
    from archives.records import Status
    from archives.store import Store

    with Store(url) as store:
        runs = store.list_runs()
        if not runs:
            raise LookupError(f"no run in {url}")
        summary = runs[0]
        calls = store.llm_calls(summary.run.id)
        programs = {p.id: p for p in store.programs(summary.run.id)}
    pairs = [(c, programs.get(c.program_id)) for c in calls]
    outcomes = [outcome_of(c, p) for c, p in pairs]
    dollars = sum(c.cost for c in calls)
    bought = sum(c.cost for (c, _), o in zip(pairs, outcomes) if o == "evaluated")
    kinds = [failure_kind(c, p) for c, p in pairs if c.role != "summarize"]
    streak, kind = longest_failure(kinds)
    by_outcome: dict[str, int] = {}
    for o in outcomes:
        by_outcome[o] = by_outcome.get(o, 0) + 1
    probes = [p for c, p in pairs if c.role != "summarize" and p is not None and is_probe(p)]
    if stop_reason is None:
        stop_reason = f"{summary.run.status}: {summary.run.notes or '-'}"
    return WasteRow(
        behaviour=behaviour, calls=len(calls), dollars=dollars,
        evaluated_share=bought / dollars if dollars else 0.0, longest_failure=streak,
        longest_failure_kind=kind, calls_by_outcome=dict(sorted(by_outcome.items())),
        evaluations=summary.evaluated, stop_reason=stop_reason, seconds=seconds, summarizer=summarizer,
        probes=len(probes), probes_unapplied=sum(p.status == Status.APPLY_FAILED for p in probes),
        exit_code=exit_code,
    )  # fmt: skip


def is_probe(program) -> bool:
    """Whether the program's prompt asked for a format the model had been moved away from."""
    return "format probe" in (program.proposal or {}).get("advice", ())


def stop_reason_of(output: str) -> str:
    """The run's end from the summary table's status row ("finished: budget: evaluations")."""
    match = _STATUS_LINE.search(output)
    return f"{match.group(1)}: {match.group(2)}" if match else "?"


def run_behaviour(
    behaviour: str, folder: Path, *, evaluations: int, strategy: str, model: str, summarizer: str = "on",
    timeout: float = 1800,
) -> WasteRow:
    """One `agent evolve` run with `behaviour` answering (`summarizer` "off": none); its row."""
    from tests.fakes.behaviours import BEHAVIOURS
    from tests.fakes.openai_server import FakeOpenAIServer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "initial.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(EVALUATOR)
    task = folder / "task.yaml"
    off = "  pq: {summarize_every: 0}\n" if summarizer == "off" else ""
    task.write_text(TASK_YAML.format(behaviour=behaviour, evaluations=evaluations, strategy=strategy, summarizer=off))
    url = f"sqlite:///{folder / 'store.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "200"}
    started = time.monotonic()
    with FakeOpenAIServer() as server:
        server.set_responder(BEHAVIOURS[behaviour]())
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", "evolve", str(task), "--model", model, "--api-base", server.url,
             "--store", url, "--dollars", "100", "-q"],
            cwd=folder, capture_output=True, text=True, env=env, timeout=timeout,
        )  # fmt: skip
    seconds = time.monotonic() - started
    error = RuntimeError(f"{behaviour}: agent evolve exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    if proc.returncode not in (0, 1):  # 1: the run failed, as one whose proposals stopped buying anything does
        raise error
    stop = stop_reason_of(proc.stdout + proc.stderr) if proc.returncode == 0 else None
    try:
        row = read_waste(url, behaviour, stop, seconds, summarizer=summarizer, exit_code=proc.returncode)
    except LookupError:  # it failed before its run was created
        raise error from None
    if proc.returncode == 1 and not row.stop_reason.startswith("failed: "):
        raise error
    return row


def merged(path: Path, label: str, rows: list[WasteRow], meta: dict) -> dict:
    """The stored results with `label`'s entry replaced by this run's."""
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    results[label] = {**meta, "rows": [asdict(r) for r in rows]}
    return results


def row_name(row: dict) -> str:
    """A row's name in the tables: the behaviour, and whether the summarizer was off."""
    return row["behaviour"] + (", summarizer off" if row.get("summarizer", "on") == "off" else "")


def probes_cell(row: dict) -> str:
    if "probes" not in row:  # measured before format probes existed
        return "-"
    return f"{row['probes']} ({row['probes_unapplied']} unapplied)" if row["probes"] else "0"


def report(results: dict) -> str:
    out = ["# What the LLM spend buys, per scripted model behaviour (issue 20)", "",
           "`python -m bench.waste --label LABEL`: `agent evolve` against the fake OpenAI-compatible server, "
           "one run per behaviour of tests/fakes/behaviours.py (what each reacts to is in its docstring), with "
           "the priority queue's summarizer on (the default) and, in the rows marked *summarizer off*, switched "
           "off (`search.pq.summarize_every: 0`). "
           "*evaluated share*: share of dollars spent on calls whose program was evaluated (a summary call is "
           "never one); *longest same failure*: proposal calls in the longest run that ended the same "
           "unevaluated way; *format probes*: calls that asked a model once more for the answer format it had "
           "been moved away from, and how many of them did not apply. "
           "Issue 20's target: evaluated share >= 95% for `half`, longest same failure <= 5.", ""]  # fmt: skip
    labels = list(results)
    if len(labels) > 1:
        out += ["## Side by side", "",
                "| behaviour | " + " | ".join(f"{lb}: {_SIDE_BY_SIDE}" for lb in labels) + " |",
                "| --- |" + " --- |" * len(labels)]  # fmt: skip
        names = list(dict.fromkeys(row_name(r) for lb in labels for r in results[lb]["rows"]))
        for name in names:
            cells = []
            for lb in labels:
                row = next((r for r in results[lb]["rows"] if row_name(r) == name), None)
                cells.append("-" if row is None else f"{row['calls']} / ${row['dollars']:.4f} / "
                             f"{row['evaluated_share']:.0%} / {row['longest_failure']}")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out.append("")
    for lb in labels:
        entry = results[lb]
        out += [f"## {lb}", "",
                f"`{entry['command']}` on {entry['tree']}, {entry['date']}; model {entry['model']}, "
                f"strategy {entry['strategy']}, {entry['evaluations']} evaluations budget.", "",
                "| behaviour | calls | dollars | evaluated share | longest same failure | format probes "
                "| calls by outcome | evaluations | stop |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for r in entry["rows"]:
            by = ", ".join(f"{k} {v}" for k, v in r["calls_by_outcome"].items())
            kind = f" ({r['longest_failure_kind']})" if r["longest_failure_kind"] else ""
            code = f" (exit {r['exit_code']})" if r.get("exit_code") else ""
            out.append(f"| {row_name(r)} | {r['calls']} | ${r['dollars']:.4f} | {r['evaluated_share']:.1%} | "
                       f"{r['longest_failure']}{kind} | {probes_cell(r)} | {by} | {r['evaluations']} | "
                       f"{r['stop_reason']}{code} |")
        out.append("")
    return "\n".join(out)


def tree_state() -> str:
    """The commit the tree is on, and whether it has changes not committed."""
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return proc.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"commit {commit}" + (" + uncommitted changes" if changed else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help='the name these results are kept under, e.g. "before"')
    parser.add_argument("--behaviours", default="stubborn,repeater,half")
    parser.add_argument("--evaluations", type=int, default=20, help="the evaluation budget of each run")
    parser.add_argument("--summarizer", default="on,off", help="on (as configured by default), off, or both")
    parser.add_argument("--strategy", default="pq")
    parser.add_argument("--model", default="openai/gpt-4o-mini", help="a model litellm has a price for")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from tests.fakes.behaviours import BEHAVIOURS

    names = args.behaviours.split(",")
    unknown = [n for n in names if n not in BEHAVIOURS]
    if unknown:
        parser.error(f"--behaviours: unknown {', '.join(unknown)}; expected some of {', '.join(BEHAVIOURS)}")
    summarizers = args.summarizer.split(",")
    if not set(summarizers) <= {"on", "off"}:
        parser.error(f"--summarizer: expected on, off or on,off, got {args.summarizer!r}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="waste-") as tmp:
        for name in names:
            for summarizer in summarizers:
                row = run_behaviour(name, Path(tmp) / f"{name}-{summarizer}", evaluations=args.evaluations,
                                    strategy=args.strategy, model=args.model, summarizer=summarizer)
                print(json.dumps(asdict(row)), file=sys.stderr, flush=True)
                rows.append(row)
    command = "python -m bench.waste " + " ".join(argv if argv is not None else sys.argv[1:])
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    meta = {"command": command.strip(), "tree": tree_state(), "date": date,
            "model": args.model, "strategy": args.strategy, "evaluations": args.evaluations}  # fmt: skip
    results = merged(args.out.with_suffix(".json"), args.label, rows, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = report(results)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
