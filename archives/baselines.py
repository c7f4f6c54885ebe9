"""Two baseline strategies that show what a real search buys: `best_of_n` and `greedy`.

- **best_of_n** rewrites the initial program every time: n independent samples, keep the best.
  Any search worth its name must beat it.
- **greedy** always rewrites the best correct program so far (the earliest on ties), falling
  back to the initial program until something is correct. It climbs fast on smooth problems
  and gets stuck on rugged and deceptive ones.

Both keep no state beyond the initial program and the best one, so `rebuild` is exact.
"""

from __future__ import annotations

import random
from typing import Any, Iterable

from archives.records import Insertion, Program, ProposalRequest


class _Baseline:
    name = "baseline"

    def __init__(self, config: Any, rng: random.Random) -> None:
        self._rng = rng
        self._reset()

    def _reset(self) -> None:
        self._initial: Program | None = None
        self._best: Program | None = None
        self._told = 0
        self._correct = 0

    def tell(self, program: Program) -> Insertion:
        self._told += 1
        if self._initial is None and program.parent_id is None and program.source:
            self._initial = program
        if not program.is_correct:
            return Insertion("not_added")
        self._correct += 1
        if self._best is None or program.fitness > self._best.fitness:  # type: ignore[operator]
            previous = None if self._best is None else self._best.fitness
            self._best = program
            return Insertion("improved" if previous is not None else "added", previous_fitness=previous)
        return Insertion("not_added")

    def rebuild(self, programs: Iterable[Program]) -> None:
        self._reset()
        for program in programs:
            self.tell(program)

    def best(self) -> Program | None:
        return self._best

    def ask(self, n: int) -> list[ProposalRequest]:
        if n <= 0 or self._initial is None:
            return []
        parent, reason = self._parent()
        return [ProposalRequest(parent=parent, reason=reason, island=parent.island) for _ in range(n)]

    def _parent(self) -> tuple[Program, str]:
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """``{"kind", "initial": id | None, "best": {"program_id", "fitness"} | None,
        "told": int, "correct": int}``."""
        best = self._best
        return {
            "kind": self.name,
            "initial": None if self._initial is None else self._initial.id,
            "best": None if best is None else {"program_id": best.id, "fitness": best.fitness},
            "told": self._told,
            "correct": self._correct,
        }


class BestOfN(_Baseline):
    """Every request rewrites the initial program."""

    name = "best_of_n"

    def _parent(self) -> tuple[Program, str]:
        assert self._initial is not None
        return self._initial, "best_of_n: always the initial program"


class Greedy(_Baseline):
    """Every request rewrites the best correct program so far."""

    name = "greedy"

    def _parent(self) -> tuple[Program, str]:
        if self._best is None:
            assert self._initial is not None
            return self._initial, "greedy: initial program (nothing correct yet)"
        return self._best, f"greedy: the best program (fitness {self._best.fitness:.4g})"
