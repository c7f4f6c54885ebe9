"""The baselines: best_of_n always rewrites the initial program, greedy always the best one."""

from __future__ import annotations

import random

from archives.options import SearchConfig
from archives.baselines import BestOfN, Greedy
from archives.records import Program, Status
from archives.registry import make_strategy
from archives.strategy import Strategy


def prog(pid, fitness=None, parent="p0", status=Status.CORRECT) -> Program:
    return Program(id=pid, run_id="r", source=f"# {pid}\n", parent_id=parent, generation=0 if parent is None else 1,
                   status=status, fitness=fitness)


def told(strategy, *programs):
    for p in programs:
        strategy.tell(p)
    return strategy


def test_both_are_registered_strategies_and_ask_nothing_before_the_initial_program():
    for name, cls in (("best_of_n", BestOfN), ("greedy", Greedy)):
        s = make_strategy(SearchConfig(strategy=name), random.Random(0))
        assert isinstance(s, cls) and isinstance(s, Strategy) and s.name == name
        assert s.ask(3) == [] and s.best() is None


def test_best_of_n_always_rewrites_the_initial_program_even_when_children_are_better():
    s = told(BestOfN(SearchConfig(), random.Random(0)), prog("p0", 1.0, parent=None), prog("a", 5.0), prog("b", 9.0))
    requests = s.ask(4)
    assert [r.parent.id for r in requests] == ["p0"] * 4
    assert all(r.reason == "best_of_n: always the initial program" for r in requests)
    assert s.best().id == "b"


def test_greedy_rewrites_the_best_program_and_the_initial_one_until_something_is_correct():
    s = told(Greedy(SearchConfig(), random.Random(0)), prog("p0", None, parent=None, status=Status.BUILD_FAILED))
    assert s.ask(1)[0].parent.id == "p0" and "nothing correct yet" in s.ask(1)[0].reason
    told(s, prog("a", 2.0), prog("b", 7.0), prog("c", 7.0), prog("d", None, status=Status.WRONG))
    request = s.ask(1)[0]
    assert request.parent.id == "b"  # the earliest of the tied best
    assert request.reason == "greedy: the best program (fitness 7)"


def test_tell_reports_improvements_and_snapshot_names_initial_and_best():
    s = Greedy(SearchConfig(), random.Random(0))
    assert s.tell(prog("p0", 1.0, parent=None)).status == "added"
    improved = s.tell(prog("a", 3.0))
    assert improved.status == "improved" and improved.previous_fitness == 1.0
    assert s.tell(prog("b", 2.0)).status == "not_added"
    assert s.snapshot() == {
        "kind": "greedy", "initial": "p0", "best": {"program_id": "a", "fitness": 3.0}, "told": 3, "correct": 3,
    }


def test_rebuild_from_stored_programs_restores_the_same_choices():
    programs = [prog("p0", 1.0, parent=None), prog("a", 4.0), prog("b", None, status=Status.ERROR), prog("c", 3.0)]
    for cls in (BestOfN, Greedy):
        live = told(cls(SearchConfig(), random.Random(0)), *programs)
        rebuilt = cls(SearchConfig(), random.Random(1))
        rebuilt.rebuild(programs)
        assert rebuilt.snapshot() == live.snapshot()
        assert [r.parent.id for r in rebuilt.ask(2)] == [r.parent.id for r in live.ask(2)]
