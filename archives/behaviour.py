"""How far apart two told programs are, for the priority queue's memory (archives/pq.py).

Three kinds of distance, chosen per pair by `mode` ("auto", "descriptors" or "code"):

- **behaviour**: both programs report behaviour values (their descriptors, else their numeric
  metrics other than the score, archives/descriptors.py behaviour_values); the distance is the
  Euclidean distance over the shared keys, each scaled by its range over every program noted
  so far, divided by the square root of their number. Not with mode "code".
- **constants**: with mode "auto", when neither reports any, the same over the programs'
  constants (archives/constants.py), over the union of keys, a missing key reading 0; but two
  programs with exactly the same score are at distance 0. With nothing reported the score is
  the only behaviour observed, and different constants that give the very same score (a value
  clipped to its range, a dead branch) are most likely the same behaviour: one member of such
  a plateau is enough. Noisy scores never tie, so this changes nothing for them.
- **code**: otherwise, 1 - MinHash Jaccard of token shingles (archives/novelty.py), cached.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

from archives.constants import constants
from archives.descriptors import behaviour_values
from archives.novelty import Fingerprint
from archives.records import Program

_CONST = "\x00const:"  # marks a constant's key among behaviour keys


class Distances:
    """Distances between told programs, and the ranges that scale them."""

    def __init__(self, mode: str, language: str = "") -> None:
        self.mode = mode
        self._language = language
        self._ranges: dict[str, tuple[float, float]] = {}
        self._constants: dict[str, dict[str, float]] = {}
        self._prints: dict[str, Fingerprint] = {}
        self._code: dict[tuple[str, str], float] = {}

    def note(self, program: Program) -> None:
        """Widen the ranges by a correct program's values (before it is compared)."""
        kind, values = self.features(program)
        for k, v in values.items():
            lo, hi = self._ranges.get(k, (v, v) if kind == "metrics" else (0.0, 0.0))
            self._ranges[k] = (min(lo, v), max(hi, v))

    def features(self, program: Program) -> tuple[str | None, dict[str, float]]:
        """("metrics", the reported behaviour values), else with mode "auto" ("constants", the
        program's constants, keys marked), else (None, {})."""
        if self.mode == "code":
            return None, {}
        reported = behaviour_values(program)
        if reported:
            return "metrics", reported
        if self.mode != "auto":
            return None, {}
        cached = self._constants.get(program.id)
        if cached is None:
            cached = self._constants[program.id] = {_CONST + k: v for k, v in constants(program.source).items()}
        return ("constants", cached) if cached else (None, {})

    def between(self, a: Program, b: Program) -> float:
        """The distance of two programs (see the module docstring)."""
        if self._same_score(a, b):
            return 0.0
        d = self._scaled_distance(a, b)
        if d is not None:
            return d
        key = (a.id, b.id) if a.id < b.id else (b.id, a.id)
        d = self._code.get(key)
        if d is None:
            d = self._code[key] = self._print(a).distance(self._print(b))
        return d

    def kind(self, programs: Iterable[Program]) -> str:
        """What distances between these programs are over: "behaviour", "constants" or "code"."""
        kinds = {self.features(p)[0] for p in programs}
        if kinds == {"metrics"}:
            return "behaviour"
        if kinds == {"constants"}:
            return "constants"
        return "code"

    def closest_pair(self, programs: Mapping[str, Program]) -> tuple[float, str, str] | None:
        """The two closest programs and their distance (the first pair found on ties)."""
        ids = list(programs)
        scaled = self._scaled(programs)
        best: tuple[float, str, str] | None = None
        for i, a in enumerate(ids):
            for j in range(i + 1, len(ids)):
                b = ids[j]
                if self._same_score(programs[a], programs[b]):
                    d = 0.0
                elif scaled is not None:
                    va, vb = scaled[i], scaled[j]
                    d = math.sqrt(sum((x - y) ** 2 for x, y in zip(va, vb)) / len(va))
                else:
                    d = self.between(programs[a], programs[b])
                if best is None or d < best[0]:
                    best = (d, a, b)
        return best

    def _same_score(self, a: Program, b: Program) -> bool:
        """Both report no behaviour, mode "auto", and their scores are equal (see above)."""
        if self.mode != "auto" or a.fitness is None or a.fitness != b.fitness:
            return False
        return self.features(a)[0] != "metrics" and self.features(b)[0] != "metrics"

    def _scaled(self, programs: Mapping[str, Program]) -> list[tuple[float, ...]] | None:
        """Every program's values scaled by the ranges, when all are of one kind and comparable
        as vectors (then `between` is the RMS difference of these vectors); else None."""
        if not programs:
            return None
        features = [self.features(p) for p in programs.values()]
        kinds = {kind for kind, _ in features}
        if len(kinds) != 1 or None in kinds:
            return None
        if kinds == {"metrics"}:
            keys = sorted(features[0][1])
            if not keys or any(sorted(f) != keys for _, f in features[1:]):
                return None
        else:  # constants: the union of keys, a missing one reads 0
            keys = sorted({k for _, f in features for k in f})
            if not keys:
                return None
        spans = [self._ranges[k][1] - self._ranges[k][0] for k in keys]
        return [tuple((f.get(k, 0.0) / s if s > 0 else 0.0) for k, s in zip(keys, spans)) for _, f in features]

    def _scaled_distance(self, a: Program, b: Program) -> float | None:
        (ka, va), (kb, vb) = self.features(a), self.features(b)
        if ka is None or ka != kb:
            return None
        keys = sorted(set(va) & set(vb)) if ka == "metrics" else sorted(set(va) | set(vb))
        if not keys:
            return None
        total = 0.0
        for k in keys:
            lo, hi = self._ranges.get(k, (0.0, 0.0))
            span = hi - lo
            total += ((va.get(k, 0.0) - vb.get(k, 0.0)) / span) ** 2 if span > 0 else 0.0
        return math.sqrt(total / len(keys))

    def _print(self, program: Program) -> Fingerprint:
        fp = self._prints.get(program.id)
        if fp is None:
            fp = self._prints[program.id] = Fingerprint.of(program.source, self._language)
        return fp
