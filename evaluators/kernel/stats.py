"""Robust statistics for timing samples: medians, their standard error and confidence interval.

Standard library only. Timing samples are skewed (a few slow outliers from clocks, other
processes, page faults), so everything here is built on the median and the median absolute
deviation (MAD), not on the mean and the standard deviation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_Z95 = 1.959963984540054
_MAD_TO_SD = 1.4826  # MAD * this estimates the standard deviation of a normal sample
_MEDIAN_SE = 1.2533  # sqrt(pi / 2): SE(median) = this * sd / sqrt(n) for a normal sample


def median(values: list[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def mad(values: list[float]) -> float:
    """Median absolute deviation from the median."""
    m = median(values)
    return median([abs(v - m) for v in values])


def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile, q in [0, 1]."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median_rel_se(values: list[float]) -> float:
    """Relative standard error of the median (robust: from the MAD); inf for < 3 values."""
    if len(values) < 3:
        return math.inf
    m = median(values)
    if m <= 0:
        return math.inf
    return _MEDIAN_SE * _MAD_TO_SD * mad(values) / math.sqrt(len(values)) / m


def median_ci(values: list[float], z: float = _Z95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (order statistics, 95% by default)."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("confidence interval of no values")
    half = z * math.sqrt(n) / 2
    low = max(0, math.floor(n / 2 - half))
    high = min(n - 1, math.ceil(n / 2 + half) - 1)
    return ordered[low], ordered[max(low, high)]


@dataclass(frozen=True)
class Summary:
    """A sample of times (ms) summarised robustly."""

    n: int
    median: float
    ci_low: float
    ci_high: float
    rel_spread: float  # interquartile range / median
    rel_se: float  # relative standard error of the median
    values: tuple[float, ...] = ()  # the samples, in the order measured

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "median": self.median, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "rel_spread": self.rel_spread, "rel_se": self.rel_se}


def summarize(values: list[float]) -> Summary:
    m = median(values)
    low, high = median_ci(values)
    iqr = quantile(values, 0.75) - quantile(values, 0.25)
    return Summary(len(values), m, low, high, iqr / m if m > 0 else math.inf, median_rel_se(values), tuple(values))
