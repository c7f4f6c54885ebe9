"""The elite grid and descriptor binning: insertion results, replacement, end bins, log bins."""

from __future__ import annotations

import pytest

from archives.options import DescriptorSpec
from archives.descriptors import (
    Axis,
    DescriptorError,
    count_lines,
    jaccard_distance,
    resolve_axis,
    tokens,
)
from archives.grid import GridArchive
from archives.records import Program, Status


def prog(pid: str, fitness: float | None, status: str = Status.CORRECT) -> Program:
    return Program(id=pid, run_id="r", source=f"# {pid}", status=status, fitness=fitness)


def grid() -> GridArchive:
    return GridArchive([Axis("x", 0.0, 10.0, 10), Axis("y", 0.0, 1.0, 4)])


def test_insertion_reports_new_cell_improved_and_not_added():
    g = grid()
    first = g.add(prog("a", 1.0), {"x": 2.5, "y": 0.1})
    assert (first.status, first.cell) == ("new_cell", (2, 0))
    better = g.add(prog("b", 2.0), {"x": 2.9, "y": 0.2})
    assert (better.status, better.cell, better.previous_fitness) == ("improved", (2, 0), 1.0)
    worse = g.add(prog("c", 0.5), {"x": 2.1, "y": 0.0})
    assert (worse.status, worse.previous_fitness) == ("not_added", 2.0)
    other = g.add(prog("d", 0.1), {"x": 7.0, "y": 0.9})
    assert (other.status, other.cell) == ("new_cell", (7, 3))
    assert len(g) == 2


def test_improvement_replaces_the_elite_and_a_tie_keeps_the_older_one():
    g = grid()
    g.add(prog("a", 1.0), {"x": 1, "y": 0})
    g.add(prog("b", 3.0), {"x": 1, "y": 0})
    assert g.elite_at((1, 0)).id == "b"
    assert g.add(prog("c", 3.0), {"x": 1, "y": 0}).status == "not_added"
    assert g.elite_at((1, 0)).id == "b"
    assert [p.id for _, p in g.elites()] == ["b"]


def test_out_of_range_values_fall_in_the_end_bins():
    g = grid()
    assert g.index_of({"x": -100.0, "y": 5.0}) == (0, 3)
    assert g.index_of({"x": 10.0, "y": 1.0}) == (9, 3)
    assert g.index_of({"x": float("inf"), "y": float("-inf")}) == (9, 0)


def test_log_bins_split_the_range_by_ratio():
    axis = Axis("lines", 1.0, 256.0, 8, log=True)
    assert [axis.index_of(v) for v in (1, 2, 3, 4, 16, 128, 255)] == [0, 1, 1, 2, 4, 7, 7]
    assert axis.index_of(0.0) == 0 and axis.index_of(-3.0) == 0 and axis.index_of(1e9) == 7
    assert axis.edges()[0] == pytest.approx(1.0) and axis.edges()[-1] == pytest.approx(256.0)


def test_nan_descriptor_is_an_error():
    with pytest.raises(DescriptorError, match="NaN"):
        grid().index_of({"x": float("nan"), "y": 0.0})


def test_only_correct_programs_enter_the_grid():
    with pytest.raises(ValueError):
        grid().add(prog("f", None, Status.WRONG), {"x": 1, "y": 0})


def test_bad_axes_are_refused_with_the_descriptor_named():
    with pytest.raises(DescriptorError, match="'x'"):
        Axis("x", 1.0, 1.0, 4)
    with pytest.raises(DescriptorError, match="log"):
        Axis("x", 0.0, 1.0, 4, log=True)
    with pytest.raises(DescriptorError, match="unique"):
        GridArchive([Axis("x", 0, 1, 2), Axis("x", 0, 1, 2)])


def test_stats_count_cells_and_qd_score_is_non_negative():
    g = grid()
    assert g.stats() == {"cells": 40, "filled": 0, "coverage": 0.0, "qd_score": 0.0, "best_fitness": None}
    g.add(prog("a", -2.0), {"x": 1, "y": 0})
    g.add(prog("b", 1.0), {"x": 5, "y": 0})
    stats = g.stats()
    assert stats["filled"] == 2 and stats["coverage"] == pytest.approx(2 / 40)
    assert stats["qd_score"] == pytest.approx(3.0)  # offset: the lowest fitness inserted, -2
    assert stats["best_fitness"] == 1.0 and g.best()[1].id == "b"


def test_count_lines_skips_blanks_and_comments_but_not_preprocessor_lines():
    source = "# comment\n\nx = 1  # trailing\n// c comment\n/* block\n still */\n#define N 4\n  y = 2\n"
    assert count_lines(source) == 3


def test_jaccard_distance_is_zero_for_equal_and_one_for_disjoint_sources():
    a = tokens("x = x + 1")
    assert jaccard_distance(a, tokens("x = x + 1")) == 0.0
    assert jaccard_distance(a, tokens("foo bar")) == 1.0
    assert 0.0 < jaccard_distance(a, tokens("x = x + 2")) < 1.0


def test_unbounded_descriptors_take_bounds_from_the_first_value():
    assert resolve_axis(DescriptorSpec(name="t", log=True), 8.0) == Axis("t", 2.0, 32.0, 8, True)
    assert resolve_axis(DescriptorSpec(name="t"), -3.0) == Axis("t", -6.0, 0.0, 8, False)
    assert resolve_axis(DescriptorSpec(name="t"), 0.0) == Axis("t", -1.0, 1.0, 8, False)
    assert resolve_axis(DescriptorSpec(name="t", low=10.0), 3.0).low == 10.0
    assert resolve_axis(DescriptorSpec(name="diversity", bins=5), 0.3) == Axis("diversity", 0.0, 1.0, 5)
    with pytest.raises(DescriptorError, match="log-scaled"):
        resolve_axis(DescriptorSpec(name="t", log=True), 0.0)
