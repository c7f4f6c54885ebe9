"""How alike two programs are: MinHash over token shingles, and a near-duplicate index.

Programs are compared as *sets of token shingles* (runs of `k` consecutive tokens). Tokens are
identifiers, numbers, string literals and single punctuation characters; whitespace inside a
line and comments are dropped (``#`` for Python-like languages, ``//`` and ``/* */`` for C-like
ones), but each line's indentation is a token, so re-indenting Python (which changes what it
does) never looks like "the same program". Similarity is the Jaccard index of the two shingle
sets: 1.0 for programs that differ only in comments and spacing, 0.0 for programs that share
no shingle.

Every shingle is hashed with a stable 64-bit hash (BLAKE2b, never Python's salted `hash()`),
so fingerprints are the same in every process and on every machine. A `Fingerprint` keeps the
hashed shingle set and a bottom-k MinHash sketch (the `k` smallest hashes): the sketch
estimates Jaccard cheaply (exactly, when both sets are smaller than `k`), and the exact sets
confirm what the sketch flags.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from dataclasses import dataclass

from archives.languages import language as language_of

__all__ = [
    "Fingerprint",
    "NoveltyIndex",
    "code_tokens",
    "jaccard",
    "shingles",
    "stable_hash",
]

SKETCH_SIZE = 128
"""Hashes kept in a MinHash sketch: the estimate's standard error is at most about 0.045."""

_STRINGS = r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
_WORDS = r"[A-Za-z_]\w*|\d[\w.]*|\S"
_TOKEN_RES = {
    "hash": re.compile(rf"(?P<s>{_STRINGS})|(?P<c>#[^\n]*)|(?P<t>{_WORDS})"),
    "slash": re.compile(rf"(?P<s>{_STRINGS})|(?P<c>//[^\n]*|/\*[\s\S]*?\*/)|(?P<t>{_WORDS})"),
    "none": re.compile(rf"(?P<s>{_STRINGS})|(?P<c>(?!))|(?P<t>{_WORDS})"),
}


def code_tokens(source: str, language: str = "python") -> list[str]:
    """The tokens programs are compared by (see the module docstring)."""
    pattern = _TOKEN_RES[language_of(language).comment]
    out: list[str] = []
    last_end = 0
    for match in pattern.finditer(source):
        if match.lastgroup == "c":
            continue
        start = match.start()
        if not out or "\n" in source[last_end:start]:  # the first token of its line
            indent = source[source.rfind("\n", 0, start) + 1 : start]
            if not indent.strip():
                out.append(f"\x00indent:{len(indent.expandtabs(4))}")
        out.append(match.group())
        last_end = match.end()
    return out


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process (BLAKE2b)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def shingles(tokens: list[str], k: int = 3) -> frozenset[int]:
    """Hashed runs of `k` consecutive tokens (one run of all tokens when there are fewer)."""
    if not tokens:
        return frozenset()
    if len(tokens) <= k:
        return frozenset({stable_hash("\x1f".join(tokens))})
    return frozenset(stable_hash("\x1f".join(tokens[i : i + k])) for i in range(len(tokens) - k + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty sets are identical (1.0)."""
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True)
class Fingerprint:
    """A program's hashed shingle set and its bottom-k MinHash sketch."""

    shingles: frozenset[int]
    sketch: tuple[int, ...]  # the SKETCH_SIZE smallest shingle hashes, ascending

    @classmethod
    def of(cls, source: str, language: str = "python", k: int = 3) -> Fingerprint:
        hashed = shingles(code_tokens(source, language), k)
        return cls(hashed, tuple(heapq.nsmallest(SKETCH_SIZE, hashed)))

    def estimate(self, other: Fingerprint) -> float:
        """MinHash estimate of the Jaccard similarity (exact when both sets fit in a sketch)."""
        a, b = self.sketch, other.sketch
        if not a and not b:
            return 1.0
        union = heapq.nsmallest(SKETCH_SIZE, set(a) | set(b))
        shared = set(a) & set(b)
        return sum(h in shared for h in union) / len(union)

    def similarity(self, other: Fingerprint) -> float:
        """Exact Jaccard similarity of the shingle sets."""
        return jaccard(self.shingles, other.shingles)

    def distance(self, other: Fingerprint) -> float:
        """1 - estimated similarity: cheap, for many comparisons (the PQ's epsilon-net)."""
        return 1.0 - self.estimate(other)


class NoveltyIndex:
    """Fingerprints of a run's programs, to find a new program's nearest existing twin.

    `threshold` is the similarity at which a program counts as a near-duplicate of a
    *lenient* entry (pending or correct programs). A *strict* entry (a program that failed)
    only matches at similarity 1.0: a small change to a failed program may be its fix. The
    sketch shortlists candidates (with a margin of 0.15, over three standard errors) and the
    exact Jaccard of the shingle sets decides, so a one-token change of a long program is
    never mistaken for an identical one.
    """

    MARGIN = 0.15

    def __init__(self, threshold: float = 1.0, language: str = "python", shingle: int = 3) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"a near-duplicate threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.language = language
        self.shingle = shingle
        self._prints: dict[str, Fingerprint] = {}
        self._strict: set[str] = set()

    def __len__(self) -> int:
        return len(self._prints)

    def __contains__(self, program_id: str) -> bool:
        return program_id in self._prints

    def fingerprint(self, source: str) -> Fingerprint:
        return Fingerprint.of(source, self.language, self.shingle)

    def add(self, program_id: str, source: str | Fingerprint | None, *, strict: bool = False) -> None:
        """Index a program (again: only its strictness changes, the fingerprint is kept)."""
        if program_id not in self._prints:
            fp = source if isinstance(source, Fingerprint) else self.fingerprint(source or "")
            self._prints[program_id] = fp
        if strict:
            self._strict.add(program_id)
        else:
            self._strict.discard(program_id)

    def near_twin(self, source: str | Fingerprint) -> tuple[str, float] | None:
        """The indexed program that `source` duplicates (the most similar one at or above its
        entry's threshold) and the exact similarity; None when `source` is new enough."""
        fp = source if isinstance(source, Fingerprint) else self.fingerprint(source)
        best: tuple[str, float] | None = None
        for pid, other in self._prints.items():
            need = 1.0 if pid in self._strict else self.threshold
            if other.estimate(fp) < need - self.MARGIN:
                continue
            sim = other.similarity(fp)
            if sim >= need and (best is None or sim > best[1]):
                best = (pid, sim)
        return best

