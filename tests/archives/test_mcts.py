"""MCTS over the lineage: widening, selection, backup of the best value, rebuild, golden trees.

The golden trees in tests/archives/golden/ were produced by `grow` below (a seeded fake
proposer and evaluator); a change to the search that changes them must be deliberate:
regenerate with EVOFORGE_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from archives.options import MCTSConfig, SearchConfig
from archives.mcts import MCTS, Node, Params, Tree, backup, select, uct, widening_limit
from archives.records import Program, Status

GOLDEN = Path(__file__).parent / "golden"


def config(**mcts) -> SearchConfig:
    return SearchConfig(strategy="mcts", mcts=MCTSConfig(**mcts))


def prog(pid, fitness, parent=None, status=Status.CORRECT) -> Program:
    return Program(id=pid, run_id="r", source=f"# {pid}\n", parent_id=parent, status=status,
                   fitness=fitness if status == Status.CORRECT else None)


def told(strategy: MCTS, *programs: Program) -> MCTS:
    for p in programs:
        strategy.tell(p)
    return strategy


def test_widening_lets_a_node_have_more_children_as_it_is_visited_more():
    p = Params(exploration=0.1, widening=1.0, widening_exponent=0.5)
    assert [widening_limit(n, p) for n in (1, 2, 4, 5, 9, 10, 100)] == [1, 2, 2, 3, 3, 4, 10]
    flat = Params(exploration=0.1, widening=2.0, widening_exponent=0.0)
    assert {widening_limit(n, flat) for n in (1, 10, 1000)} == {2}


def test_backup_counts_visits_and_keeps_the_best_value_below_each_node():
    s = told(MCTS(config(), random.Random(0)), prog("r", 1.0), prog("a", 0.5, "r"), prog("b", 3.0, "a"),
             prog("c", 2.0, "r"), prog("x", None, "b", status=Status.WRONG))
    nodes = s.tree.nodes
    assert (nodes["r"].visits, nodes["a"].visits, nodes["b"].visits, nodes["c"].visits) == (5, 3, 2, 1)
    # a is worse than its parent, but the best below it (3.0, found through it) is kept:
    assert nodes["a"].best == 3.0 and nodes["r"].best == 3.0 and nodes["c"].best == 2.0
    assert nodes["x"].terminal and nodes["x"].best is None and not nodes["b"].terminal
    assert s.best().id == "b"
    # q ranks the best below among the correct values seen: 0.5, 1.0, 2.0, 3.0
    assert s.tree.q(nodes["a"]) == 1.0 and s.tree.q(nodes["c"]) == 0.75 and s.tree.q(nodes["x"]) == 0.0


def test_backup_function_walks_to_the_root():
    tree = Tree(root="r")
    tree.nodes = {"r": Node(prog("r", 1.0), None, ["a"]), "a": Node(prog("a", 1.0), "r", ["b"]),
                  "b": Node(prog("b", 5.0, "a"), "a", best=5.0)}
    backup(tree, "b")
    assert (tree.nodes["r"].visits, tree.nodes["a"].visits, tree.nodes["r"].best) == (2, 2, 5.0)


def test_selection_descends_through_a_temporarily_worse_program_to_the_best_below_it():
    s = told(MCTS(config(widening=1.0, widening_exponent=0.0), random.Random(0)),
             prog("r", 2.0), prog("worse", 1.0, "r"), prog("best", 4.0, "worse"))
    path, why = select(s.tree, s._params, uct)
    assert path == ["r", "worse", "best"] and why == "widen"
    request = s.ask(1)[0]
    assert request.parent.id == "best" and request.extra["path"] == ["r", "worse", "best"]
    assert request.reason.startswith("mcts: path r > worse > best (depth 2); expand best")


def test_a_node_whose_children_all_failed_is_widened_and_failures_are_never_expanded():
    s = told(MCTS(config(widening=1.0, widening_exponent=0.0), random.Random(0)),
             prog("r", 1.0), prog("f", None, "r", status=Status.BUILD_FAILED))
    path, why = select(s.tree, s._params, uct)
    assert path == ["r"] and why == "all children failed"
    assert all(r.parent.id == "r" for r in s.ask(3))


def test_requests_in_flight_spread_concurrent_asks_and_are_released():
    s = told(MCTS(config(widening=2.0, widening_exponent=0.5), random.Random(0)),
             prog("r", 1.0), prog("a", 2.0, "r"), prog("b", 1.5, "r"))
    first, second = s.ask(2)
    assert first.parent.id != second.parent.id or s.tree.nodes[first.parent.id].pending == 2
    assert s.tree.nodes["r"].inflight == 2
    s.discard(first)
    s.tell(prog("c", 3.0, second.parent.id))
    assert all(n.pending == 0 and n.inflight == 0 for n in s.tree.nodes.values())


def test_rebuild_recreates_the_tree_and_the_next_asks():
    rng = random.Random(3)
    programs = [prog("p0", 0.0)]
    for i in range(1, 30):
        parent = rng.choice(programs).id
        status = Status.CORRECT if rng.random() > 0.2 else Status.WRONG
        programs.append(prog(f"p{i}", rng.random(), parent, status))
    live = told(MCTS(config(), random.Random(0)), *programs)
    rebuilt = MCTS(config(), random.Random(1))
    rebuilt.rebuild(programs)
    assert rebuilt.snapshot() == live.snapshot()
    assert [r.parent.id for r in rebuilt.ask(5)] == [r.parent.id for r in live.ask(5)]


def test_a_program_from_outside_the_tree_hangs_under_the_root_and_repeats_change_nothing():
    s = told(MCTS(config(), random.Random(0)), prog("r", 1.0), prog("stray", 2.0, "unknown"))
    assert s.tree.nodes["stray"].parent == "r"
    before = s.snapshot()
    assert s.tell(prog("stray", 2.5, "unknown")).status == "not_added"
    assert s.snapshot() == before


def test_snapshot_lists_every_node_with_visits_and_values():
    s = told(MCTS(config(), random.Random(0)), prog("r", 1.0), prog("a", 2.0, "r"))
    snap = s.snapshot()
    assert snap["kind"] == "mcts" and snap["root"] == "r" and snap["best"] == "a" and snap["told"] == 2
    assert snap["selection"] == "uct" and snap["params"] == {"exploration": 0.1, "widening": 2.0, "widening_exponent": 0.5}
    assert snap["nodes"][0] == {"id": "r", "parent": None, "visits": 2, "pending": 0, "inflight": 0, "best": 2.0,
                                "q": 1.0, "fitness": 1.0, "terminal": False, "children": ["a"]}


# ---- golden trees -------------------------------------------------------------------------------

def grow(strategy: MCTS, steps: int, seed: int = 7) -> dict:
    """A seeded fake proposer and evaluator: a child's fitness is its parent's plus a random step
    (sometimes a big drop that a later child can recover from); one child in eight fails."""
    rng = random.Random(seed)
    strategy.tell(prog("n00", 0.0))
    fitness = {"n00": 0.0}
    for step in range(1, steps + 1):
        request = strategy.ask(1)[0]
        parent = request.parent.id
        pid = f"n{step:02d}"
        if rng.random() < 0.125:
            strategy.tell(prog(pid, None, parent, Status.ERROR))
            continue
        drop = -2.0 if rng.random() < 0.2 else 0.0
        fitness[pid] = round(fitness[parent] + drop + rng.gauss(0.3, 1.0), 3)
        strategy.tell(prog(pid, fitness[pid], parent))
    return {n["id"]: [n["parent"], n["fitness"], n["visits"], n["best"], n["children"]] for n in strategy.snapshot()["nodes"]}


@pytest.mark.parametrize("selection", ["uct", "puct"])
def test_search_grows_the_same_tree_as_the_golden_one(selection):
    tree = grow(MCTS(config(selection=selection, exploration=0.1 if selection == "uct" else 0.5), random.Random(0)), 60)
    path = GOLDEN / f"mcts_{selection}.json"
    if os.environ.get("EVOFORGE_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(tree, indent=1) + "\n")
    assert tree == json.loads(path.read_text())
    # The search built on a program worse than its parent and found something better below it.
    detours = [i for i, (parent, fit, _, best, _) in tree.items()
               if parent and fit is not None and tree[parent][1] is not None and fit < tree[parent][1] < best]
    assert detours
