"""MAP-Elites: ask for rewrites of elites chosen from a behaviour grid, tell evaluated programs.

The grid (archives/grid.py) only stores elites. This strategy adds what the search needs:

- **Descriptors.** Those the task configures (`search.map_elites.descriptors`), else the built-in
  ``lines`` and ``diversity`` (archives/descriptors.py, which also explains how bounds left unset
  are fixed from the first correct program). The ``diversity`` reference is the initial
  program: the first generation-0 program told (or, if none was, the first correct one).
- **Parent selection.** With chance `exploit_ratio`, exploitation: draw from the `elite_pool`
  fittest elites, weighted 1/rank (the global best is always rank 1). Otherwise exploration: any
  occupied cell. Both weights are multiplied by a parent's *freshness*,
  ``1 / (1 + 0.25 barren + 0.5 failed + 0.5 pending)``, counting its told children that changed
  nothing in the grid, those that failed, and requests for it not yet told back. A parent that
  keeps producing nothing fades, so the search moves on to its better descendants instead of
  mutating the same (often the initial) program over and over.
- **Fallback.** Until some program is correct, every request rewrites the initial program.
- **Requests.** Each names its parent, up to `inspirations` other elites (the fittest one first,
  then others drawn favouring cells far from the parent's), a reason, and mode "full" with
  chance `full_share` (larger rewrites), "diff" otherwise.

All randomness comes from the rng given to the constructor. Everything `ask` depends on,
except pending requests, is rebuilt by telling the same programs in the same order, so a
rebuilt strategy with an equally seeded rng asks the same things.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Iterable, Mapping

from agent.config import SearchConfig
from archives.descriptors import (
    DEFAULT_DESCRIPTORS,
    Axis,
    check_specs,
    lookup,
    resolve_axis,
    tokens,
)
from archives.grid import Cell, GridArchive
from archives.records import Insertion, Program, ProposalRequest, Status

BARREN_WEIGHT = 0.25
FAILED_WEIGHT = 0.5
PENDING_WEIGHT = 0.5


class MapElites:
    """The MAP-Elites strategy (see the module docstring)."""

    name = "map_elites"
    full_share = 0.2
    """Share of requests asking for a whole program instead of SEARCH/REPLACE edits."""

    def __init__(self, config: SearchConfig, rng: random.Random) -> None:
        self.config = config.map_elites
        self._rng = rng
        self._specs = tuple(self.config.descriptors) or DEFAULT_DESCRIPTORS
        check_specs(self._specs)
        self._reset()

    def _reset(self) -> None:
        self._grid: GridArchive | None = None
        self._initial: Program | None = None
        self._reference: Counter[str] | None = None
        self._best: Program | None = None
        self._order: dict[str, int] = {}
        self._barren: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()
        self._counts: Counter[str] = Counter()

    # ---- ask / tell -------------------------------------------------------------------------

    def tell(self, program: Program) -> Insertion:
        """Record an evaluated program; correct ones compete for their cell."""
        if self._initial is None and program.generation == 0 and program.source:
            self._initial = program
            self._reference = tokens(program.source)
        if program.is_correct:
            if self._reference is None:
                self._reference = tokens(program.source)
            values = self.descriptors_of(program)  # first, so a missing descriptor changes nothing
        self._order.setdefault(program.id, len(self._order))
        self._counts["told"] += 1
        parent = program.parent_id
        if parent is not None and self._pending[parent] > 0:
            self._pending[parent] -= 1
        if not program.is_correct:
            if program.status in Status.FAILED:
                self._counts["failed"] += 1
                if parent is not None:
                    self._failed[parent] += 1
            if parent is not None:
                self._barren[parent] += 1
            return Insertion("not_added")
        self._counts["correct"] += 1
        if self._grid is None:
            self._grid = GridArchive([resolve_axis(s, values[s.name]) for s in self._specs])
        if self._best is None or program.fitness > self._best.fitness:  # type: ignore[operator]
            self._best = program
        insertion = self._grid.add(program, values)
        if insertion.status == "not_added" and parent is not None:
            self._barren[parent] += 1
        return insertion

    def ask(self, n: int) -> list[ProposalRequest]:
        """Up to `n` requests; none before any program was told."""
        if n <= 0:
            return []
        if self._grid is None or len(self._grid) == 0:
            if self._initial is None:
                return []
            return [
                ProposalRequest(
                    parent=self._initial,
                    reason="initial program (nothing correct yet)",
                    mode=self._mode(),
                )
                for _ in range(n)
            ]
        requests = []
        for _ in range(n):
            cell, parent, reason = self._select_parent()
            self._pending[parent.id] += 1
            requests.append(
                ProposalRequest(
                    parent=parent,
                    inspirations=self._inspirations(cell, parent),
                    reason=reason,
                    mode=self._mode(),
                    island=parent.island,
                    extra={"cell": cell},
                )
            )
        return requests

    def rebuild(self, programs: Iterable[Program]) -> None:
        """Forget everything, then tell `programs` in order."""
        self._reset()
        for program in programs:
            self.tell(program)

    def best(self) -> Program | None:
        return self._best

    # ---- selection ----------------------------------------------------------------------------

    def _freshness(self, program: Program) -> float:
        pid = program.id
        load = BARREN_WEIGHT * self._barren[pid] + FAILED_WEIGHT * self._failed[pid]
        return 1.0 / (1.0 + load + PENDING_WEIGHT * self._pending[pid])

    def _ranked(self) -> list[tuple[Cell, Program]]:
        """Elites, fittest first; ties go to the one told earlier."""
        assert self._grid is not None
        return sorted(self._grid.elites(), key=lambda e: (-e[1].fitness, self._order[e[1].id]))

    def _select_parent(self) -> tuple[Cell, Program, str]:
        ranked = self._ranked()
        if self._rng.random() < self.config.exploit_ratio:
            pool = ranked[: self.config.elite_pool]
            weights = [self._freshness(p) / (rank + 1) for rank, (_, p) in enumerate(pool)]
            i = self._rng.choices(range(len(pool)), weights=weights)[0]
            cell, parent = pool[i]
            return cell, parent, f"exploit: top-{i + 1} elite (fitness {parent.fitness:.4g})"
        elites = self._grid.elites()  # type: ignore[union-attr]
        weights = [self._freshness(p) for _, p in elites]
        cell, parent = elites[self._rng.choices(range(len(elites)), weights=weights)[0]]
        return cell, parent, f"explore: cell {cell} (fitness {parent.fitness:.4g})"

    def _inspirations(self, cell: Cell, parent: Program) -> tuple[Program, ...]:
        others = [(c, p) for c, p in self._ranked() if p.id != parent.id]
        k = min(self.config.inspirations, len(others))
        if k == 0:
            return ()
        chosen = [others.pop(0)[1]]  # the fittest other elite
        while len(chosen) < k:
            weights = [1 + sum(abs(a - b) for a, b in zip(c, cell)) for c, _ in others]
            chosen.append(others.pop(self._rng.choices(range(len(others)), weights=weights)[0])[1])
        return tuple(chosen)

    def _mode(self) -> str:
        return "full" if self._rng.random() < self.full_share else "diff"

    # ---- QD accessors for the viewer -------------------------------------------------------------

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._specs)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(s.bins for s in self._specs)

    @property
    def axes(self) -> tuple[Axis, ...] | None:
        """The resolved axes (bounds fixed), or None before the first correct program."""
        return self._grid.axes if self._grid is not None else None

    def descriptors_of(self, program: Program) -> dict[str, float]:
        """The descriptor values this strategy bins `program` by."""
        d, m, ref = program.descriptors, program.metrics, self._reference
        return {s.name: lookup(s.name, d, m, program.source, ref, program.id) for s in self._specs}

    def index_of(self, descriptors: Mapping[str, float]) -> Cell:
        """The cell for these descriptor values; needs a correct program told first (bounds)."""
        if self._grid is None:
            raise ValueError("the grid has no bounds yet: no correct program was told")
        return self._grid.index_of(descriptors)

    def elites(self) -> list[tuple[Cell, Program]]:
        """All elites, ordered by cell."""
        return self._grid.elites() if self._grid is not None else []

    def snapshot(self) -> dict[str, Any]:
        """The grid for the viewer: axes (once bounded), every elite's cell, and the stats."""
        axes = self.axes
        return {
            "kind": "map_elites",
            "descriptors": list(self.descriptor_names),
            "shape": list(self.grid_shape),
            "axes": None if axes is None else [
                {"name": a.name, "low": a.low, "high": a.high, "bins": a.bins, "log": a.log, "edges": a.edges()}
                for a in axes
            ],
            "elites": [
                {"cell": list(cell), "program_id": p.id, "fitness": p.fitness, "descriptors": self.descriptors_of(p)}
                for cell, p in self.elites()
            ],
            "stats": self.stats(),
        }

    def stats(self) -> dict[str, Any]:
        """cells, filled, coverage, qd_score, best_fitness, and told/correct/failed counts."""
        if self._grid is not None:
            stats = self._grid.stats()
        else:
            cells = 1
            for b in self.grid_shape:
                cells *= b
            stats = {"cells": cells, "filled": 0, "coverage": 0.0, "qd_score": 0.0, "best_fitness": None}
        stats.update({k: self._counts[k] for k in ("told", "correct", "failed")})
        return stats
