"""`agent new-task --from-kernelbench` over a KernelBench folder: what each problem's task gets.

    python -m bench.new_task_kernelbench DIR [DIR ...] [--out bench/results/new-task-kernelbench.md]

Runs on the CPU. For every problem file it makes the task (agent/new_task.py, which runs the
reference in a child process), loads the task.yaml it wrote (agent.config.load_task), and then
checks it the way the judge will: every correctness trial of the judge's plan (5 trials with
the task's input distributions at the CPU shape, one per odd shape) runs the reference through
evaluators/kernel/reference.py in this process, with a time limit per problem. Reported per
problem: the input elements at the file's own shape, at the CPU shape of the first version of
new-task (every `name = <int>` over 64 set to 64, the rest left) and at the new CPU shape;
the odd shapes; the adversarial distributions kept; whether every trial's reference ran, and
how long the reference side of all trials took.
"""

from __future__ import annotations

import argparse
import ast
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHECK_SECONDS = 120


class _Late(Exception):
    pass


def _on_alarm(*_: Any) -> None:
    raise _Late()


def old_cpu_shape(source: str) -> dict[str, int]:
    """The first version's rule: module-level `name = <int literal>` over 64 became 64."""
    shape = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) \
                and isinstance(node.value, ast.Constant) and type(node.value.value) is int and node.value.value > 64:
            shape[node.targets[0].id] = 64
    return shape


def _count(ref: Any, shape: dict[str, Any] | None) -> int | str:
    import torch

    try:
        ref.set_shape(shape)
        with torch.device("meta"):
            return sum(t.numel() for t in ref.module.get_inputs() if isinstance(t, torch.Tensor))
    except Exception as exc:  # noqa: BLE001 - reported
        return f"{type(exc).__name__}"


def check_task(task_yaml: Path, source: str) -> dict[str, Any]:
    """Element counts at the three shapes and the judge's reference trials at the CPU shape."""
    from agent.config import load_task
    from evaluators.kernel.judge import JudgeOptions, trial_plan
    from evaluators.kernel.reference import Reference

    task = load_task(task_yaml)
    kc = task.kernel
    # The evaluator sends the options to the judge as JSON: tuples arrive as lists, as here.
    cpu = json.loads(json.dumps(kc.cpu_shape)) if kc.cpu_shape is not None else None
    odd = json.loads(json.dumps([dict(s) for s in kc.odd_shapes]))
    ref = Reference(str(task.reference), "cpu")
    row: dict[str, Any] = {"full": _count(ref, None), "old": _count(ref, old_cpu_shape(source)),
                           "cpu": _count(ref, cpu)}
    options = JudgeOptions(device="cpu", shape=cpu, extra_shapes=odd,
                           distributions=[d.model_dump() for d in kc.inputs])
    start = time.perf_counter()
    signal.alarm(CHECK_SECONDS)
    try:
        for trial in trial_plan(options):
            ref.set_shape({**(cpu or {}), **(trial["shape"] or {})})
            ref.expected(trial["seed"], trial["wseed"], trial["dist"])
        row["reference"] = "ran"
    except _Late:
        row["reference"] = f"over {CHECK_SECONDS} s"
    except Exception as exc:  # noqa: BLE001 - reported
        row["reference"] = f"failed on {trial['label']}: {type(exc).__name__}: {str(exc)[:80]}"
    finally:
        signal.alarm(0)
    row["reference_s"] = time.perf_counter() - start
    return row


def run_problem(path: Path, work: Path) -> dict[str, Any]:
    from agent.config import ConfigError
    from agent.new_task import make_kernelbench_task

    row: dict[str, Any] = {"problem": f"{path.parent.name}/{path.name}"}
    start = time.perf_counter()
    try:
        made = make_kernelbench_task(path, "triton", work / path.stem)
    except ConfigError as exc:
        row.update(refused=str(exc).replace(str(path), path.name), new_task_s=time.perf_counter() - start)
        return row
    row["new_task_s"] = time.perf_counter() - start
    s = made.settings
    row.update(cpu_shape=s.cpu_shape, cpu_note=s.cpu_note, odd=len(s.odd_shapes), odd_note=s.odd_note,
               inputs=len(s.inputs), left_out=[f"{_flow(dist)}: {why}" for dist, _, why in s.left_out],
               inputs_note=s.inputs_note)
    row.update(check_task(made.task_yaml, path.read_text(encoding="utf-8")))
    return row


def _flow(dist: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v:g}" if isinstance(v, float) else f"{k}: {v}" for k, v in dist.items()) + "}"


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _shape(shape: dict[str, Any] | None) -> str:
    if shape is None:
        return ""
    return ", ".join(f"{k}={v}" for k, v in shape.items()).replace(" ", "") or "(own)"


def report(rows: list[dict[str, Any]], folders: list[str], seconds: float) -> str:
    from agent.kernelbench_task import DISTRIBUTIONS, HARD_MAX_INPUTS, MAX_INPUTS, SLOW_SECONDS

    made = [r for r in rows if "refused" not in r]
    derived = [r for r in made if r.get("cpu_shape") is not None]
    counts = [r["cpu"] for r in derived if isinstance(r.get("cpu"), int)]
    over = [r for r in derived if isinstance(r.get("cpu"), int) and r["cpu"] > MAX_INPUTS]
    big_old = [r for r in made if isinstance(r.get("old"), int) and r["old"] > 10_000_000]
    largest_old = max((r["old"] for r in made if isinstance(r.get("old"), int)), default=0)
    lines = [
        "# agent new-task --from-kernelbench over KernelBench (CPU)",
        "",
        f"`python -m bench.new_task_kernelbench {' '.join(folders)}`: {len(rows)} problems, {seconds / 60:.1f} min "
        "on a shared 2-core machine (the reference's CPU time is single-threaded in new-task's probe).",
        "",
        f"Limits (agent/kernelbench_task.py): the CPU shape aims at {MAX_INPUTS:,} input elements and at most "
        f"{SLOW_SECONDS:g} s of the judge's reference work per trial; the reference is never run on more than "
        f"{HARD_MAX_INPUTS:,} input elements.",
        "",
        f"- tasks written: {len(made)}; refused (the reference fails): {len(rows) - len(made)}",
        f"- CPU shape derived: {len(derived)} of {len(made)}; input elements at it: median "
        f"{sorted(counts)[len(counts) // 2]:,}, largest {max(counts):,}; over the {MAX_INPUTS:,} aimed at: {len(over)}"
        if counts else "- CPU shape derived: none",
        f"- the first version's rule (every `name = <int>` over 64 set to 64) kept over 10 M input elements for "
        f"{len(big_old)} of them; largest {largest_old:,}",
        f"- odd shapes: two for {sum(r.get('odd') == 2 for r in made)}, "
        f"one for {sum(r.get('odd') == 1 for r in made)}, "
        f"none for {sum(r.get('odd') == 0 for r in made)}",
        f"- adversarial input distributions (of {len(DISTRIBUTIONS)}): all for "
        f"{sum(r.get('inputs') == len(DISTRIBUTIONS) for r in made)}, some for "
        f"{sum(0 < r.get('inputs', 0) < len(DISTRIBUTIONS) for r in made)}, none for "
        f"{sum(r.get('inputs') == 0 for r in made)}",
        f"- the judge's reference side of every trial (5 trials + odd shapes) ran at the CPU shape: "
        f"{sum(r.get('reference') == 'ran' for r in made)} of {len(made)}",
        "",
        "Columns: input elements at the file's own shape / the first version's CPU shape / this CPU shape; "
        "odd shapes kept; adversarial distributions kept (of 4: signed, negative large, large, edge), with the "
        "ones left out and why; the judge's reference work for all trials at the CPU shape.",
        "",
        "| problem | own shape | first version | CPU shape | cpu_shape | odd | adversarial | reference (all trials) "
        "| notes |",
        "| --- | ---: | ---: | ---: | --- | ---: | --- | --- | --- |",
    ]
    for r in rows:
        if "refused" in r:
            lines.append(f"| {r['problem']} | | | refused | | | | | {r['refused'][:200].replace('|', '/')} |")
            continue
        adv = f"{r['inputs']}" + (f" (left out: {'; '.join(r['left_out'])})" if r["left_out"] else "")
        if r.get("inputs_note"):
            adv += f" ({r['inputs_note'][:80]})"
        notes = "; ".join(n for n in (r.get("cpu_note"), r.get("odd_note")) if n)[:240]
        cpu = _n(r.get("cpu")) if r.get("cpu_shape") is not None else "none"
        ref = f"{r['reference']} ({r['reference_s']:.1f} s)"
        shape = _shape(r.get("cpu_shape"))
        lines.append(f"| {r['problem']} | {_n(r.get('full'))} | {_n(r.get('old'))} | {cpu} | {shape} | {r['odd']} "
                     f"| {adv} | "
                     f"{ref} | {notes.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--out", default="bench/results/new-task-kernelbench.md")
    parser.add_argument("--limit", type=int, default=0, help="only the first N problems of each folder")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    import torch

    torch.set_num_threads(1)
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="new-task-kb-") as tmp:
        for folder in args.folders:
            files = sorted(Path(folder).glob("*.py"), key=lambda p: (len(p.name.split("_")[0]), p.name))
            for path in files[: args.limit or None]:
                row = run_problem(path, Path(tmp))
                rows.append(row)
                print(json.dumps(row, default=str), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(rows, args.folders, time.perf_counter() - start), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
