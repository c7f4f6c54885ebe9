"""OpenEvolve's examples scored both ways: by OpenEvolve's own `Evaluator` and by evoforge.

    python -m bench.openevolve_compat OPENEVOLVE_CHECKOUT VENV [--out bench/results/openevolve-compat.md]
        [--timeout 90] [--only NAME ...] [--sandbox auto|docker|process] [--with-openevolve]
        [--pythonpath DIR ...] [--note TEXT ...]

Fetches nothing. OPENEVOLVE_CHECKOUT is a folder holding OpenEvolve's `examples/`; VENV is a
virtual environment with `openevolve` installed and whatever the examples need. For every
example folder (bench/openevolve_examples.py) that can run on this machine's CPU, the initial
program is scored:

1. by OpenEvolve: bench/openevolve_runner.py, run by VENV's Python in the example's folder,
   builds `openevolve.evaluator.Evaluator` from the example's config and calls
   `evaluate_program` on the program's text (no LLM, retries off);
2. by evoforge, the way `agent evolve` scores an initial program: the task.yaml that
   `agent new-task --from-openevolve` writes from the example's config, in a temporary folder
   (the example's evaluator and initial program unchanged, referenced where they are), loaded
   with `agent.config.load_task` and evaluated by the evaluator `agent.wiring.build_evaluator`
   makes, in the task's sandbox. An evoforge without the importer gets a plain task.yaml with
   the config's cascade settings instead.

The venv's packages reach evoforge's evaluator through `evaluate.pythonpath` (or, before that
key existed, the PYTHONPATH evoforge passes on, with the process sandbox). The `openevolve`
package itself is left out of that path unless --with-openevolve is given, so evaluators that
import `openevolve.evaluation_result` get what evoforge provides, as a user without OpenEvolve
installed would. --pythonpath adds folders an evaluator reads from outside its own (the AlgoTune
examples look for an AlgoTune checkout at OPENEVOLVE_CHECKOUT/AlgoTune): the Docker sandbox
shows a job only its evaluator's folder and the evaluate.pythonpath folders. Both sides get the
same timeout: the config's, lowered to --timeout.

When the two scores differ, OpenEvolve scores the program once more: an evaluator whose own
two scores differ is stochastic or timed, and its row says so (bench/openevolve_compare.py).
Writes the table to --out (.md) and the rows to the same name with .json. One example at a
time; a whole run over OpenEvolve's examples takes about 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.openevolve_compare import Row, compare, render_markdown, summary
from bench.openevolve_examples import Example, find_examples, why_not_runnable

ROOT = Path(__file__).resolve().parents[1]
RUNNER = Path(__file__).resolve().parent / "openevolve_runner.py"
DEFAULT_OUT = ROOT / "bench" / "results" / "openevolve-compat.md"
MARKER = "OE-COMPAT-RESULT "
_WARNING = re.compile(r"\b(warning|error)\b", re.IGNORECASE)
DEFAULT_TIMEOUT = 90.0
MAX_STAGES = 3  # OpenEvolve's timeout is per stage: a cascade may take up to three of them


class BenchError(Exception):
    """A mistake in the command line (exit code 2)."""


def evaluate_keys() -> set[str]:
    """The `evaluate:` keys this evoforge's task files accept."""
    from agent.config import EvaluateConfig

    return set(EvaluateConfig.model_fields)


def venv_python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        raise BenchError(f"{venv}: not a virtual environment (no bin/python)")
    return python


def site_packages(python: Path) -> list[str]:
    code = "import json, site; print(json.dumps(site.getsitepackages()))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BenchError(f"{python} does not run: {done.stderr.strip()[-300:]}")
    return [p for p in json.loads(done.stdout.strip().splitlines()[-1]) if os.path.isdir(p)]


def dependency_folder(packages: list[str], with_openevolve: bool, into: Path) -> list[str]:
    """The folders to give evoforge's evaluator: the venv's site-packages, or (default) one
    copy of them without `openevolve`, made of hard links (no data copied; a symbolic link
    would point outside what a container mounts)."""
    if with_openevolve:
        return packages
    folder = into / "site-packages"
    folder.mkdir(parents=True)
    for source in packages:
        for entry in sorted(Path(source).iterdir()):
            hidden = entry.name.lower().startswith(("openevolve", "__editable__.openevolve"))
            if hidden or (folder / entry.name).exists():
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, folder / entry.name, symlinks=True, copy_function=_link)
            else:
                _link(str(entry), str(folder / entry.name))
    for path in (into, folder):
        path.chmod(0o755)
    return [str(folder)]


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:  # another file system: copy
        shutil.copy2(source, target, follow_symlinks=False)


def run_openevolve(python: Path, example: Example, timeout: float) -> dict[str, Any]:
    """OpenEvolve's score of the example's initial program (bench/openevolve_runner.py), run
    as in an activated venv, in the example's folder; the whole process group is killed if it
    outlives every stage's timeout."""
    argv = [str(python), str(RUNNER), "--config", str(example.config), "--evaluator", str(example.evaluator),
            "--program", str(example.program), "--timeout", repr(timeout), "--retries", "0"]
    venv = python.parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(VIRTUAL_ENV=str(venv), PATH=os.pathsep.join([str(python.parent), env.get("PATH", os.defpath)]))
    limit = timeout * MAX_STAGES + 60
    start = time.perf_counter()
    with subprocess.Popen(argv, cwd=example.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, stdin=subprocess.DEVNULL, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"ok": False, "error": f"the runner did not finish within {limit:g} s",
                    "seconds": time.perf_counter() - start}
    found = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not found:
        tail = (stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"ok": False, "error": f"no result from the runner: {tail[:300]}",
                "seconds": time.perf_counter() - start}
    result = json.loads(found[-1][len(MARKER):])
    said = [line.strip() for line in stdout.splitlines() if _WARNING.search(line) and not line.startswith(MARKER)]
    if said:
        result["printed"] = said[0][:200]
    return result


@dataclass(frozen=True)
class TaskMade:
    path: Path
    source: str  # "agent new-task --from-openevolve" or "plain"
    evaluate: tuple[str, ...]  # the evaluate: keys it sets
    notes: tuple[str, ...]  # what could not be carried over


def task_file(example: Example, settings: dict[str, Any], timeout: float, pythonpath: list[str], keys: set[str],
              backend: str | None, folder: Path) -> TaskMade:
    """A task.yaml for the example, written by `agent new-task --from-openevolve` where this
    evoforge has it (else by `plain_task`), with the bench's own settings on top: the timeout
    both sides get, the venv's packages, one evaluation, the sandbox asked for. Also the notes
    on what could not be carried over."""
    notes: list[str] = []
    source = "plain"
    try:
        from agent.openevolve_task import import_openevolve
    except ImportError:
        task = plain_task(example, settings, keys, notes)
    else:
        try:
            imported = import_openevolve(example.config, program=example.program, evaluator=example.evaluator,
                                         out=folder)
        except Exception as exc:  # noqa: BLE001 - ConfigError or a bug of the importer: the row says so
            notes.append(f"agent new-task --from-openevolve failed on the config ({exc}); a plain task.yaml used")
            task = plain_task(example, settings, keys, notes)
        else:
            task = yaml.safe_load(imported.task_yaml.read_text(encoding="utf-8"))
            source = "agent new-task --from-openevolve"
            if not settings.get("cascade_evaluation", True) and "cascade_evaluation" not in task.get("evaluate", {}):
                notes.append("the cascade runs in evoforge although the config turns it off")
    evaluate = task.setdefault("evaluate", {})
    evaluate.pop("requirements", None)  # the venv has what it has: see the header
    evaluate.update(timeout_seconds=timeout, workers=1)
    if "pythonpath" in keys:
        evaluate["pythonpath"] = pythonpath
    task["budget"] = {"evaluations": 1}
    if backend:
        task.setdefault("sandbox", {})["backend"] = backend
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump(task, sort_keys=False))
    return TaskMade(path, source, tuple(evaluate), tuple(notes))


def plain_task(example: Example, settings: dict[str, Any], keys: set[str], notes: list[str]) -> dict[str, Any]:
    """The task a user would write by hand from the config's evaluator section."""
    evaluate: dict[str, Any] = {}
    cascade = settings.get("cascade_evaluation", True)
    if cascade:
        evaluate["cascade_thresholds"] = [float(t) for t in settings.get("cascade_thresholds", [])]
    if "cascade_evaluation" in keys:
        evaluate["cascade_evaluation"] = bool(cascade)
    elif not cascade:
        notes.append("evoforge has no cascade_evaluation key: its cascade runs although the config turns it off")
    return {"name": example.name.replace("/", "-"), "kind": "program", "language": example.language,
            "program": str(example.program), "evaluator": str(example.evaluator), "evaluate": evaluate}


def run_evoforge(task_path: Path) -> dict[str, Any]:
    """evoforge's score of the task's initial program, as `agent evolve` evaluates it."""
    from agent.config import ConfigError, load_task
    from agent.wiring import build_evaluator

    start = time.perf_counter()
    try:
        task = load_task(task_path)
        evaluator, _warnings = build_evaluator(task)
    except ConfigError as exc:
        return {"status": "refused", "error": f"the task was refused: {exc}", "seconds": time.perf_counter() - start}
    try:
        result = evaluator.evaluate(Path(task.program).read_text(encoding="utf-8"), label="initial")
    except Exception as exc:  # noqa: BLE001 - a sandbox failure is this row's result
        return {"status": "sandbox error", "error": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start}
    finally:
        evaluator.sandbox.cancel_all()
    return {"status": result.status, "fitness": result.fitness, "metrics": dict(result.metrics), "error": result.error,
            "backend": result.backend, "seconds": time.perf_counter() - start,
            "stages": [[s.name, s.ok, s.message] for s in result.stages]}


def score_example(example: Example, python: Path, pythonpath: list[str], args: argparse.Namespace,
                  keys: set[str], log) -> Row:
    oe = run_openevolve(python, example, args.timeout)
    settings = oe.get("settings") or {}
    timeout = float(settings.get("timeout") or args.timeout)
    with tempfile.TemporaryDirectory(prefix="oe-compat-task-") as tmp:
        made = task_file(example, settings, timeout, pythonpath, keys, args.sandbox, Path(tmp))
        ef = {**run_evoforge(made.path), "task_source": made.source, "evaluate_keys": list(made.evaluate)}
    row = compare(example.name, oe, ef, rtol=args.rtol)
    both_scored = row.openevolve.get("fitness") is not None and row.evoforge.get("fitness") is not None
    if row.match in ("no", "stochastic") and both_scored:
        log(f"  scores differ: OpenEvolve scores {example.name} once more")
        row = compare(example.name, oe, ef, rerun=run_openevolve(python, example, args.timeout), rtol=args.rtol)
    if made.notes:
        reason = "; ".join([row.reason, *made.notes]).strip("; ")
        row = Row(row.example, row.match, reason, row.openevolve, row.evoforge)
    return row


def header(args: argparse.Namespace, versions: dict[str, str], rows: list[Row], seconds: float) -> list[str]:
    ran = [r.evoforge for r in rows if r.evoforge]
    backends = sorted({str(e["backend"]) for e in ran if e.get("backend")}) or ["none used"]
    sources = sorted({str(e["task_source"]) for e in ran if e.get("task_source")}) or ["none"]
    keys = sorted({k for e in ran for k in e.get("evaluate_keys") or ()})
    command = " ".join(["python -m bench.openevolve_compat", str(args.checkout), str(args.venv),
                        *([f"--timeout {args.timeout:g}"] if args.timeout != DEFAULT_TIMEOUT else []),
                        *(["--with-openevolve"] if args.with_openevolve else []),
                        *([f"--sandbox {args.sandbox}"] if args.sandbox else []),
                        *[f"--pythonpath {folder}" for folder in args.pythonpath]])
    checkout = f" (its package says {versions['checkout']})" if versions.get("checkout") else ""
    return [
        "# OpenEvolve's examples scored by OpenEvolve and by evoforge",
        "",
        f"`{command}`, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min on a "
        f"{os.cpu_count()}-core machine, one example at a time; Python {platform.python_version()} here.",
        "",
        f"- OpenEvolve: the `openevolve` package {versions.get('openevolve', '?')} of the venv scores each "
        f"example's initial program with its own `Evaluator` (the config's evaluator section, no LLM, retries off, "
        f"in the example's folder, the venv activated); the examples are the checkout's at "
        f"`{args.checkout}`{checkout}.",
        f"- evoforge {versions.get('evoforge', '')}: the task.yaml written by {' / '.join(sources)} (the evaluator "
        f"and initial program unchanged), with evaluate keys {', '.join(keys) or 'none'}; scored by "
        f"`build_evaluator(task).evaluate(...)` as `agent evolve` scores an initial program; sandbox: "
        f"{', '.join(backends)}. The venv's packages are on the evaluator's path, "
        + ("`openevolve` included." if args.with_openevolve else "without the `openevolve` package itself (the "
           "evaluators import evoforge's `openevolve.evaluation_result`)."),
        f"- Both sides get the config's timeout, at most {args.timeout:g} s (OpenEvolve: per stage; evoforge: per "
        f"evaluation). The task's `evaluate.requirements` (an example's requirements.txt) is left out: what the "
        f"venv lacks shows as a missing dependency instead. Fitness: OpenEvolve's `get_fitness_score` "
        f"(combined_score, else the mean of the numeric metrics that are not feature dimensions); evoforge's "
        f"fitness of a correct result.",
        f"- Match: both scored it, the same metric names, fitness and every numeric metric equal within a relative "
        f"{args.rtol:g}. Scores that differ get a second OpenEvolve run: metrics that move between its two runs, or "
        f"named as timings, are not held against evoforge; when its fitness moves, the row says \"stochastic\" "
        f"(both OpenEvolve values shown) and whether evoforge's lies within their spread widened by their distance.",
        *[f"- {note}" for note in args.note],
    ]


def versions_of(python: Path, checkout: Path) -> dict[str, str]:
    found = {}
    done = subprocess.run([str(python), "-c", "import openevolve; print(openevolve.__version__)"],
                          capture_output=True, text=True, timeout=120)
    found["openevolve"] = done.stdout.strip() or "not importable"
    version_file = checkout / "openevolve" / "_version.py"
    if version_file.is_file():
        for line in version_file.read_text().splitlines():
            if line.startswith("__version__"):
                found["checkout"] = line.split("=", 1)[1].strip().strip("\"'")
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=30).stdout.strip()
        found["evoforge"] = f"at commit {commit} (with the working tree's changes)" if commit else ""
    except OSError:
        pass
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.openevolve_compat", description=__doc__.split("\n")[0])
    parser.add_argument("checkout", type=Path, help="an OpenEvolve checkout (holds examples/)")
    parser.add_argument("venv", type=Path, help="a virtual environment with openevolve installed")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="most seconds per evaluation")
    parser.add_argument("--only", nargs="*", default=None, help="examples whose name contains one of these")
    parser.add_argument("--sandbox", choices=("auto", "docker", "process"), default=None)
    parser.add_argument("--with-openevolve", action="store_true", help="let evoforge's evaluator import openevolve")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--note", action="append", default=[], help="a line for the results' header (repeatable)")
    parser.add_argument("--pythonpath", action="append", type=Path, default=[],
                        help="a further folder for evoforge's evaluate.pythonpath (repeatable): files an evaluator "
                             "reads from outside its folder, which the Docker sandbox shows only there")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (BenchError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    args.checkout, args.venv = args.checkout.resolve(), args.venv.resolve()
    python = venv_python(args.venv)
    examples = find_examples(args.checkout)
    if args.only:
        examples = [e for e in examples if any(word in e.name for word in args.only)]
    extra = [str(folder.absolute()) for folder in args.pythonpath]  # as given: evaluators test such paths
    for folder in extra:
        if not os.path.isdir(folder):
            raise BenchError(f"--pythonpath {folder}: no such folder")
    keys = evaluate_keys()
    if "pythonpath" not in keys and args.sandbox is None:
        args.sandbox = "process"  # the PYTHONPATH passed on is only seen where the host's files are
    start = time.perf_counter()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="oe-compat-deps-") as deps:
        pythonpath = dependency_folder(site_packages(python), args.with_openevolve, Path(deps)) + extra
        saved = os.environ.get("PYTHONPATH")
        if "pythonpath" not in keys:
            os.environ["PYTHONPATH"] = os.pathsep.join([*pythonpath, *([saved] if saved else [])])
        try:
            for example in examples:
                reason = why_not_runnable(example, str(python))
                if reason:
                    rows.append(Row(example.name, "not run", reason))
                    log(f"{example.name}: not run: {reason}")
                    continue
                log(f"{example.name}: scoring")
                row = score_example(example, python, pythonpath, args, keys, log)
                rows.append(row)
                log(f"  {row.match}: OpenEvolve {row.openevolve.get('fitness')}, "
                    f"evoforge {row.evoforge.get('fitness')}" + (f" ({row.reason[:200]})" if row.reason else ""))
        finally:
            if "pythonpath" not in keys and saved is None:
                os.environ.pop("PYTHONPATH", None)
            elif "pythonpath" not in keys:
                os.environ["PYTHONPATH"] = saved
    seconds = time.perf_counter() - start
    versions = versions_of(python, args.checkout)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(rows, header(args, versions, rows, seconds)))
    record = {"checkout": str(args.checkout), "venv": str(args.venv), "versions": versions, "seconds": seconds,
              "timeout": args.timeout, "sandbox": args.sandbox, "with_openevolve": args.with_openevolve,
              "notes": args.note, "summary": summary(rows), "rows": [r.as_dict() for r in rows]}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1, default=str) + "\n")
    counts = summary(rows)
    log(f"wrote {args.out}: {counts['ran']} ran, {counts['yes']} matched, {counts['stochastic']} stochastic, "
        f"{counts['no']} mismatched, {counts['both failed']} failed on both sides, {counts['not run']} not run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
