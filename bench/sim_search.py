"""The strategy benchmark's world: cheap tasks, a simulated LLM proposer, and an in-process loop.

A *program* is Python text that builds a vector term by term::

    # EVOLVE-BLOCK-START
    x = [0.0] * 6
    x[0] += 0.500
    x[3] += -1.250
    # EVOLVE-BLOCK-END

Its value on a task is the task's function of ``x`` (clipped to the task's box). The simulated
proposer stands in for an LLM: it reads the parent it is given and returns an edited program,
drawn from one fixed distribution of structured edits (tweak a term, add one, delete one, move
one to another coordinate, several tweaks at once, or a broken line), the same for every
strategy. `run_search` drives a strategy through ask/tell exactly as the controller does,
without a store or a sandbox: exact and near-duplicate proposals are rejected before
evaluation (archives/novelty.py; at the default similarity 1.0 by a set lookup, `ExactTwins`),
repeats of noisy evaluations are folded in with archives/repeats.py, and every evaluation
(repeats too) counts against the budget. The evaluator reports the vector as metrics x0, x1,
... (what a real evaluator would measure about a program's output), except on the `_code`
variants of the tasks, which report the fitness alone.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, replace
from typing import Callable

from archives.novelty import NoveltyIndex
from archives.records import Program, Status, source_hash
from archives.repeats import combine

_TERM = re.compile(r"^x\[(\d+)\] \+= (-?\d+\.\d+)$")
_HEADER = ("# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END")


@dataclass(frozen=True)
class Task:
    name: str
    dim: int
    low: float
    high: float
    start: float  # every coordinate of the initial program
    scale: float  # the proposer's step size (largest typical step)
    target: float  # "reached" once a program's true value is at least this
    f: Callable[[list[float]], float]
    noise: float = 0.0  # standard deviation of the evaluation noise
    reports_metrics: bool = True  # the evaluator reports the vector (x0, x1, ...) as metrics


def _sphere(c: list[float]) -> Callable[[list[float]], float]:
    return lambda x: -sum((a - b) ** 2 for a, b in zip(x, c))


def _rastrigin(c: list[float]) -> Callable[[list[float]], float]:
    def f(x: list[float]) -> float:
        return -sum((a - b) ** 2 - 10 * math.cos(2 * math.pi * (a - b)) + 10 for a, b in zip(x, c))

    return f


def _trap(x: list[float]) -> float:
    """Per coordinate: a broad slope up to a false peak of 0.8 at 0, a valley at 0.6, and a
    narrower slope up to the true peak of 1 at 1."""
    total = 0.0
    for u in x:
        total += 0.8 * (1 - u / 0.6) if u < 0.6 else (u - 0.6) / 0.4
    return total / len(x)


_CENTRE = [1.7, -2.3, 0.9, 2.8, -1.1, 0.4]
_SHIFT = [1.3, -0.7, 2.2, -1.6, 0.6, 1.9]

TASKS: dict[str, Task] = {
    "smooth": Task("smooth", 6, -5, 5, 0.0, 2.0, -0.5, _sphere(_CENTRE)),
    "rugged": Task("rugged", 6, -5.12, 5.12, 0.0, 1.0, -12.0, _rastrigin(_SHIFT)),
    "deceptive": Task("deceptive", 6, 0.0, 1.0, 0.2, 0.3, 0.82, _trap),
    "noisy": Task("noisy", 6, -5, 5, 0.0, 2.0, -3.0, _sphere(_CENTRE), noise=1.0),
}
# The same tasks with an evaluator that reports the fitness alone: strategies fall back on code.
TASKS.update({f"{k}_code": replace(t, name=f"{k}_code", reports_metrics=False) for k, t in list(TASKS.items())})


# ---- programs -----------------------------------------------------------------------------------


def render(task: Task, terms: list[tuple[int, float]], broken: str | None = None) -> str:
    lines = [_HEADER[0], f"x = [0.0] * {task.dim}"]
    lines += [f"x[{i}] += {v:.3f}" for i, v in terms]
    if broken is not None:
        lines.append(broken)
    lines.append(_HEADER[1])
    return "\n".join(lines) + "\n"


def initial_program(task: Task) -> str:
    return render(task, [(i, task.start) for i in range(task.dim)])


def parse(source: str) -> list[tuple[int, float]] | None:
    """The program's terms, or None when a line is not a term (a broken program)."""
    terms = []
    for line in source.splitlines()[2:-1]:
        match = _TERM.match(line)
        if match is None:
            return None
        terms.append((int(match.group(1)), float(match.group(2))))
    return terms


def _good_terms(source: str) -> list[tuple[int, float]]:
    matches = (_TERM.match(line) for line in source.splitlines()[2:-1])
    return [(int(m.group(1)), float(m.group(2))) for m in matches if m is not None]


def vector(task: Task, terms: list[tuple[int, float]]) -> list[float]:
    x = [0.0] * task.dim
    for i, v in terms:
        x[i] += v
    return [min(task.high, max(task.low, v)) for v in x]


def true_value(task: Task, source: str) -> float | None:
    terms = parse(source)
    if terms is None or any(i >= task.dim for i, _ in terms):
        return None
    return task.f(vector(task, terms))


# ---- the simulated proposer ---------------------------------------------------------------------


class SimulatedProposer:
    """Edits the parent it is given: one draw from a fixed distribution of structured edits."""

    MAX_TERMS = 40

    def __init__(self, task: Task, rng: random.Random) -> None:
        self.task = task
        self.rng = rng

    def _step(self) -> float:
        return self.rng.gauss(0.0, self.task.scale * 10 ** self.rng.uniform(-2, 0))

    def propose(self, parent_source: str) -> str:
        rng, task = self.rng, self.task
        terms = parse(parent_source)
        if terms is None:  # a broken parent: the "LLM" repairs it by dropping the bad lines
            return render(task, _good_terms(parent_source))
        terms = list(terms)
        op = rng.random()
        if op < 0.05:
            i = rng.randrange(task.dim)
            return render(task, terms, rng.choice([f"x[{i}] += ", f"x[{i}] =+ {abs(self._step()):.3f}", "x[] += 1.0"]))
        if op < 0.45 or not terms:
            self._tweak(terms)
        elif op < 0.70 and len(terms) < self.MAX_TERMS:
            terms.insert(rng.randrange(len(terms) + 1), (rng.randrange(task.dim), self._step()))
        elif op < 0.80 and len(terms) > 1:
            terms.pop(rng.randrange(len(terms)))
        elif op < 0.90:
            k = rng.randrange(len(terms))
            terms[k] = (rng.randrange(task.dim), terms[k][1])
        else:
            for _ in range(rng.randint(2, 3)):
                self._tweak(terms)
        return render(task, terms)

    def _tweak(self, terms: list[tuple[int, float]]) -> None:
        if not terms:
            terms.append((self.rng.randrange(self.task.dim), self._step()))
            return
        k = self.rng.randrange(len(terms))
        i, v = terms[k]
        terms[k] = (i, v + self._step())


# ---- one search ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one search achieved: the true value of the strategy's best program at the end, and
    when (in evaluations) a program at or above the target was first evaluated."""

    best_true: float
    to_target: int | None
    evaluations: int
    repeats: int
    rejected: int
    failed: int


def evaluate(task: Task, source: str, noise: random.Random) -> tuple[str, float | None, str | None]:
    status, value, error, _ = evaluate_with_metrics(task, source, noise)
    return status, value, error


def evaluate_with_metrics(
    task: Task, source: str, noise: random.Random
) -> tuple[str, float | None, str | None, dict[str, float]]:
    """Status, fitness, error and the reported metrics (the vector, when the task reports it)."""
    terms = parse(source)
    if terms is None:
        return Status.BUILD_FAILED, None, "SyntaxError", {}
    if any(i >= task.dim for i, _ in terms):
        return Status.ERROR, None, "IndexError: list index out of range", {}
    x = vector(task, terms)
    value = task.f(x)
    if task.noise:
        value += noise.gauss(0.0, task.noise)
    metrics = {f"x{i}": v for i, v in enumerate(x)} if task.reports_metrics else {}
    return Status.CORRECT, value, None, metrics


class ExactTwins:
    """The near-duplicate check of `agent evolve` at its default similarity 1.0 (archives/novelty.py:
    a proposal whose token-shingle set equals an existing program's is rejected), by set lookup."""

    def __init__(self) -> None:
        self._index = NoveltyIndex(1.0)
        self._seen: set[frozenset[int]] = set()

    def add(self, source: str) -> None:
        self._seen.add(self._index.fingerprint(source).shingles)

    def is_twin(self, source: str) -> bool:
        return self._index.fingerprint(source).shingles in self._seen


def _index(novelty: NoveltyIndex | ExactTwins, pid: str, source: str, strict: bool) -> None:
    if isinstance(novelty, ExactTwins):
        novelty.add(source)
    else:
        novelty.add(pid, source, strict=strict)


def _is_twin(novelty: NoveltyIndex | ExactTwins, source: str) -> bool:
    if isinstance(novelty, ExactTwins):
        return novelty.is_twin(source)
    return novelty.near_twin(source) is not None


def run_search(strategy, task: Task, seed: int, budget: int, near_duplicate: float = 1.0) -> Outcome:
    """Drive `strategy` for `budget` evaluations on `task` with the simulated proposer."""
    proposer = SimulatedProposer(task, random.Random(f"proposer:{task.name}:{seed}"))
    noise = random.Random(f"noise:{task.name}:{seed}")
    novelty: NoveltyIndex | ExactTwins = ExactTwins() if near_duplicate >= 1.0 else NoveltyIndex(near_duplicate)
    hashes: set[str] = set()
    programs: dict[str, Program] = {}
    evaluations = repeats = rejected = failed = fruitless = 0
    to_target: int | None = None

    def evaluated(program: Program) -> Program:
        nonlocal evaluations, to_target, failed
        evaluations += 1
        status, fitness, error, metrics = evaluate_with_metrics(task, program.source, noise)
        failed += status != Status.CORRECT
        value = true_value(task, program.source)
        if to_target is None and value is not None and value >= task.target:
            to_target = evaluations
        return replace(program, status=status, fitness=fitness, error=error, metrics={**program.metrics, **metrics})

    source = initial_program(task)
    first = evaluated(Program(id="p0", run_id="bench", source=source))
    programs[first.id] = first
    hashes.add(source_hash(source))
    _index(novelty, first.id, source, strict=False)
    strategy.rebuild([])
    strategy.tell(first)
    while evaluations < budget and fruitless < 200:
        requests = strategy.ask(1)
        if not requests:
            break
        request = requests[0]
        parent = programs[request.parent.id]
        if request.reevaluate:
            repeats += 1
            again = evaluated(parent)
            done = combine(parent, again.status, again.fitness, again.error)
            parent = replace(parent, status=done.status, fitness=done.fitness, metrics=done.metrics, error=done.error)
            programs[parent.id] = parent
            strategy.tell(parent)
            continue
        child_source = proposer.propose(parent.source)
        digest = source_hash(child_source)
        if digest in hashes or _is_twin(novelty, child_source):
            rejected += 1
            fruitless += 1
            if hasattr(strategy, "discard"):
                strategy.discard(request)
            continue
        fruitless = 0
        hashes.add(digest)
        child = Program(
            id=f"p{len(programs)}", run_id="bench", source=child_source, parent_id=parent.id,
            generation=parent.generation + 1, island=request.island,
        )
        child = evaluated(child)
        programs[child.id] = child
        _index(novelty, child.id, child_source, strict=not child.is_correct)
        strategy.tell(child)
    best = strategy.best()
    best_true = true_value(task, best.source) if best is not None else None
    return Outcome(
        best_true=best_true if best_true is not None else float("-inf"),
        to_target=to_target, evaluations=evaluations, repeats=repeats, rejected=rejected, failed=failed,
    )
