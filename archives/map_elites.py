"""MAP-Elites: ask for rewrites of elites chosen from a behaviour grid, tell evaluated programs.

The grid (archives/grid.py) only stores elites. This strategy adds what the search needs:

- **Descriptors.** Those the task configures (`search.map_elites.descriptors`); else the first
  two numeric metrics the first correct program reports other than the score (they move with
  what the program does; a later program lacking one stays out of the grid); else the built-in
  ``lines`` and ``diversity`` (archives/descriptors.py, which also explains how bounds left unset
  are fixed from the first correct program). The ``diversity`` reference is the initial
  program: the first generation-0 program told (or, if none was, the first correct one).
- **Parent selection.** With chance `exploit_ratio`, exploitation: draw from the `elite_pool`
  fittest elites, weighted 1/rank (the global best is always rank 1). Otherwise exploration: any
  occupied cell, with ``selection: uniform`` each alike, with ``ranked`` (the default) weighted
  1/sqrt(rank), so every cell stays reachable while a filling grid does not drown the good
  elites in mediocre ones. Exploitation and ranked weights are multiplied by a parent's *freshness*,
  ``1 / (1 + 0.25 barren + 0.5 failed + 0.5 pending)``, counting its told children that changed
  nothing in the grid, those that failed, and requests for it not yet told back. A parent that
  keeps producing nothing fades, so the search moves on to its better descendants instead of
  mutating the same (often the initial) program over and over.
- **Fallback.** Until some program is correct, every request rewrites the initial program.
- **Requests.** Each names its parent, up to `inspirations` other elites (the fittest one first,
  then others drawn favouring cells far from the parent's), a reason, and mode "full" with
  chance `full_share` (larger rewrites), "diff" otherwise.
- **Islands.** With `islands` > 1, each island has its own grid over the same axes and evolves
  on its own: a request names its island (the one with the fewest requests in flight, then the
  fewest programs told, then the lowest number), the child is born there, and its parent and
  inspirations come from that island's grid. The initial program seeds every island. Every
  `migration_interval` correct programs told, each island sends copies of its `migrants`
  fittest elites to the next island in a ring, where they compete for cells like any program.

All randomness comes from the rng given to the constructor. Everything `ask` depends on,
except pending requests, is rebuilt by telling the same programs in the same order, so a
rebuilt strategy with an equally seeded rng asks the same things.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any, Iterable, Mapping

from archives.options import DescriptorSpec, SearchConfig
from archives.descriptors import (
    DEFAULT_DESCRIPTORS,
    Axis,
    DescriptorError,
    behaviour_names,
    check_specs,
    lookup,
    resolve_axis,
    tokens,
)
from archives.freshness import Freshness
from archives.grid import Cell, GridArchive
from archives.records import Insertion, Program, ProposalRequest, Status

AUTO_DESCRIPTORS = 2
AUTO_BINS = 8


class MapElites:
    """The MAP-Elites strategy (see the module docstring)."""

    name = "map_elites"
    full_share = 0.2
    """Share of requests asking for a whole program instead of SEARCH/REPLACE edits."""

    def __init__(self, config: SearchConfig, rng: random.Random) -> None:
        self.config = config.map_elites
        self._rng = rng
        check_specs(self.config.descriptors)
        self._reset()

    def _reset(self) -> None:
        # Configured descriptors; without any, chosen at the first correct program (see _choose_specs).
        self._specs: tuple[DescriptorSpec, ...] = tuple(self.config.descriptors) or DEFAULT_DESCRIPTORS
        self._auto_metrics = False
        self._grids: list[GridArchive] = []  # one per island, made at the first correct program
        self._axes: list[Axis] | None = None
        self._island_told: Counter[int] = Counter()
        self._island_pending: Counter[int] = Counter()
        self._migrations = 0
        self._initial: Program | None = None
        self._reference: Counter[str] | None = None
        self._best: Program | None = None
        self._order: dict[str, int] = {}
        self._fresh = Freshness()  # children pending, barren and failed, per parent
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
            if self._axes is None and not self.config.descriptors:
                self._choose_specs(program)
            values = self._values(program)  # first, so a missing descriptor changes nothing
        self._order.setdefault(program.id, len(self._order))
        self._counts["told"] += 1
        island = self._island_of(program)
        self._island_told[island] += 1
        parent = program.parent_id
        if self._fresh.release(parent) and self._island_pending[island] > 0:
            self._island_pending[island] -= 1
        if not program.is_correct:
            self._counts["failed"] += program.status in Status.FAILED
            self._fresh.incorrect(program)
            return Insertion("not_added")
        self._counts["correct"] += 1
        if self._axes is None:
            self._axes = [resolve_axis(s, values[s.name]) for s in self._specs]
            self._grids = [GridArchive(self._axes) for _ in range(self.config.islands)]
        if self._best is None or program.fitness > self._best.fitness:  # type: ignore[operator]
            self._best = program
        if values is None:  # an automatically chosen metric this program does not report
            return Insertion("not_added")
        if program.generation == 0 and len(self._grids) > 1:  # the initial program seeds every island
            for grid in self._grids[1:]:
                grid.add(program, values)
        insertion = self._grids[island].add(program, values)
        if insertion.status == "not_added":
            self._fresh.dropped(parent)
        self._maybe_migrate()
        return insertion

    def _choose_specs(self, program: Program) -> None:
        """Without configured descriptors: the first `AUTO_DESCRIPTORS` behaviour values the
        evaluator reports (descriptors, else metrics other than the score) when it reports any,
        else the built-ins."""
        names = behaviour_names(program)[:AUTO_DESCRIPTORS]
        if names:
            self._specs = tuple(DescriptorSpec(name=n, bins=AUTO_BINS) for n in names)
            self._auto_metrics = True

    def _values(self, program: Program) -> dict[str, float] | None:
        """`descriptors_of`, or None for a program missing an automatically chosen metric."""
        try:
            return self.descriptors_of(program)
        except DescriptorError:
            if self._auto_metrics:
                return None
            raise

    def _island_of(self, program: Program) -> int:
        return program.island % self.config.islands

    def _maybe_migrate(self) -> None:
        """Ring migration every `migration_interval` correct programs (islands > 1 only)."""
        k = len(self._grids)
        if k < 2 or self._counts["correct"] % self.config.migration_interval:
            return
        leaving = [self._ranked(i)[: self.config.migrants] for i in range(k)]
        for i, elites in enumerate(leaving):
            target = self._grids[(i + 1) % k]
            for _, program in elites:
                target.add(program, self.descriptors_of(program))
        self._migrations += 1

    @property
    def _grid(self) -> GridArchive | None:
        """Island 0's grid (the only one without islands)."""
        return self._grids[0] if self._grids else None

    def ask(self, n: int) -> list[ProposalRequest]:
        """Up to `n` requests; none before any program was told."""
        if n <= 0:
            return []
        if not self._grids or len(self._grids[0]) == 0:
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
            island = self._next_island()
            cell, parent, reason = self._select_parent(island)
            self._fresh.asked(parent.id)
            self._island_pending[island] += 1
            if len(self._grids) > 1:
                reason = f"island {island}: {reason}"
            requests.append(
                ProposalRequest(
                    parent=parent,
                    inspirations=self._inspirations(cell, parent, island),
                    reason=reason,
                    mode=self._mode(),
                    island=island if len(self._grids) > 1 else parent.island,
                    extra={"cell": cell},
                )
            )
        return requests

    def discard(self, request: ProposalRequest) -> None:
        """A request gave nothing to evaluate: it is no longer pending."""
        if self._fresh.release(request.parent.id):
            island = request.island % self.config.islands
            if self._island_pending[island] > 0:
                self._island_pending[island] -= 1

    def _next_island(self) -> int:
        k = len(self._grids)
        return min(range(k), key=lambda i: (self._island_pending[i], self._island_told[i], i))

    def rebuild(self, programs: Iterable[Program]) -> None:
        """Forget everything, then tell `programs` in order."""
        self._reset()
        for program in programs:
            self.tell(program)

    def best(self) -> Program | None:
        return self._best

    # ---- selection ----------------------------------------------------------------------------

    def _ranked(self, island: int = 0) -> list[tuple[Cell, Program]]:
        """An island's elites, fittest first; ties go to the one told earlier."""
        grid = self._grids[island]
        return sorted(grid.elites(), key=lambda e: (-e[1].fitness, self._order[e[1].id]))

    def _select_parent(self, island: int = 0) -> tuple[Cell, Program, str]:
        ranked = self._ranked(island)
        if self._rng.random() < self.config.exploit_ratio:
            pool = ranked[: self.config.elite_pool]
            weights = [self._fresh.weight(p.id) / (rank + 1) for rank, (_, p) in enumerate(pool)]
            i = self._rng.choices(range(len(pool)), weights=weights)[0]
            cell, parent = pool[i]
            return cell, parent, f"exploit: top-{i + 1} elite (fitness {parent.fitness:.4g})"
        elites = self._grids[island].elites()
        if self.config.selection == "uniform":
            cell, parent = elites[self._rng.randrange(len(elites))]
            why = f"explore: cell {cell}, uniform over {len(elites)} filled (fitness {parent.fitness:.4g})"
            return cell, parent, why
        rank = {p.id: r for r, (_, p) in enumerate(ranked)}
        weights = [self._fresh.weight(p.id) / math.sqrt(rank[p.id] + 1) for _, p in elites]
        cell, parent = elites[self._rng.choices(range(len(elites)), weights=weights)[0]]
        return cell, parent, f"explore: cell {cell} (fitness {parent.fitness:.4g})"

    def _inspirations(self, cell: Cell, parent: Program, island: int = 0) -> tuple[Program, ...]:
        others = [(c, p) for c, p in self._ranked(island) if p.id != parent.id]
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

    def elites(self, island: int | None = None) -> list[tuple[Cell, Program]]:
        """The elites of one island, or of all islands in island order; each ordered by cell."""
        if island is not None:
            return self._grids[island].elites() if self._grids else []
        return [e for grid in self._grids for e in grid.elites()]

    def snapshot(self) -> dict[str, Any]:
        """The grid for the viewer.

        ``{"kind": "map_elites", "descriptors": [name, ...], "shape": [bins, ...], "axes":
        [{"name", "low", "high", "bins", "log", "edges"}, ...] | None (before the first correct
        program), "elites": [{"island", "cell", "program_id", "fitness", "descriptors"}, ...]
        (every island's), "islands": [{"island", "stats"}, ...], "stats": stats()}``.
        """
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
                {"island": i, "cell": list(cell), "program_id": p.id, "fitness": p.fitness,
                 "descriptors": self.descriptors_of(p)}
                for i in range(len(self._grids)) for cell, p in self.elites(i)
            ],
            "islands": [{"island": i, "stats": grid.stats()} for i, grid in enumerate(self._grids)],
            "stats": self.stats(),
        }

    def stats(self) -> dict[str, Any]:
        """cells, filled, coverage, qd_score, best_fitness (over all islands), told/correct/failed
        counts, and with islands the number of islands and of migrations so far."""
        cells = 1
        for b in self.grid_shape:
            cells *= b
        cells *= self.config.islands
        parts = [grid.stats() for grid in self._grids]
        filled = sum(p["filled"] for p in parts)
        best = [p["best_fitness"] for p in parts if p["best_fitness"] is not None]
        stats = {
            "cells": cells,
            "filled": filled,
            "coverage": filled / cells,
            "qd_score": sum(p["qd_score"] for p in parts),
            "best_fitness": max(best) if best else None,
        }
        stats.update({k: self._counts[k] for k in ("told", "correct", "failed")})
        if self.config.islands > 1:
            stats.update({"islands": self.config.islands, "migrations": self._migrations})
        return stats
