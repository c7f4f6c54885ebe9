"""Evaluator for the circle_packing example task (OpenEvolve contract: evaluate(program_path) -> dict).

The candidate runs in its own subprocess in a fresh temporary folder and must print
{"centers": [[x, y], ...], "radii": [...]} as JSON on its last stdout line. This file checks
the packing itself (count, finite numbers, non-negative radii, every circle inside the unit
square, no two circles overlapping, all within TOLERANCE) and scores the sum of the radii it
read; any other number the candidate prints is ignored.

combined_score = sum of radii / 2.635 (the best known sum for 26 circles is about 2.635).
An invalid packing scores 0.0 with an "error" that names the circle(s) and the violation.

The score does not depend on time, so it does not depend on the machine's load. The program's
CPU time is capped by the kernel (RLIMIT_CPU, CPU_LIMIT_S); the wall-clock timeout is only a
generous backstop for a program that sleeps or hangs (a loaded machine stretches wall time).
"""

from __future__ import annotations

import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

N_CIRCLES = 26
BEST_KNOWN_SUM = 2.635
TOLERANCE = 1e-9
CPU_LIMIT_S = 60  # CPU seconds: past it the kernel stops the program and it is rejected
RUN_TIMEOUT_S = 300.0  # wall-clock backstop (a loaded machine slows a run several-fold)
OUTPUT_TAIL = 2000  # characters of stderr shown back on failure


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


def run_program(program_path: str, workdir: str, timeout: float) -> tuple[dict, float, float]:
    """Run the program in a subprocess; return (its last stdout line as a JSON object, CPU s, wall s)."""
    cpu_before, start = _children_cpu(), time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, program_path],
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
        raise Rejected(f"program did not finish within {timeout:g} s of wall-clock time") from None
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and cpu >= CPU_LIMIT_S - 0.5:
        raise Rejected(f"program used more than the limit of {CPU_LIMIT_S} s of CPU time")
    if proc.returncode != 0:
        raise Rejected(f"program exited with status {proc.returncode}\n{_tail(proc.stderr)}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise Rejected('program printed nothing; expected a JSON line {"centers": [...], "radii": [...]}')
    try:
        answer = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise Rejected(f"last stdout line is not JSON ({exc.msg}): {lines[-1][:200]!r}") from None
    if not isinstance(answer, dict):
        raise Rejected(f"last stdout line must be a JSON object, got {type(answer).__name__}")
    return answer, cpu, wall


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"{where} = {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise Rejected(f"{where} = {value} is not finite")
    return value


def parse_packing(answer: dict, n: int = N_CIRCLES) -> tuple[list[tuple[float, float]], list[float]]:
    """Read centers and radii from the answer; raise Rejected on a wrong shape or a bad number."""
    for key in ("centers", "radii"):
        if key not in answer:
            raise Rejected(f'the JSON answer has no "{key}" key')
        if not isinstance(answer[key], list):
            raise Rejected(f'"{key}" must be a list, got {type(answer[key]).__name__}')
    raw_centers, raw_radii = answer["centers"], answer["radii"]
    if len(raw_centers) != n:
        raise Rejected(f"expected {n} centers, got {len(raw_centers)}")
    if len(raw_radii) != n:
        raise Rejected(f"expected {n} radii, got {len(raw_radii)}")
    centers = []
    for i, c in enumerate(raw_centers):
        if not isinstance(c, list) or len(c) != 2:
            raise Rejected(f"centers[{i}] = {c!r} is not a pair [x, y]")
        centers.append((_number(c[0], f"centers[{i}][0]"), _number(c[1], f"centers[{i}][1]")))
    radii = [_number(r, f"radii[{i}]") for i, r in enumerate(raw_radii)]
    for i, r in enumerate(radii):
        if r < 0.0:
            raise Rejected(f"radii[{i}] = {r!r} is negative")
    return centers, radii


def check_packing(centers: list[tuple[float, float]], radii: list[float], tol: float = TOLERANCE) -> None:
    """Raise Rejected naming the worst violation if a circle leaves the square or two overlap."""
    outside = []  # (excess, message)
    for i, ((x, y), r) in enumerate(zip(centers, radii)):
        for excess, wall in ((r - x, "left edge x=0"), (r - y, "bottom edge y=0"),
                             (x + r - 1.0, "right edge x=1"), (y + r - 1.0, "top edge y=1")):
            if excess > tol:
                outside.append((excess, f"circle {i} (center ({x:.6g}, {y:.6g}), radius {r:.6g}) "
                                        f"crosses the {wall} by {excess:.3g}"))
    if outside:
        outside.sort(reverse=True)
        more = f" ({len(outside)} wall violations in all)" if len(outside) > 1 else ""
        raise Rejected(f"circle outside the unit square: {outside[0][1]}{more}")
    overlaps = []
    n = len(centers)
    for i in range(n):
        for j in range(i + 1, n):
            d = math.dist(centers[i], centers[j])
            excess = radii[i] + radii[j] - d
            if excess > tol:
                overlaps.append((excess, f"circles {i} and {j} overlap by {excess:.3g} (distance between "
                                         f"centers {d:.6g}, radii {radii[i]:.6g} + {radii[j]:.6g})"))
    if overlaps:
        overlaps.sort(reverse=True)
        more = f" ({len(overlaps)} overlapping pairs in all)" if len(overlaps) > 1 else ""
        raise Rejected(f"overlap: {overlaps[0][1]}{more}")


def evaluate(program_path: str) -> dict:
    program_path = os.path.abspath(program_path)
    try:
        with tempfile.TemporaryDirectory(prefix="circles_eval_") as workdir:
            answer, cpu, wall = run_program(program_path, workdir, RUN_TIMEOUT_S)
        centers, radii = parse_packing(answer)
        check_packing(centers, radii)
    except Rejected as exc:
        return {"combined_score": 0.0, "error": str(exc)}
    except Exception as exc:  # the evaluator itself must never crash on a bad candidate
        return {"combined_score": 0.0, "error": f"evaluation failed: {type(exc).__name__}: {exc}"}

    total = math.fsum(radii)
    smallest = min(range(len(radii)), key=radii.__getitem__)
    summary = (
        f"valid packing of {len(radii)} circles; sum of radii {total:.6f} "
        f"({100.0 * total / BEST_KNOWN_SUM:.1f}% of the best known {BEST_KNOWN_SUM}); "
        f"radii range {min(radii):.4f}..{max(radii):.4f} (smallest: circle {smallest}); "
        f"program used {cpu:.2f} s of CPU (limit {CPU_LIMIT_S} s)."
    )
    return {
        "combined_score": total / BEST_KNOWN_SUM,
        "sum_radii": total,
        "min_radius": min(radii),
        "max_radius": max(radii),
        "cpu_s": cpu,
        "wall_s": wall,
        "summary": summary,
    }


if __name__ == "__main__":
    print(json.dumps(evaluate(sys.argv[1] if len(sys.argv) > 1 else "initial.py"), indent=2))
