"""The "pareto" strategy: a front over examples, reflect / merge / compress requests, resume."""

from __future__ import annotations

import random
from collections import Counter
from types import SimpleNamespace

import pytest

from archives.pareto import Pareto, ParetoConfig
from archives.records import ExampleResult, Program, Status

_seq = iter(range(1, 10_000))


def scored(id: str, scores: list[float], *, parent: str | None = "p0", split: str = "validation") -> Program:
    """A prompt candidate with per-example scores on examples e0, e1, ..."""
    examples = {f"e{i}": ExampleResult(score=s, split=split) for i, s in enumerate(scores)}
    return Program(id=id, run_id="run", source=f"prompt {id}", parent_id=parent, status=Status.CORRECT,
                   fitness=sum(scores) / len(scores), examples=examples, seq=next(_seq))  # fmt: skip


def plain(id: str, fitness: float | None, *, parent: str | None = "p0") -> Program:
    """A program-task program: a fitness, no per-example results."""
    status = Status.CORRECT if fitness is not None else Status.WRONG
    return Program(id=id, run_id="run", source=f"code {id}", parent_id=parent, status=status, fitness=fitness,
                   seq=next(_seq))  # fmt: skip


def strategy(seed: int = 0, **options) -> Pareto:
    return Pareto(SimpleNamespace(options=ParetoConfig(**options)), random.Random(seed))


def told(s: Pareto, *programs: Program) -> Pareto:
    for program in programs:
        s.tell(program)
    return s


INITIAL = scored("p0", [1, 0, 0, 0], parent=None)
BROAD = scored("broad", [1, 1, 1, 0])  # mean 0.75
NICHE = scored("niche", [0, 0, 0, 1])  # mean 0.25, alone best on e3
MIDDLE = scored("middle", [1, 1, 0, 0])  # mean 0.5, wins nothing BROAD does not


def test_the_front_keeps_a_per_example_winner_with_a_lower_mean():
    s = told(strategy(), INITIAL, BROAD, NICHE)
    assert s.tell(MIDDLE).status == "not_added"
    assert {p.id for p in s.front()} == {"broad", "niche"}
    assert s.best() == BROAD
    assert {m["program_id"]: m["wins"] for m in s.snapshot()["members"]} == {"broad": 3, "niche": 1}


def test_the_leader_stays_on_the_front_though_best_on_no_single_example():
    s = told(strategy(), scored("a", [1, 0, 0], parent=None), scored("b", [0, 1, 0]), scored("c", [0, 0, 1]))
    steady = scored("steady", [0.9, 0.9, 0.9])
    assert s.tell(steady).status == "added"
    assert s.best() == steady and steady in s.front()


def test_parents_are_drawn_by_examples_won_and_shown_who_beats_them():
    s = told(strategy(seed=3, merge_share=0.0, compress_after=0), INITIAL, BROAD, NICHE)
    requests = s.ask(400)
    assert {r.mode for r in requests} == {"reflect"}
    drawn = Counter(r.parent.id for r in requests)
    assert set(drawn) == {"broad", "niche"} and 2 * drawn["niche"] < drawn["broad"] < 5 * drawn["niche"]
    for r in requests:
        assert [p.id for p in r.inspirations] == (["niche"] if r.parent.id == "broad" else ["broad"])


def test_merge_is_asked_for_members_that_win_disjoint_examples():
    s = told(strategy(merge_share=1.0, compress_after=0), INITIAL, BROAD, NICHE)
    requests = s.ask(20)
    assert {r.mode for r in requests} == {"merge"}
    assert all({r.parent.id, r.inspirations[0].id} == {"broad", "niche"} for r in requests)
    assert s.snapshot()["asked"]["merge"] == 20


def test_no_merge_when_one_member_does_better_everywhere():
    s = told(strategy(merge_share=1.0, compress_after=0), INITIAL, BROAD)
    assert {r.mode for r in s.ask(10)} == {"reflect"}


def test_compress_is_asked_of_the_leader_after_a_stall_once_per_stall():
    s = told(strategy(merge_share=0.0, compress_after=3), INITIAL, BROAD)
    assert all(r.mode == "reflect" for r in s.ask(5))
    told(s, MIDDLE, scored("worse", [0, 0, 0, 0]))
    assert all(r.mode != "compress" for r in s.ask(3))  # two evaluations without gain: not yet
    s.tell(plain("broken", None))
    first, *rest = s.ask(4)
    assert first.mode == "compress" and first.parent == BROAD and "no gain in 3 evaluations" in first.reason
    assert all(r.mode != "compress" for r in rest)
    told(s, scored("w1", [0, 0, 0, 0]), scored("w2", [0, 0, 0, 0]))
    assert all(r.mode != "compress" for r in s.ask(2))
    s.tell(scored("w3", [0, 0, 0, 0]))
    assert s.ask(1)[0].mode == "compress"
    s.tell(NICHE)  # a new best on e3 is a gain
    assert s.stagnation() == 0 and all(r.mode != "compress" for r in s.ask(3))


def test_rebuild_gives_the_same_front_and_stall_as_telling():
    programs = [INITIAL, BROAD, MIDDLE, plain("broken", None), NICHE, scored("w", [0, 0, 0, 0]),
                scored("mini", [1, 1, 1, 1], split="minibatch")]  # fmt: skip
    live = told(strategy(), *programs)
    live.ask(3)
    resumed = strategy()
    resumed.rebuild(programs)
    assert {**live.snapshot(), "asked": None} == {**resumed.snapshot(), "asked": None}
    assert resumed.best() == live.best() and resumed.stagnation() == 2


def test_candidates_stopped_at_the_minibatch_never_join():
    s = told(strategy(), INITIAL)
    assert s.tell(scored("mini", [1, 1, 1, 1], split="minibatch")).status == "not_added"
    assert s.best() == INITIAL and [p.id for p in s.front()] == ["p0"]


def test_without_examples_it_climbs_from_the_best_program():
    s = strategy(merge_share=1.0, compress_after=2)
    assert s.ask(1) == []  # nothing told: nothing to ask
    s.tell(plain("p0", None, parent=None))
    first = s.ask(1)[0]
    assert first.parent.id == "p0" and "nothing scored yet" in first.reason
    told(s, plain("a", 0.3), plain("b", 0.7))
    assert [p.id for p in s.front()] == ["b"] and s.best().id == "b"
    assert {(r.mode, r.parent.id) for r in s.ask(5)} == {("reflect", "b")}
    told(s, plain("c", 0.5), plain("d", 0.1))
    assert s.ask(1)[0].mode == "compress"


def test_options_come_from_the_config_or_default():
    assert Pareto.config_model is ParetoConfig
    assert Pareto(SimpleNamespace(), random.Random(0)).config == ParetoConfig()
    assert Pareto(SimpleNamespace(options={"merge_share": 0.5}), random.Random(0)).config.merge_share == 0.5


def test_the_registry_builds_it_by_name_with_its_own_validated_options():
    from agent.config import ConfigError, SearchConfig, strategy_options
    from archives.registry import make_strategy

    search = SearchConfig(strategy="pareto", options={"merge_share": 0.5, "compress_after": 4})
    search = search.model_copy(update={"options": strategy_options(Pareto, search)})
    built = make_strategy(search, random.Random(0))
    assert built.name == "pareto" and built.config == ParetoConfig(merge_share=0.5, compress_after=4)
    with pytest.raises(ConfigError, match=r"^search\.options\.merge_share: "):
        strategy_options(Pareto, SearchConfig(strategy="pareto", options={"merge_share": 2}))
