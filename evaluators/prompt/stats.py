"""95% confidence intervals of a mean score over examples, for the end-of-run report.

Scores that are all 0 or 1 (right or wrong) get the Wilson score interval, which behaves at 0%
and 100% and on small sets; other scores get a seeded percentile bootstrap, so the same
scores always give the same interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000


def mean(scores: Sequence[float]) -> float:
    return sum(scores) / len(scores) if scores else 0.0


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap(scores: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean over `resamples` seeded resamples."""
    if not scores:
        return 0.0, 1.0
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(rng.choices(scores, k=n)) / n for _ in range(resamples))
    return means[int(0.025 * (resamples - 1))], means[int(math.ceil(0.975 * (resamples - 1)))]


def interval(scores: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """The 95% interval of the mean: Wilson for 0/1 scores, else the bootstrap."""
    if all(s in (0.0, 1.0) for s in scores):
        return wilson(sum(scores), len(scores))
    return bootstrap(scores, seed)
