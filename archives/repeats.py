"""Repeated evaluations of one program: its fitness becomes the mean of its attempts.

A strategy that distrusts noisy evaluations asks for a program to be evaluated again
(`ProposalRequest.reevaluate`). The store records each repeat as another attempt of the same
program and folds it in with `combine`:

- `fitness` is the mean fitness of the program's attempts;
- `metrics["fitness_evals"]` counts the attempts, `metrics["fitness_sd"]` is the sample
  standard deviation of their fitness (present from the second attempt on);
- one failed attempt fails the program (status, error) for good: a program that passes only
  sometimes is not correct.

A program evaluated once carries neither key; `fitness_stats` reads it as one sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from archives.records import Program, Status

FITNESS_EVALS = "fitness_evals"
FITNESS_SD = "fitness_sd"
BOOKKEEPING = frozenset({FITNESS_EVALS, FITNESS_SD})
"""Metric names this module writes (not the evaluator's measurements)."""


@dataclass(frozen=True)
class FitnessStats:
    """Mean fitness over `n` attempts; `sd` is None until there are two."""

    n: int
    mean: float
    sd: float | None = None


def fitness_stats(program: Program) -> FitnessStats | None:
    """The fitness statistics of a correct program, None for any other."""
    if not program.is_correct:
        return None
    n = max(1, int(program.metrics.get(FITNESS_EVALS, 1)))
    sd = program.metrics.get(FITNESS_SD) if n >= 2 else None
    return FitnessStats(n, float(program.fitness), None if sd is None else float(sd))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Combined:
    """A program's new outcome after one more attempt."""

    status: str
    fitness: float | None
    metrics: dict[str, float]
    error: str | None


def combine(program: Program, status: str, fitness: float | None, error: str | None) -> Combined:
    """Fold one more attempt (its status, fitness and error) into `program`'s outcome."""
    metrics = dict(program.metrics)
    attempts = max(1, int(metrics.get(FITNESS_EVALS, 1))) + 1
    metrics[FITNESS_EVALS] = float(attempts)
    if not program.is_correct:  # an earlier attempt failed: the program stays failed
        return Combined(program.status, None, metrics, program.error)
    if status != Status.CORRECT or fitness is None or not math.isfinite(fitness):
        why = error or status
        return Combined(status, None, metrics, f"attempt {attempts} failed ({status}): {why}")
    stats = fitness_stats(program)
    assert stats is not None
    n = stats.n + 1
    mean = stats.mean + (fitness - stats.mean) / n
    m2 = (stats.sd or 0.0) ** 2 * (stats.n - 1) + (fitness - stats.mean) * (fitness - mean)
    metrics[FITNESS_EVALS] = float(n)
    metrics[FITNESS_SD] = math.sqrt(max(0.0, m2) / (n - 1))
    return Combined(Status.CORRECT, mean, metrics, None)
