"""What a sandbox costs per evaluation, and how many evaluations per second it sustains.

    python -m bench.sandbox [--repeats 50] [--jobs 40] [--out bench/results/sandbox.md]

For each backend (process; Docker, reusing containers and not, where a daemon answers) it evaluates a trivial candidate with
the real program evaluator and harness (an evaluator returning a constant score) `--repeats`
times one after the other, and reports the median and spread of the wall time per evaluation.
The same harness run as a bare subprocess, with a result pipe and no isolation, is the
baseline: overhead = backend median - bare median. For Docker it also times each call to the
daemon with a fresh container per evaluation (create, attach, start, remove) to show where
that overhead goes. Throughput:
`--jobs` evaluations through N concurrent workers (threads, as the controller's evaluation
workers are), for N in 1, 2, 4, 8: evaluations per second. The machine's load average is
recorded beside the numbers: on a shared machine it moves them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.config import EvaluateConfig, SandboxConfig, TaskConfig  # noqa: E402
from archives.records import Status  # noqa: E402
from evaluators import ProgramEvaluator  # noqa: E402
from sandbox import DockerSandbox, ProcessSandbox, SandboxError, choose_sandbox  # noqa: E402
from sandbox.docker import connect  # noqa: E402

EVALUATOR = "def evaluate(program_path):\n    return {'combined_score': 1.0}\n"
PROGRAM = "X = 1\n"


class TimedAPI:
    """Wraps the Docker client: total seconds and calls per method (thread-safe enough: GIL)."""

    def __init__(self, api) -> None:
        self._api = api
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def __getattr__(self, name):
        method = getattr(self._api, name)
        if not callable(method):
            return method

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name].append(time.perf_counter() - start)

        return timed


def make_task(folder: Path) -> TaskConfig:
    (folder / "initial.py").write_text(PROGRAM)
    (folder / "evaluator.py").write_text(EVALUATOR)
    return TaskConfig(name="bench", kind="program", program=folder / "initial.py",
                      evaluator=folder / "evaluator.py", evaluate=EvaluateConfig(), task_dir=folder)


def bare_run(task: TaskConfig) -> float:
    """The harness as a plain subprocess (result pipe, no isolation): the baseline."""
    with tempfile.TemporaryDirectory() as work:
        Path(work, "program.py").write_text(PROGRAM)
        read, write = os.pipe()
        env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(REPO), "EVOFORGE_RESULT_FD": str(write)}
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "evaluators.program.harness", "--evaluator",
                                 str(task.evaluator), "--program", "program.py"],
                                cwd=work, env=env, pass_fds=(write,), stdout=subprocess.DEVNULL)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        proc.wait()
        seconds = time.perf_counter() - start
        os.close(read)
    assert b"combined_score" in data, data
    return seconds


def sequential(evaluate, repeats: int) -> list[float]:
    evaluate()  # warm-up: probes, image, page cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        evaluate()
        times.append(time.perf_counter() - start)
    return times


def throughput(evaluator: ProgramEvaluator, workers: int, jobs: int) -> float:
    def one(_: int) -> None:
        result = evaluator.evaluate(PROGRAM)
        assert result.status == Status.CORRECT, result.error

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(jobs)))
    return jobs / (time.perf_counter() - start)


def checked(evaluator: ProgramEvaluator):
    def evaluate() -> None:
        result = evaluator.evaluate(PROGRAM)
        assert result.status == Status.CORRECT, result.error
    return evaluate


def summary(times: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(times, n=10)
    return statistics.median(times), q[0], q[-1]


def docker_version() -> str:
    try:
        api = connect(timeout=5)
        return f"{api.version().get('Version', '?')} (API {api.version().get('ApiVersion', '?')})"
    except Exception:  # noqa: BLE001 - only shown in the report
        return "none"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "sandbox.md"))
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="evoforge-bench-"))
    folder.chmod(0o755)
    task = make_task(folder)
    load_before = os.getloadavg()
    rows, phases, rates = [], {}, {}
    bare = sequential(lambda: bare_run(task), args.repeats)
    rows.append(("bare subprocess (baseline)", *summary(bare)))
    backends: list[tuple[str, object]] = [("process", ProcessSandbox())]
    timed = None
    try:
        choose_sandbox("docker")  # the daemon answers and a container runs
        cpus = SandboxConfig().cpus
        timed = TimedAPI(connect())
        backends.append(("docker, a container reused per worker (default)", DockerSandbox(cpus=cpus)))
        backends.append(("docker, a fresh container per evaluation", DockerSandbox(api=timed, cpus=cpus, reuse=False)))
    except SandboxError as exc:
        print(f"no Docker: {exc}", file=sys.stderr)
    for name, sandbox in backends:
        evaluator = ProgramEvaluator(task, sandbox)
        times = sequential(checked(evaluator), args.repeats)
        rows.append((name, *summary(times)))
        if "fresh" in name and timed is not None:
            phases = {k: statistics.median(v[-args.repeats:]) for k, v in timed.seconds.items()
                      if len(v) >= args.repeats}
        rates[name] = {n: throughput(evaluator, n, args.jobs) for n in (1, 2, 4, 8)}
        getattr(sandbox, "cancel_all", lambda: None)()
        print(f"{name}: median {statistics.median(times) * 1000:.0f} ms; {rates[name]}", file=sys.stderr)
    load_after = os.getloadavg()
    report = render(args, rows, phases, rates, load_before, load_after)
    write_measured(Path(args.out), report)
    print(report)
    return 0


def write_measured(path: Path, report: str) -> None:
    """Put `report` between the file's measured-section markers; the text around them stays."""
    begin, end = "<!-- measured: written by bench/sandbox.py -->", "<!-- end of measured -->"
    text = path.read_text() if path.exists() else f"# Sandbox overhead\n\n{begin}\n{end}\n"
    if begin not in text or end not in text:
        text += f"\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{begin}\n{report}{end}{rest.split(end, 1)[1]}")


def render(args, rows, phases, rates, load_before, load_after) -> str:
    bare = rows[0][1]
    lines = [
        "## Measured",
        "",
        f"`python -m bench.sandbox --repeats {args.repeats} --jobs {args.jobs}` on {platform.node()}: "
        f"{os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
        f"Docker {docker_version()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        f"Per evaluation of a trivial candidate (real harness and evaluator), {args.repeats} in a row:",
        "",
        "| backend | median ms | p10 ms | p90 ms | overhead ms (median - bare) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, median, p10, p90 in rows:
        over = "" if name.startswith("bare") else f"{(median - bare) * 1000:.0f}"
        lines.append(f"| {name} | {median * 1000:.0f} | {p10 * 1000:.0f} | {p90 * 1000:.0f} | {over} |")
    if phases:
        lines += ["", "Docker daemon calls per evaluation with a fresh container (median ms): "
                  + ", ".join(f"{k} {v * 1000:.0f}" for k, v in sorted(phases.items(), key=lambda kv: -kv[1]))]
    lines += ["", f"Throughput, {args.jobs} evaluations through N concurrent workers (evaluations/s):", "",
              "| backend | N=1 | N=2 | N=4 | N=8 |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, by_n in rates.items():
        lines.append(f"| {name} | " + " | ".join(f"{by_n[n]:.1f}" for n in (1, 2, 4, 8)) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
