"""The priority queue's diversity (issue 13): behaviour distance, adaptive epsilon, crowding
eviction, exploration once the search stagnates, and the constants fallback."""

from __future__ import annotations

import random

import pytest

from archives.options import PQConfig, SearchConfig
from archives.constants import constants
from archives.pq import PriorityQueue
from archives.records import Program, Status
from tests.archives.test_pq import picks


def config(**pq) -> SearchConfig:
    return SearchConfig(strategy="pq", pq=PQConfig(**pq))


def prog(pid, fitness, source=None, parent="p0", status=Status.CORRECT, **kw) -> Program:
    return Program(id=pid, run_id="r", source=source if source is not None else f"v = {pid!r}\n",
                   parent_id=parent, generation=0 if parent is None else 1, status=status,
                   fitness=fitness, **kw)


def at(pid, fitness, x, y=0.0, parent="p0") -> Program:
    """A program whose evaluator reported the behaviour (x, y) beside its score."""
    return prog(pid, fitness, parent=parent, metrics={"x": x, "y": y, "combined_score": fitness})


def test_auto_distance_is_over_reported_metrics_without_the_score():
    s = PriorityQueue(config(), random.Random(0))
    s.tell(at("p0", 1.0, 0.0, parent=None))
    s.tell(at("a", 5.0, 10.0, 10.0))
    # the same behaviour, another score and other code: distance 0 (the score is not behaviour)
    assert s.distance(at("b", -3.0, 10.0, 10.0), at("a", 5.0, 10.0, 10.0)) == 0.0
    assert s.distance(at("c", 1.0, 5.0, 0.0), at("p0", 1.0, 0.0)) == pytest.approx((0.25 / 2) ** 0.5)
    assert s.snapshot()["distance"] == "behaviour"


def test_without_metrics_auto_distance_is_over_the_programs_constants_then_code():
    s = PriorityQueue(config(), random.Random(0))
    s.tell(prog("p0", 1.0, "lr = 0.0\n", parent=None))
    s.tell(prog("a", 1.0, "lr = 1.0\n"))
    assert s.distance(prog("b", 0, "lr = 0.5\n"), prog("p0", 1, "lr = 0.0\n")) == pytest.approx(0.5)
    assert s.snapshot()["distance"] == "constants"
    plain = PriorityQueue(config(), random.Random(0))
    assert plain.distance(prog("x", 0, "a = b\n"), prog("y", 1, "a = c\n")) > 0  # no constants: code
    code = PriorityQueue(config(distance="code"), random.Random(0))
    code.tell(prog("p0", 1.0, "lr = 0.0\n", parent=None))
    assert code.snapshot()["distance"] == "code"


def test_without_metrics_programs_with_the_very_same_score_are_one_behaviour():
    s = PriorityQueue(config(capacity=2), random.Random(0))
    s.tell(prog("p0", 0.8, "x = 0.0\n", parent=None))
    s.tell(prog("a", 0.8, "x = -3.0\n"))  # far in constants, the same score: a twin of p0
    assert s.distance(prog("a", 0.8, "x = -3.0\n"), prog("p0", 0.8, "x = 0.0\n")) == 0.0
    assert s.distance(prog("b", 0.7, "x = 0.5\n"), prog("p0", 0.8, "x = 0.0\n")) > 0
    s.tell(prog("b", 0.7, "x = 0.5\n"))
    assert {m.program.id for m in s.members()} == {"p0", "b"}  # a was a twin, not a new member
    metrics = PriorityQueue(config(), random.Random(0))  # reported behaviour decides, not the score
    metrics.tell(at("p0", 1.0, 0.0, parent=None))
    metrics.tell(at("a", 1.0, 10.0))
    assert metrics.distance(at("a", 1.0, 10.0), at("p0", 1.0, 0.0)) > 0


def test_auto_epsilon_is_zero_until_the_memory_is_full_then_the_closest_pair_distance():
    s = PriorityQueue(config(capacity=3), random.Random(0))
    s.tell(at("p0", 1.0, 0.0, parent=None))
    s.tell(at("a", 1.0, 10.0))
    assert s.epsilon() == 0.0 and s.snapshot()["epsilon_rule"] == "auto"
    s.tell(at("b", 1.0, 2.0))
    # full: the closest pair is p0 and b, 2 of a range of 10 on x, 0 on y: sqrt(0.04 / 2)
    assert s.epsilon() == pytest.approx((0.04 / 2) ** 0.5) == s.snapshot()["epsilon"]
    # a program within epsilon of b competes with b instead of joining
    assert s.tell(at("c", 2.0, 2.5)).status == "improved"
    assert {m.program.id for m in s.members()} == {"p0", "a", "c"}


def test_crowding_eviction_keeps_a_worse_but_distant_member_fitness_eviction_does_not():
    programs = [at("p0", 1.0, 0.0, parent=None), at("far", 0.5, 10.0), at("b", 2.0, 1.0), at("c", 3.0, 2.0)]
    crowding = PriorityQueue(config(capacity=3, epsilon=0.01), random.Random(0))
    fitness = PriorityQueue(config(capacity=3, epsilon=0.01, eviction="fitness"), random.Random(0))
    for p in programs:
        crowding.tell(p)
        fitness.tell(p)
    # crowding: the closest pair is (p0, b) or (b, c), each 1 apart; the worse of p0 and b leaves
    assert {m.program.id for m in crowding.members()} == {"far", "b", "c"}
    assert {m.program.id for m in fitness.members()} == {"p0", "b", "c"}


def test_exploration_starts_only_after_patience_and_then_reaches_every_member():
    s = PriorityQueue(config(pool=1, explore_share=0.5, explore_patience=5, reevaluate_share=0.0),
                      random.Random(0))
    s.tell(at("p0", 0.0, 0.0, parent=None))
    for i in range(1, 5):
        s.tell(at(f"m{i}", float(i), float(i)))  # every one a clear improvement
    assert not s.exploring() and set(picks(s, 100)) == {"m4"}
    for i in range(5):
        s.tell(prog(f"f{i}", None, parent="m4", status=Status.WRONG))  # five evaluations, no progress
    assert s.stagnation() == 5 and s.exploring() and s.snapshot()["exploring"]
    picked = picks(s, 400)
    assert set(picked) == {"p0", "m1", "m2", "m3", "m4"}
    assert any(r.reason.startswith("pq: explore:") for r in s.ask(20))


def test_stagnation_ignores_rises_below_a_hundredth_of_the_spread():
    s = PriorityQueue(config(explore_patience=3), random.Random(0))
    s.tell(at("p0", 0.0, 0.0, parent=None))
    s.tell(at("a", 10.0, 5.0))
    before = s.stagnation()
    s.tell(at("b", 10.05, 9.0))  # up by 0.05 of a spread of 10: not a clear rise
    assert s.stagnation() == before + 1
    s.tell(at("c", 11.0, 3.0))
    assert s.stagnation() == 0


def test_rebuild_recreates_the_adaptive_memory_and_the_stagnation():
    rng = random.Random(4)
    programs = [at("p0", 0.0, 0.0, parent=None)]
    programs += [at(f"c{i}", rng.random(), rng.random() * 10, rng.random()) for i in range(40)]
    live = PriorityQueue(config(capacity=8), random.Random(0))
    for p in programs:
        live.tell(p)
    rebuilt = PriorityQueue(config(capacity=8), random.Random(0))
    rebuilt.rebuild(programs)
    assert rebuilt.snapshot() == live.snapshot()


def test_constants_key_each_literal_by_what_precedes_it_on_its_line():
    assert constants("lr = 0.01  # 5\nx[3] += -1.25\nx[3] += 0.25\ny = a-1\ns = '7'\n") == {
        "lr=": 0.01, "x[3]+=": -1.0, "y=a-": 1.0,
    }
    assert constants("no numbers here\n") == {}

