"""Behaviour descriptors: the built-in ones computed from source, and binning into grid axes.

A descriptor is a number that says *how* a program solves the task (not how well); the
MAP-Elites grid keeps the best program per combination of descriptor bins. The evaluator or
scorer reports descriptors (`Program.descriptors`, else `Program.metrics`; `behaviour_values`
gives those of a program, leaving out the score and bookkeeping, NOT_BEHAVIOUR); two are built
in and computed from the source alone (they move little under small edits: prefer reported ones):

- ``lines``: non-blank, non-comment lines (``#`` and ``//`` line comments, ``/* */`` blocks;
  C preprocessor lines such as ``#define`` count as code). Log-spaced bins.
- ``diversity``: token-level Jaccard distance (over token multisets) between the program and
  the run's initial program, in [0, 1].

Bounds. A `DescriptorSpec` may leave `low`/`high` unset. ``diversity`` then uses [0, 1]. Any
other descriptor (``lines`` included) gets bounds fixed once, from the value `v` of the first
correct program placed in the grid: ``[v/4, 4v]`` on a log axis, ``[v - |v|, v + |v|]`` on a
linear one (``[-1, 1]`` when v is 0). A bound that is given is kept and only the missing one
is derived. Fixing the bounds from the first correct program, rather than rescaling as values
arrive, keeps cells stable for the whole run, so `rebuild` in the same order recreates the
same grid. Values outside the bounds fall into the end bins.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping

from archives.options import DescriptorSpec
from archives.records import Program
from archives.registry import StrategyError
from archives.repeats import BOOKKEEPING

BUILTIN_DESCRIPTORS = ("lines", "diversity")

DEFAULT_DESCRIPTORS: tuple[DescriptorSpec, ...] = (
    DescriptorSpec(name="lines", bins=8, log=True),
    DescriptorSpec(name="diversity", low=0.0, high=1.0, bins=8),
)
"""Used when the task's `search.map_elites.descriptors` is empty."""


class DescriptorError(StrategyError):
    """A descriptor is misconfigured or missing from an evaluated program."""


@dataclass(frozen=True)
class Axis:
    """One grid dimension: a named value range cut into `bins` equal (or log-equal) bins."""

    name: str
    low: float
    high: float
    bins: int
    log: bool = False

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise DescriptorError(f"descriptor {self.name!r}: bins must be at least 1")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise DescriptorError(
                f"descriptor {self.name!r}: need finite low < high, got [{self.low}, {self.high}]"
            )
        if self.log and self.low <= 0:
            raise DescriptorError(f"descriptor {self.name!r}: log bins need low > 0, got {self.low}")

    def index_of(self, value: float) -> int:
        """The bin of `value`; values below or above the range fall into the end bins."""
        if math.isnan(value):
            raise DescriptorError(f"descriptor {self.name!r}: value is NaN")
        if self.log:
            if value <= 0:
                return 0
            low, high, value = math.log(self.low), math.log(self.high), math.log(value)
        else:
            low, high = self.low, self.high
        frac = (value - low) / (high - low)
        if frac <= 0:
            return 0
        if frac >= 1:
            return self.bins - 1
        return min(int(frac * self.bins), self.bins - 1)

    def edges(self) -> list[float]:
        """The `bins + 1` bin boundaries, for display."""
        if self.log:
            a, b = math.log(self.low), math.log(self.high)
            return [math.exp(a + (b - a) * i / self.bins) for i in range(self.bins + 1)]
        return [self.low + (self.high - self.low) * i / self.bins for i in range(self.bins + 1)]


def check_specs(specs: Iterable[DescriptorSpec]) -> None:
    """Reject unusable descriptor specs up front, with a message naming the descriptor."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise DescriptorError(f"descriptor {spec.name!r} is listed twice")
        seen.add(spec.name)
        if spec.low is not None and spec.high is not None and spec.low >= spec.high:
            raise DescriptorError(f"descriptor {spec.name!r}: low must be below high")
        for bound in (spec.low, spec.high):
            if spec.log and bound is not None and bound <= 0:
                raise DescriptorError(f"descriptor {spec.name!r}: log bins need positive bounds")


def resolve_axis(spec: DescriptorSpec, first_value: float) -> Axis:
    """Turn a spec into an axis, deriving missing bounds from the first correct value."""
    low, high = spec.low, spec.high
    if spec.name == "diversity":
        low = 0.0 if low is None else low
        high = 1.0 if high is None else high
    if low is not None and high is not None:
        return Axis(spec.name, float(low), float(high), spec.bins, spec.log)
    v = float(first_value)
    if not math.isfinite(v):
        raise DescriptorError(f"descriptor {spec.name!r}: cannot derive bounds from {v}; set low/high")
    if spec.log:
        if v <= 0:
            raise DescriptorError(
                f"descriptor {spec.name!r} is log-scaled but its first value is {v}; set low and high"
            )
        d_low, d_high = v / 4, v * 4
    else:
        half = abs(v) or 1.0
        d_low, d_high = v - half, v + half
    if low is None and high is None:
        low, high = d_low, d_high
    elif low is None:
        low = d_low if d_low < high else (high / 16 if spec.log else high - max(abs(high), 1.0))
    else:
        high = d_high if d_high > low else (low * 16 if spec.log else low + max(abs(low), 1.0))
    return Axis(spec.name, float(low), float(high), spec.bins, spec.log)


_BLOCK_OPEN, _BLOCK_CLOSE = "/*", "*/"
_PREPROCESSOR = re.compile(
    r"#\s*(include|define|undef|if|ifdef|ifndef|elif|else|endif|pragma|error|warning|line)\b"
)


def count_lines(source: str) -> int:
    """Non-blank, non-comment lines (Python/shell `#`, C-family `//` and `/* */`)."""
    count, in_block = 0, False
    for raw in source.splitlines():
        line = raw.strip()
        if in_block:
            if _BLOCK_CLOSE not in line:
                continue
            line = line.split(_BLOCK_CLOSE, 1)[1].strip()
            in_block = False
        if line.startswith(_BLOCK_OPEN):
            rest = line[2:]
            if _BLOCK_CLOSE not in rest:
                in_block = True
                continue
            line = rest.split(_BLOCK_CLOSE, 1)[1].strip()
        if not line or line.startswith("//"):
            continue
        if line.startswith("#") and not _PREPROCESSOR.match(line):
            continue
        count += 1
    return count


_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(source: str) -> Counter[str]:
    """The multiset of word and punctuation tokens of a source."""
    return Counter(_TOKEN.findall(source))


def jaccard_distance(a: Counter[str], b: Counter[str]) -> float:
    """1 - |a ∩ b| / |a ∪ b| over token multisets; 0 for two empty sources."""
    union = sum((a | b).values())
    if union == 0:
        return 0.0
    return 1.0 - sum((a & b).values()) / union


def builtin_value(name: str, source: str, reference: Counter[str] | None) -> float:
    """Compute a built-in descriptor; `reference` is the initial program's tokens."""
    if name == "lines":
        return float(count_lines(source))
    if name == "diversity":
        return 0.0 if reference is None else jaccard_distance(tokens(source), reference)
    raise DescriptorError(f"no built-in descriptor {name!r}; built-ins: {', '.join(BUILTIN_DESCRIPTORS)}")


NOT_BEHAVIOUR = BOOKKEEPING | {"combined_score", "score", "fitness", "error"}
"""Metric names that say how well a program did (or are bookkeeping), not how it behaves."""


def behaviour_values(program: Program) -> dict[str, float]:
    """The behaviour values a program reports, in the evaluator's order: its descriptors, else
    its finite numeric metrics other than the score (NOT_BEHAVIOUR)."""
    values = program.descriptors or {k: v for k, v in program.metrics.items() if k not in NOT_BEHAVIOUR}
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def behaviour_names(program: Program) -> list[str]:
    """The names of `behaviour_values`, in the evaluator's order."""
    return list(behaviour_values(program))


def lookup(
    name: str,
    descriptors: Mapping[str, float],
    metrics: Mapping[str, float],
    source: str,
    reference: Counter[str] | None,
    program_id: str = "?",
) -> float:
    """A descriptor's value: reported by the scorer, else a metric, else a built-in."""
    if name in descriptors:
        value = descriptors[name]
    elif name in metrics:
        value = metrics[name]
    elif name in BUILTIN_DESCRIPTORS:
        value = builtin_value(name, source, reference)
    else:
        raise DescriptorError(
            f"descriptor {name!r} is not reported for program {program_id}: the evaluator gave "
            f"descriptors {sorted(descriptors)} and metrics {sorted(metrics)}; "
            f"built-ins are {', '.join(BUILTIN_DESCRIPTORS)}"
        )
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DescriptorError(
            f"descriptor {name!r} of program {program_id} is not a number: {value!r}"
        ) from None
    if math.isnan(value):
        raise DescriptorError(f"descriptor {name!r} of program {program_id} is NaN")
    return value
