"""The elite grid: one best program per cell of a descriptor grid, and nothing else.

Pure storage in the pyribs sense: `add` places a correct program in the cell its descriptors
fall into and reports what happened (`new_cell`, `improved`, or `not_added`); choosing parents
is the strategy's business (archives/map_elites.py). A program replaces the elite of its cell
only when its fitness is strictly higher, so on ties the older elite stays.

QD score is the sum over elites of ``fitness - offset``. The offset is the lowest fitness ever
inserted into the grid (so every term is non-negative), unless one is given.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from archives.descriptors import Axis, DescriptorError
from archives.records import Insertion, Program

Cell = tuple[int, ...]


class GridArchive:
    """Elites by cell over `axes`; cells are tuples of bin indices, one per axis."""

    def __init__(self, axes: Sequence[Axis], qd_offset: float | None = None) -> None:
        if not axes:
            raise DescriptorError("a grid needs at least one descriptor axis")
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            raise DescriptorError(f"descriptor names must be unique, got {names}")
        self.axes: tuple[Axis, ...] = tuple(axes)
        self.qd_offset = qd_offset
        self._elites: dict[Cell, Program] = {}
        self._lowest: float | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.bins for a in self.axes)

    @property
    def descriptor_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def cells(self) -> int:
        """Number of cells in the grid."""
        return math.prod(self.shape)

    def __len__(self) -> int:
        return len(self._elites)

    def index_of(self, descriptors: Mapping[str, float]) -> Cell:
        """The cell of a program with these descriptor values (keyed by axis name)."""
        missing = [a.name for a in self.axes if a.name not in descriptors]
        if missing:
            raise DescriptorError(f"descriptor values missing for {missing}")
        return tuple(a.index_of(float(descriptors[a.name])) for a in self.axes)

    def add(self, program: Program, descriptors: Mapping[str, float]) -> Insertion:
        """Insert a correct program; say whether it filled a new cell, improved one, or neither."""
        if not program.is_correct:
            raise ValueError(f"only correct programs with a fitness enter the grid (got {program.status})")
        fitness = float(program.fitness)  # type: ignore[arg-type]
        cell = self.index_of(descriptors)
        self._lowest = fitness if self._lowest is None else min(self._lowest, fitness)
        elite = self._elites.get(cell)
        if elite is None:
            self._elites[cell] = program
            return Insertion("new_cell", cell=cell)
        if fitness > elite.fitness:  # type: ignore[operator]
            self._elites[cell] = program
            return Insertion("improved", cell=cell, previous_fitness=elite.fitness)
        return Insertion("not_added", cell=cell, previous_fitness=elite.fitness)

    def elite_at(self, cell: Cell) -> Program | None:
        return self._elites.get(tuple(cell))

    def elites(self) -> list[tuple[Cell, Program]]:
        """All elites, ordered by cell."""
        return sorted(self._elites.items())

    def best(self) -> tuple[Cell, Program] | None:
        """The fittest elite (the lowest cell on ties)."""
        if not self._elites:
            return None
        return max(self.elites(), key=lambda e: (e[1].fitness, [-i for i in e[0]]))

    def qd_score(self) -> float:
        if not self._elites:
            return 0.0
        offset = self.qd_offset if self.qd_offset is not None else self._lowest
        return sum(max(0.0, p.fitness - offset) for p in self._elites.values())  # type: ignore[operator]

    def stats(self) -> dict[str, Any]:
        best = self.best()
        return {
            "cells": self.cells,
            "filled": len(self),
            "coverage": len(self) / self.cells,
            "qd_score": self.qd_score(),
            "best_fitness": best[1].fitness if best else None,
        }
