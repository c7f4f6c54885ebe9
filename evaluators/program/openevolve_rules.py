"""OpenEvolve 0.3.2's scoring rules, as evoforge applies them to OpenEvolve-style evaluators.

Written from OpenEvolve's documented and observed behaviour (its `Evaluator` and
`get_fitness_score`), not copied. Standard library only: the harness imports it in the sandbox.

- A cascade stage passes its threshold when its `combined_score` (a number; a bool counts as
  0/1) reaches it; without one, when the mean of its numeric values other than `error` (bools
  counted) reaches it; with no such value it fails.
- Once a second stage has run, the result's metrics are the merge of every stage that ran:
  numeric values only (bools become 0.0/1.0), `error` left out, later stages overriding
  earlier keys. A result of one stage keeps its values as returned.
- The fitness is `combined_score` when there is one; else the mean of the numeric metrics
  (bools and NaN left out, `error` counted) that are not MAP-Elites feature dimensions; if
  every numeric metric is a feature dimension, the mean of all of them; with none, 0.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Verdict:
    """Whether a stage's metrics reach a threshold, and what was compared."""

    passed: bool
    score: float | None  # the compared number; None when there was nothing to compare
    basis: str  # "combined_score" or "mean of N numeric metrics"


def passes_threshold(metrics: Mapping[str, Any], threshold: float) -> Verdict:
    """OpenEvolve's gate between cascade stages."""
    score = metrics.get("combined_score")
    if isinstance(score, (int, float)):  # bool included, as in OpenEvolve
        return Verdict(float(score) >= threshold, float(score), "combined_score")
    values = [float(v) for k, v in metrics.items() if k != "error" and isinstance(v, (int, float))]
    if not values:
        return Verdict(False, None, "no numeric metrics")
    mean = sum(values) / len(values)
    return Verdict(mean >= threshold, mean, f"mean of {len(values)} numeric metrics")


def merge_stages(stages: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """The metrics of a cascade whose second stage ran: numeric, no `error`, later keys win."""
    merged: dict[str, float] = {}
    for metrics in stages:
        for key, value in metrics.items():
            if key != "error" and isinstance(value, (int, float)):
                try:
                    merged[str(key)] = float(value)
                except OverflowError:  # an int too big for a float
                    merged[str(key)] = math.inf if value > 0 else -math.inf
    return merged


@dataclass(frozen=True)
class Fallback:
    """The fitness of a result without combined_score, and the metrics it averaged."""

    fitness: float
    names: tuple[str, ...]


def fallback_fitness(metrics: Mapping[str, Any], feature_dimensions: Iterable[str] = ()) -> Fallback:
    """OpenEvolve's fitness when there is no combined_score (`get_fitness_score`'s fallback)."""
    excluded = set(feature_dimensions)
    numeric = {k: float(v) for k, v in metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(float(v))}
    chosen = {k: v for k, v in numeric.items() if k not in excluded} or numeric
    if not chosen:
        return Fallback(0.0, ())
    return Fallback(sum(chosen.values()) / len(chosen), tuple(chosen))
