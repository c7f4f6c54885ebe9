"""MAP-Elites ask/tell: fallback, selection, inspirations, failures, rebuild, reproducibility."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from archives.options import DescriptorSpec, MapElitesConfig, SearchConfig
from archives.descriptors import DescriptorError
from archives.map_elites import MapElites
from archives.records import Program, Status
from archives.registry import STRATEGIES, StrategyError, make_strategy
from archives.strategy import Strategy

INITIAL = "def solve(x):\n    return x\n"


def config(**map_elites) -> SearchConfig:
    return SearchConfig(map_elites=MapElitesConfig(**map_elites))


def x_config(**kw) -> SearchConfig:
    """One evaluator descriptor "x" over [0, 10) in 10 bins."""
    return config(descriptors=[DescriptorSpec(name="x", low=0, high=10, bins=10)], **kw)


def prog(pid, fitness=None, x=0.0, status=Status.CORRECT, parent=None, gen=1, source=None) -> Program:
    return Program(
        id=pid, run_id="r", source=source or f"# {pid}\n", parent_id=parent, generation=gen,
        status=status, fitness=fitness, descriptors={"x": x},
    )


def ten_elites(strategy: MapElites) -> None:
    """Elites e0..e9 in cells 0..9, fitness equal to their index (e9 is the best)."""
    strategy.tell(prog("e0", 0.0, 0.5, gen=0, source=INITIAL))
    for i in range(1, 10):
        strategy.tell(prog(f"e{i}", float(i), i + 0.5, parent="e0"))


def parents_over_seeds(cfg: SearchConfig, seeds=range(400)) -> Counter:
    counts: Counter = Counter()
    for seed in seeds:
        s = MapElites(cfg, random.Random(seed))
        ten_elites(s)
        counts[s.ask(1)[0].parent.id] += 1
    return counts


# ---- a fake run: a "program" is lines; fitness counts the "good" ones ---------------------------

def mutate(parent: Program, rng: random.Random, n: int) -> str:
    word = "good" if rng.random() < 0.5 else "bad"
    return parent.source + f"v{n} = {word}_{rng.randrange(100)}\n"


def evaluate(pid: str, source: str, parent: Program, rng: random.Random) -> Program:
    base = dict(id=pid, run_id="r", source=source, parent_id=parent.id, generation=parent.generation + 1)
    if rng.random() < 0.1:
        return Program(**base, status=Status.ERROR, error="crashed")
    return Program(**base, status=Status.CORRECT, fitness=float(source.count("good")))


def simulate(strategy: MapElites, steps: int, seed: int = 0):
    """Ask one request at a time, evaluate it with the fake evaluator, tell it back."""
    rng = random.Random(seed)
    initial = Program(id="p0", run_id="r", source=INITIAL, status=Status.CORRECT, fitness=0.0)
    told, requests = [initial], []
    strategy.tell(initial)
    for step in range(1, steps + 1):
        request = strategy.ask(1)[0]
        child = evaluate(f"p{step}", mutate(request.parent, rng, step), request.parent, rng)
        strategy.tell(child)
        told.append(child)
        requests.append(request)
    return told, requests


def summary(requests):
    return [(r.parent.id, r.reason, r.mode, tuple(p.id for p in r.inspirations)) for r in requests]


# ---- tests --------------------------------------------------------------------------------------

def test_ask_before_anything_told_is_empty_and_before_anything_correct_returns_the_initial_program():
    s = MapElites(config(), random.Random(0))
    assert s.ask(2) == []
    s.tell(Program(id="p0", run_id="r", source=INITIAL, status=Status.BUILD_FAILED, error="syntax"))
    requests = s.ask(3)
    assert len(requests) == 3
    assert all(r.parent.id == "p0" and "initial program" in r.reason for r in requests)
    assert all(r.inspirations == () for r in requests)
    assert s.best() is None


def test_exploitation_picks_the_best_most_often():
    counts = parents_over_seeds(x_config(exploit_ratio=1.0, elite_pool=5))
    assert counts.most_common(1)[0][0] == "e9"
    assert counts["e9"] > 0.3 * 400
    assert set(counts) <= {"e9", "e8", "e7", "e6", "e5"}  # only the pool of the five fittest


def test_exploration_covers_cells_outside_the_elite_pool():
    counts = parents_over_seeds(x_config(exploit_ratio=0.0, elite_pool=2))
    assert len(counts) == 10
    assert all(c > 15 for c in counts.values())  # roughly uniform: 40 expected each


def test_reasons_and_modes_say_what_was_chosen():
    s = MapElites(x_config(), random.Random(3))
    ten_elites(s)
    requests = s.ask(200)
    assert any(r.reason.startswith("exploit: top-1 elite (fitness 9") for r in requests)
    assert any(r.reason.startswith("explore: cell (") for r in requests)
    modes = Counter(r.mode for r in requests)
    assert set(modes) == {"diff", "full"} and modes["diff"] > modes["full"]
    assert all(r.extra["cell"] == s.index_of(r.parent.descriptors) for r in requests)


def test_inspirations_exclude_the_parent_and_start_with_the_best_other_elite():
    s = MapElites(x_config(inspirations=3), random.Random(1))
    ten_elites(s)
    for r in s.ask(100):
        ids = [p.id for p in r.inspirations]
        assert len(ids) == 3 and len(set(ids)) == 3
        assert r.parent.id not in ids
        assert ids[0] == ("e8" if r.parent.id == "e9" else "e9")


def test_failed_programs_do_not_enter_the_grid_and_wear_down_their_parent():
    counts: Counter = Counter()
    for seed in range(200):
        s = MapElites(x_config(exploit_ratio=1.0, elite_pool=2), random.Random(seed))
        s.tell(prog("a", 1.0, 1.0, gen=0))
        s.tell(prog("b", 2.0, 2.0, parent="a"))
        before = s.elites()
        for i in range(6):
            result = s.tell(prog(f"f{i}", None, 7.0, status=Status.WRONG, parent="b"))
            assert result.status == "not_added"
        assert s.elites() == before and s.stats()["failed"] == 6
        counts[s.ask(1)[0].parent.id] += 1
    assert counts["a"] > counts["b"]  # b's failing children make a, ranked second, the favourite


def test_the_best_elite_becomes_a_parent_over_time():
    s = MapElites(config(), random.Random(0))  # built-in descriptors: lines, diversity
    told, requests = simulate(s, 150)
    late = requests[50:]
    assert sum(r.parent.id == "p0" for r in late) < 0.15 * len(late)
    assert s.best().generation >= 8 and s.best().fitness >= 8
    best_parents = [r for r in late if r.reason.startswith("exploit: top-1")]
    assert best_parents and all(r.parent.generation > 0 for r in best_parents)
    stats = s.stats()
    assert stats["filled"] > 3 and stats["best_fitness"] == s.best().fitness
    assert s.descriptor_names == ("lines", "diversity") and s.grid_shape == (8, 8)


def test_rebuild_gives_an_identical_grid_and_identical_asks_with_the_same_seed():
    original = MapElites(config(), random.Random(0))
    told, _ = simulate(original, 80)
    rebuilt = MapElites(config(), random.Random(5))
    rebuilt.rebuild(told)
    assert rebuilt.elites() == original.elites()
    assert rebuilt.best() == original.best() and rebuilt.stats() == original.stats()
    fresh = MapElites(config(), random.Random(5))
    for program in told:
        fresh.tell(program)
    assert summary(rebuilt.ask(20)) == summary(fresh.ask(20))
    original.rebuild(told)  # rebuilding a used strategy starts from scratch
    assert original.elites() == rebuilt.elites() and original.stats() == rebuilt.stats()


def test_runs_are_reproducible_with_a_fixed_seed():
    runs = [simulate(MapElites(config(), random.Random(7)), 60, seed=1) for _ in range(2)]
    assert summary(runs[0][1]) == summary(runs[1][1])
    other = simulate(MapElites(config(), random.Random(8)), 60, seed=1)
    assert summary(other[1]) != summary(runs[0][1])


def test_unbounded_evaluator_descriptor_takes_bounds_from_the_first_correct_program():
    s = MapElites(config(descriptors=[DescriptorSpec(name="t", bins=4)]), random.Random(0))
    s.tell(Program(id="a", run_id="r", source="a", status=Status.CORRECT, fitness=1.0, metrics={"t": 5.0}))
    assert (s.axes[0].low, s.axes[0].high) == (0.0, 10.0)
    assert s.index_of({"t": 9.9}) == (3,) and s.index_of({"t": 100.0}) == (3,)


def test_a_descriptor_the_evaluator_does_not_report_is_a_clear_error():
    s = MapElites(config(descriptors=[DescriptorSpec(name="speed", low=0, high=1)]), random.Random(0))
    with pytest.raises(DescriptorError, match="'speed' is not reported"):
        s.tell(prog("a", 1.0, gen=0))
    with pytest.raises(DescriptorError, match="log"):
        MapElites(config(descriptors=[DescriptorSpec(name="s", low=0, high=1, log=True)]), random.Random(0))


# ---- registry -----------------------------------------------------------------------------------

class _Plugin:
    name = "plugin"

    def __init__(self, config, rng):
        self.config, self.rng = config, rng

    def ask(self, n):
        return []

    def tell(self, program):
        ...

    def rebuild(self, programs):
        ...

    def best(self):
        return None


class _NotAStrategy:
    def __init__(self, config, rng):
        pass


def test_registry_builds_map_elites_by_name():
    strategy = make_strategy(SearchConfig(strategy="map_elites"), random.Random(0))
    assert isinstance(strategy, MapElites) and isinstance(strategy, Strategy)
    assert "map_elites" in STRATEGIES


def test_registry_builds_a_plugin_by_dotted_path():
    rng = random.Random(0)
    strategy = make_strategy(SearchConfig(strategy=f"{__name__}:_Plugin"), rng)
    assert isinstance(strategy, _Plugin) and strategy.rng is rng


def test_registry_unknown_name_lists_the_known_ones():
    with pytest.raises(StrategyError, match="unknown strategy 'nope'.*map_elites"):
        make_strategy(SearchConfig(strategy="nope"), random.Random(0))
    with pytest.raises(StrategyError, match="cannot import"):
        make_strategy(SearchConfig(strategy="no_such_module_xyz:Thing"), random.Random(0))
    with pytest.raises(StrategyError, match="has no"):
        make_strategy(SearchConfig(strategy=f"{__name__}:Missing"), random.Random(0))
    with pytest.raises(StrategyError, match=r"\(config, rng\)"):
        make_strategy(SearchConfig(strategy="random:Random"), random.Random(0))
    with pytest.raises(StrategyError, match="protocol"):
        make_strategy(SearchConfig(strategy=f"{__name__}:_NotAStrategy"), random.Random(0))


# ---- islands ------------------------------------------------------------------------------------

def island_prog(pid, fitness, x, island, parent="e0", gen=1) -> Program:
    return Program(id=pid, run_id="r", source=f"# {pid}\n", parent_id=parent, generation=gen,
                   status=Status.CORRECT, fitness=fitness, descriptors={"x": x}, island=island)


def test_islands_keep_separate_grids_seeded_with_the_initial_program():
    s = MapElites(x_config(islands=3, migration_interval=100), random.Random(0))
    s.tell(island_prog("e0", 0.0, 0.5, 0, parent=None, gen=0))
    assert [len(s.elites(i)) for i in range(3)] == [1, 1, 1]
    s.tell(island_prog("a", 5.0, 5.5, 1))
    s.tell(island_prog("b", 3.0, 5.5, 2))
    assert [p.id for _, p in s.elites(1)] == ["e0", "a"] and [p.id for _, p in s.elites(2)] == ["e0", "b"]
    assert s.stats()["islands"] == 3 and s.stats()["cells"] == 30 and s.stats()["filled"] == 5
    requests = s.ask(3)
    assert sorted(r.island for r in requests) == [0, 1, 2]  # the least busy island first
    for r in requests:
        assert r.reason.startswith(f"island {r.island}: ")
        assert r.parent.id in {p.id for _, p in s.elites(r.island)}
        assert all(i.id in {p.id for _, p in s.elites(r.island)} for i in r.inspirations)


def test_migration_sends_each_islands_best_to_the_next_one_in_a_ring():
    s = MapElites(x_config(islands=2, migration_interval=4, migrants=1), random.Random(0))
    s.tell(island_prog("e0", 0.0, 0.5, 0, parent=None, gen=0))
    s.tell(island_prog("a", 5.0, 5.5, 0))
    s.tell(island_prog("b", 3.0, 7.5, 1))
    assert "a" not in {p.id for _, p in s.elites(1)} and s.stats()["migrations"] == 0
    s.tell(island_prog("c", 1.0, 2.5, 1))  # the fourth correct program: migrate
    assert s.stats()["migrations"] == 1
    assert "a" in {p.id for _, p in s.elites(1)} and "b" in {p.id for _, p in s.elites(0)}
    snap = s.snapshot()
    assert {e["island"] for e in snap["elites"]} == {0, 1}
    assert [i["island"] for i in snap["islands"]] == [0, 1]


def test_islands_rebuild_to_the_same_grids_and_asks():
    cfg = config(islands=3, migration_interval=10)
    live = MapElites(cfg, random.Random(2))
    told, _ = simulate(live, 60)
    # simulate() does not set islands; spread the told programs over islands as a run would.
    spread = [replace(p, island=i % 3) for i, p in enumerate(told)]
    a, b = MapElites(cfg, random.Random(9)), MapElites(cfg, random.Random(9))
    a.rebuild(spread)
    for p in spread:
        b.tell(p)
    assert a.elites() == b.elites() and a.stats() == b.stats() and a.stats()["migrations"] == 5
    assert summary(a.ask(10)) == summary(b.ask(10))


def test_discard_releases_a_pending_request():
    s = MapElites(x_config(exploit_ratio=1.0, elite_pool=1), random.Random(0))
    ten_elites(s)
    request = s.ask(1)[0]
    assert request.parent.id == "e9" and s._fresh.weight(request.parent.id) < 1.0
    s.discard(request)
    assert s._fresh.weight(request.parent.id) == 1.0


# ---- issue 13: descriptors from the evaluator's metrics, uniform selection -----------------------

def metric_prog(pid, fitness, a, b, parent="p0", gen=1) -> Program:
    return Program(id=pid, run_id="r", source=f"# {pid}\n", parent_id=parent, generation=gen,
                   status=Status.CORRECT, fitness=fitness,
                   metrics={"combined_score": fitness, "a": a, "b": b, "c": 1.0})


def test_without_configured_descriptors_the_first_two_reported_metrics_are_the_axes():
    s = MapElites(config(), random.Random(0))
    s.tell(metric_prog("p0", 1.0, 2.0, 10.0, parent=None, gen=0))
    assert s.descriptor_names == ("a", "b")  # the score is not a descriptor; c comes third
    assert [(a.low, a.high) for a in s.axes] == [(0.0, 4.0), (0.0, 20.0)]
    assert s.tell(metric_prog("x", 0.5, 3.9, 1.0)).status == "new_cell"
    # a program that lacks a chosen metric keeps the run going: it just does not enter the grid
    lacking = Program(id="y", run_id="r", source="# y\n", parent_id="p0", generation=1,
                      status=Status.CORRECT, fitness=9.0, metrics={"combined_score": 9.0})
    assert s.tell(lacking).status == "not_added" and s.best().id == "y"
    plain = MapElites(config(), random.Random(0))
    plain.tell(Program(id="p0", run_id="r", source=INITIAL, generation=0, status=Status.CORRECT,
                       fitness=1.0))  # no metrics: the built-ins
    assert plain.descriptor_names == ("lines", "diversity")


def test_uniform_selection_draws_every_filled_cell_alike():
    counts = parents_over_seeds(x_config(exploit_ratio=0.0, selection="uniform"), seeds=range(1000))
    assert set(counts) == {f"e{i}" for i in range(10)}
    assert max(counts.values()) < 1.6 * min(counts.values())  # 100 expected each
    ranked = parents_over_seeds(x_config(exploit_ratio=0.0), seeds=range(1000))
    assert ranked["e9"] > 1.6 * ranked["e0"]  # ranked: the fittest cell is drawn more often
