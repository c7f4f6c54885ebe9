"""Priority queue with an epsilon-net: admission, bounds, repeats, parents, rebuild, snapshot."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest

from archives.options import PQConfig, SearchConfig
from archives.pq import PriorityQueue
from archives.records import Program, Status
from archives.repeats import FITNESS_EVALS, FITNESS_SD, combine

BASE = "\n".join(f"v{i} = {i} * w + {i % 5}" for i in range(30)) + "\n"


def config(**pq) -> SearchConfig:
    """These tests are about the queue over code distance (tests/archives/test_pq_diversity.py
    covers behaviour and constants distance)."""
    return SearchConfig(strategy="pq", pq=PQConfig(**{"distance": "code", **pq}))


def prog(pid, fitness, source=None, parent="p0", status=Status.CORRECT, **kw) -> Program:
    return Program(id=pid, run_id="r", source=source if source is not None else BASE, parent_id=parent,
                   generation=0 if parent is None else 1, status=status, fitness=fitness, **kw)


def far(k: int) -> str:
    """A program that shares nothing with BASE or with far(j) for j != k."""
    return "\n".join(f"u{k}_{i} = {k * 100 + i} - q" for i in range(20)) + "\n"


def near(k: int) -> str:
    """BASE with one line changed: distance to BASE about 0.08 (over three shingles of ~95)."""
    return BASE.replace("v7 = 7 * w + 2", f"v7 = {70 + k} * w + 2")


def repeated(program: Program, *values: float) -> Program:
    """`program` after repeat evaluations with these fitness values."""
    for v in values:
        out = combine(program, Status.CORRECT, v, None)
        program = replace(program, fitness=out.fitness, metrics=out.metrics, status=out.status)
    return program


def test_a_program_far_from_every_member_joins_and_a_near_one_must_beat_its_neighbour():
    s = PriorityQueue(config(epsilon=0.2), random.Random(0))
    assert s.tell(prog("p0", 1.0, parent=None)).status == "added"
    assert s.tell(prog("a", 0.5, far(1))).status == "added"
    d = s.distance(prog("x", 0, near(1)), prog("y", 0, BASE))
    assert 0 < d <= 0.2
    worse = s.tell(prog("b", 0.9, near(1)))
    assert worse.status == "not_added" and worse.previous_fitness == 1.0
    better = s.tell(prog("c", 1.5, near(2)))
    assert better.status == "improved" and better.previous_fitness == 1.0
    assert [m.program.id for m in s.members()] == ["c", "a"]  # c replaced p0; highest mean first
    assert s.snapshot()["stats"] | {} == {"told": 4, "added": 2, "replaced": 1, "rejected": 1, "evicted": 0,
                                          "explored": 0, "repeats": 0, "repeats_asked": 0}


def test_capacity_evicts_the_lowest_mean_even_a_newcomer():
    s = PriorityQueue(config(capacity=2, epsilon=0.1, eviction="fitness"), random.Random(0))
    s.tell(prog("p0", 1.0, parent=None))
    s.tell(prog("a", 3.0, far(1)))
    assert s.tell(prog("b", 2.0, far(2))).status == "added"
    assert {m.program.id for m in s.members()} == {"a", "b"}
    assert s.tell(prog("c", 0.5, far(3))).status == "not_added"
    assert s.snapshot()["stats"]["evicted"] == 2


def test_descriptor_distance_scales_each_descriptor_by_its_observed_range():
    s = PriorityQueue(config(distance="descriptors", epsilon=0.3), random.Random(0))
    s.tell(prog("p0", 1.0, parent=None, descriptors={"x": 0.0, "y": 0.0}))
    assert s.tell(prog("a", 0.5, BASE + "# a\n", descriptors={"x": 10.0, "y": 100.0})).status == "added"
    # x differs by 1 of 10, y by 5 of 100: distance sqrt((0.1² + 0.05²) / 2) < 0.3
    b = prog("b", 0.7, BASE + "# b\n", descriptors={"x": 9.0, "y": 95.0})
    assert s.distance(b, prog("a", 0, descriptors={"x": 10.0, "y": 100.0})) == pytest.approx(math.sqrt((0.01 + 0.0025) / 2))
    assert s.tell(b).status == "improved"


def test_bounds_use_the_pooled_noise_of_repeated_programs():
    s = PriorityQueue(config(confidence=2.0), random.Random(0))
    s.tell(prog("p0", 1.0, parent=None))
    assert s.noise() is None and s.members()[0].lower == s.members()[0].upper == 1.0
    s.tell(repeated(prog("p0", 1.0, parent=None), 3.0))  # samples 1, 3: sd sqrt(2)
    s.tell(prog("a", 2.5, far(1)))
    assert s.noise() == pytest.approx(math.sqrt(2))
    by_id = {m.program.id: m for m in s.members()}
    assert by_id["p0"].stats.n == 2 and by_id["p0"].stats.mean == 2.0
    assert by_id["p0"].lower == pytest.approx(2.0 - 2 * math.sqrt(2) / math.sqrt(2))
    assert by_id["a"].upper == pytest.approx(2.5 + 2 * math.sqrt(2))
    assert [m.program.id for m in s.members()] == ["a", "p0"]  # the queue is ordered by mean
    # best() trusts the lower bound: a's single 2.5 (lower -0.33) is not yet above p0's 2 - 2 = 0.
    assert s.best().id == "p0"
    s.tell(repeated(prog("a", 2.5, far(1)), 2.7, 2.3))  # pooled sd now ~0.83: a's lower 1.54 > 0.82
    assert s.best().id == "a"


def test_deterministic_evaluations_are_probed_once_and_then_never_repeated():
    s = PriorityQueue(config(reevaluate_share=1.0), random.Random(0))
    s.tell(prog("p0", 1.0, parent=None))
    probe = s.ask(1)[0]
    assert probe.reevaluate and probe.parent.id == "p0" and "probe whether evaluations are noisy" in probe.reason
    assert not any(r.reevaluate for r in s.ask(3))  # the probe is in flight: no second one
    s.tell(repeated(prog("p0", 1.0, parent=None), 1.0))
    assert s.noise() == 0.0
    s.tell(prog("a", 2.0, far(1)))
    assert not any(r.reevaluate for r in s.ask(20))


def test_a_noisy_leader_is_repeated_until_it_is_clearly_ahead_or_has_its_evaluations():
    s = PriorityQueue(config(reevaluate_share=1.0, max_evaluations=3), random.Random(0))
    s.tell(repeated(prog("p0", 1.0, parent=None), 1.4))  # noise known: sd ~0.28
    s.tell(prog("a", 1.3, far(1)))  # the new leader by mean, n = 1
    request = s.ask(1)[0]
    assert request.reevaluate and request.parent.id == "a" and "lead is not yet certain" in request.reason
    s.tell(repeated(prog("a", 1.3, far(1)), 1.5))
    assert s.ask(1)[0].reevaluate  # 1.4 ± 0.2 still overlaps p0's 1.2 ± 0.2
    s.tell(repeated(prog("a", 1.3, far(1)), 1.5, 1.4))
    assert not any(r.reevaluate for r in s.ask(5))  # a has max_evaluations
    s.tell(prog("b", 9.0, far(2)))  # far ahead of everything: no doubt about the leader
    assert not any(r.reevaluate for r in s.ask(5))


def test_repeats_take_at_most_their_share_of_the_evaluations():
    s = PriorityQueue(config(reevaluate_share=0.1, max_evaluations=50), random.Random(0))
    s.tell(repeated(prog("p0", 1.0, parent=None), 2.0))
    for i in range(1, 30):
        s.tell(prog(f"c{i}", 1.0 + i / 100, far(i)))
    repeats = sum(r.reevaluate for r in s.ask(40))
    assert 1 <= repeats <= 0.1 * (31 + 40) + 1


def test_a_repeat_that_fails_removes_the_program_and_discard_releases_the_request():
    s = PriorityQueue(config(reevaluate_share=1.0), random.Random(0))
    s.tell(prog("p0", 1.0, parent=None))
    s.tell(prog("a", 2.0, far(1)))
    failed = combine(prog("a", 2.0, far(1)), Status.WRONG, None, "bad output")
    assert failed.status == Status.WRONG and "attempt 2 failed" in failed.error
    s.tell(replace(prog("a", 2.0, far(1)), status=failed.status, fitness=None, metrics=failed.metrics))
    assert [m.program.id for m in s.members()] == ["p0"] and s.best().id == "p0"
    request = s.ask(1)[0]
    assert s.snapshot()["members"][0]["pending"] == 1
    s.discard(request)
    assert s.snapshot()["members"][0]["pending"] == 0


def picks(s: PriorityQueue, n: int) -> list[str]:
    """Parents of `n` asks, each released again (so pending requests do not pile up)."""
    out = []
    for _ in range(n):
        request = s.ask(1)[0]
        s.discard(request)
        out.append(request.parent.id)
    return out


def test_parents_come_from_the_best_members_and_barren_ones_fade():
    s = PriorityQueue(config(climb_pool=3, reevaluate_share=0.0, explore_share=0.0), random.Random(0))
    s.tell(prog("p0", 0.0, parent=None))
    for i, f in enumerate([5.0, 4.0, 3.0, 2.0], start=1):
        s.tell(prog(f"m{i}", f, far(i)))
    parents = picks(s, 300)
    assert set(parents) == {"m1", "m2", "m3"}
    assert parents.count("m1") > parents.count("m2") > parents.count("m3")
    assert s.ask(1)[0].reason.startswith("pq: rank ")
    fresh = PriorityQueue(config(climb_pool=3, reevaluate_share=0.0, explore_share=0.0), random.Random(0))
    fresh.tell(prog("p0", 0.0, parent=None))
    for i, f in enumerate([5.0, 4.0, 3.0, 2.0], start=1):
        fresh.tell(prog(f"m{i}", f, far(i)))
    for k in range(8):  # m1's children all fail
        fresh.tell(prog(f"f{k}", None, far(50 + k), parent="m1", status=Status.WRONG))
    tired = picks(fresh, 300)
    assert tired.count("m1") < tired.count("m2")


def test_rebuild_from_stored_programs_gives_the_same_queue():
    programs = [prog("p0", 1.0, parent=None), prog("a", 2.0, far(1)), prog("b", 0.5, near(1)),
                prog("c", None, far(2), status=Status.ERROR), prog("d", 3.0, near(2))]
    live = PriorityQueue(config(epsilon=0.2), random.Random(0))
    for p in programs:
        live.tell(p)
    live.tell(repeated(programs[1], 2.4))  # a repeat: stored as one program with two attempts
    stored = programs[:1] + programs[2:] + [repeated(programs[1], 2.4)]  # evaluation order
    rebuilt = PriorityQueue(config(epsilon=0.2), random.Random(0))
    rebuilt.rebuild(stored)
    strip = lambda snap: {k: v for k, v in snap.items() if k != "stats"}  # noqa: E731
    assert strip(rebuilt.snapshot()) == strip(live.snapshot())
    assert rebuilt.snapshot()["stats"]["repeats"] == live.snapshot()["stats"]["repeats"] == 1
    assert rebuilt.best().id == live.best().id == "d"


def test_snapshot_lists_the_queue_with_means_and_bounds():
    s = PriorityQueue(config(), random.Random(0))
    s.tell(repeated(prog("p0", 1.0, parent=None), 2.0))
    snap = s.snapshot()
    assert snap["kind"] == "pq" and snap["distance"] == "code"
    assert snap["epsilon_rule"] == "auto" and snap["epsilon"] == 0.0  # auto: 0 until the memory is full
    member = snap["members"][0]
    assert member["program_id"] == "p0" and member["n"] == 2 and member["mean"] == 1.5
    assert member["lower"] < 1.5 < member["upper"] and snap["noise_sd"] == pytest.approx(math.sqrt(0.5))
    assert snap["best"] == "p0"
    stats = repeated(prog("p0", 1.0, parent=None), 2.0).metrics
    assert stats[FITNESS_EVALS] == 2 and stats[FITNESS_SD] == pytest.approx(math.sqrt(0.5))
