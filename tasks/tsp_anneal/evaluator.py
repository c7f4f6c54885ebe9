"""Evaluator for the tsp_anneal example task (OpenEvolve contract: evaluate(program_path) -> dict).

The candidate runs in its own subprocess, once per fixed (instance, seed) pair, in a fresh
temporary folder. It must print {"tour": [...]} as JSON on its last stdout line. This file
regenerates every instance itself, checks that each tour visits every city exactly once, and
recomputes the tour lengths; nothing the candidate says about its own quality is read.

combined_score = mean over runs of (reference length / tour length), where the reference is
what the initial program reaches on that run (so the initial program scores about 1.0), times
a penalty when a run uses more than CPU_ALLOWANCE_S of CPU time on average.

Time is measured as the CPU time of the program's process (and the children it waits for),
not wall-clock time: a busy machine stretches wall time several-fold but CPU time far less, and
the allowance is several times what the initial program uses, so a program's score does not
depend on the machine's load. The CPU limit is enforced by
the kernel (RLIMIT_CPU); the wall-clock timeout is only a generous backstop for a program that
sleeps or hangs.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time

N_CITIES = 80
RUNS = ((1, 11), (2, 12), (3, 13))  # (instance, solver seed), passed on the command line
# Tour length the initial program reaches on each run above (measured; defines score 1.0).
REFERENCE_LENGTHS = {1: 9202.2, 2: 8427.7, 3: 8363.8}
# Shortest tour known to us on each instance (long runs of 2-opt + Or-opt annealing).
BEST_KNOWN_LENGTHS = {1: 7193.1, 2: 6887.9, 3: 6682.7}
CPU_LIMIT_S = 10  # CPU seconds per run: past it the kernel stops the program and it is rejected
CPU_ALLOWANCE_S = 2.0  # mean CPU seconds per run before the score is scaled down (initial: ~0.35)
RUN_TIMEOUT_S = 120.0  # wall-clock backstop per run (a loaded machine slows a run several-fold)
OUTPUT_TAIL = 2000  # characters of stderr/stdout shown back on failure


def make_cities(instance: int, n: int = N_CITIES) -> list[tuple[float, float]]:
    """The same generator as the program's fixed part (kept here so the program cannot alter it)."""
    rng = random.Random(1_000_003 * instance + 17)
    return [(rng.uniform(0.0, 1000.0), rng.uniform(0.0, 1000.0)) for _ in range(n)]


def tour_length(tour: list[int], cities: list[tuple[float, float]]) -> float:
    total = 0.0
    for k in range(len(tour)):
        (ax, ay), (bx, by) = cities[tour[k - 1]], cities[tour[k]]
        total += math.hypot(ax - bx, ay - by)
    return total


class Rejected(Exception):
    """The program's run or answer is invalid; the message says why."""


def _child_env() -> dict[str, str]:
    """The evaluator's environment minus evoforge's own variables (e.g. the result channel's fd)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("EVOFORGE_")}


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= OUTPUT_TAIL else "..." + text[-OUTPUT_TAIL:]


def _cpu_limit(seconds: int):
    """A preexec_fn that caps the child's CPU time: SIGXCPU at `seconds`, SIGKILL a bit later."""

    def apply() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY and hard <= seconds:
            return  # the sandbox's own limit is tighter already
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 2 if hard == resource.RLIM_INFINITY else hard))

    return apply


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_program(program_path: str, args: list[str], workdir: str, timeout: float) -> tuple[dict, float, float]:
    """Run the program in a subprocess; return (its last stdout line as a JSON object, CPU s, wall s)."""
    what = f"program {' '.join(args)}"
    cpu_before, start = _children_cpu(), time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, program_path, *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            env=_child_env(),
            preexec_fn=_cpu_limit(CPU_LIMIT_S),
        )
    except subprocess.TimeoutExpired:
        raise Rejected(f"{what} did not finish within {timeout:g} s of wall-clock time") from None
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and cpu >= CPU_LIMIT_S - 0.5:
        raise Rejected(f"{what} used more than the limit of {CPU_LIMIT_S} s of CPU time")
    if proc.returncode != 0:
        raise Rejected(f"{what} exited with status {proc.returncode}\n{_tail(proc.stderr)}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise Rejected(f"{what} printed nothing; expected a JSON line {{\"tour\": [...]}}")
    try:
        answer = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise Rejected(f"last stdout line is not JSON ({exc.msg}): {lines[-1][:200]!r}") from None
    if not isinstance(answer, dict):
        raise Rejected(f"last stdout line must be a JSON object, got {type(answer).__name__}")
    return answer, cpu, wall


def check_tour(answer: dict, n: int = N_CITIES) -> list[int]:
    """Return the tour if it is a permutation of 0..n-1, else raise Rejected with the reason."""
    if "tour" not in answer:
        raise Rejected('the JSON answer has no "tour" key')
    tour = answer["tour"]
    if not isinstance(tour, list):
        raise Rejected(f'"tour" must be a list of city indices, got {type(tour).__name__}')
    if len(tour) != n:
        raise Rejected(f"tour has {len(tour)} entries, expected {n} (every city exactly once)")
    for pos, city in enumerate(tour):
        if isinstance(city, bool) or not isinstance(city, int):
            raise Rejected(f"tour[{pos}] = {city!r} is not an integer city index")
        if not 0 <= city < n:
            raise Rejected(f"tour[{pos}] = {city} is out of range 0..{n - 1}")
    seen: set[int] = set()
    for pos, city in enumerate(tour):
        if city in seen:
            missing = sorted(set(range(n)) - set(tour))
            raise Rejected(
                f"tour is not a permutation: city {city} repeats at position {pos}; missing cities {missing[:10]}"
            )
        seen.add(city)
    return tour


def _failure(message: str) -> dict:
    return {"combined_score": 0.0, "error": message}


def evaluate(program_path: str) -> dict:
    program_path = os.path.abspath(program_path)
    lengths: dict[int, float] = {}
    cpu_times: list[float] = []
    wall_times: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tsp_eval_") as workdir:
            for instance, seed in RUNS:
                answer, cpu, wall = run_program(
                    program_path, ["--instance", str(instance), "--seed", str(seed)], workdir, RUN_TIMEOUT_S
                )
                tour = check_tour(answer)
                lengths[instance] = tour_length(tour, make_cities(instance))
                cpu_times.append(cpu)
                wall_times.append(wall)
    except Rejected as exc:
        return _failure(str(exc))
    except Exception as exc:  # the evaluator itself must never crash on a bad candidate
        return _failure(f"evaluation failed: {type(exc).__name__}: {exc}")

    ratios = [REFERENCE_LENGTHS[i] / lengths[i] for i in lengths]
    gaps = [100.0 * (lengths[i] / BEST_KNOWN_LENGTHS[i] - 1.0) for i in lengths]
    quality = sum(ratios) / len(ratios)
    cpu_s = sum(cpu_times) / len(cpu_times)
    time_factor = min(1.0, CPU_ALLOWANCE_S / cpu_s) if cpu_s > 0 else 1.0
    score = quality * time_factor
    per_run = "; ".join(
        f"instance {i}: length {lengths[i]:.1f} ({gap:+.1f}% vs best known {BEST_KNOWN_LENGTHS[i]:.0f})"
        for i, gap in zip(lengths, gaps)
    )
    summary = (
        f"{per_run}. Mean length {sum(lengths.values()) / len(lengths):.1f}, "
        f"mean {sum(gaps) / len(gaps):.1f}% above the best known tours; "
        f"{cpu_s:.2f} s of CPU per run"
        + (
            f" (over the {CPU_ALLOWANCE_S} s allowance: score scaled by {time_factor:.2f})"
            if time_factor < 1.0
            else f" (allowance {CPU_ALLOWANCE_S} s)"
        )
        + "."
    )
    return {
        "combined_score": score,
        "mean_length": sum(lengths.values()) / len(lengths),
        "best_length": min(lengths.values()),
        "mean_gap_percent": sum(gaps) / len(gaps),
        "worst_gap_percent": max(gaps),
        "cpu_s": cpu_s,
        "wall_s": sum(wall_times) / len(wall_times),
        "summary": summary,
    }


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1] if len(sys.argv) > 1 else "initial.py"), indent=2))
