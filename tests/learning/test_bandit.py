"""The bandit (agent/learning/bandit.py) under scripted rewards with fixed seeds."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from agent.learning.bandit import METHODS, Bandit

# How the scripted world pays: improvements are rare, and "pays" finds one three times as often.
CHANCE = {"cheap": 0.1, "pays": 0.3}


def sparse_gain(arm: str, world: random.Random) -> float:
    return world.uniform(0.5, 2.0) if world.random() < CHANCE[arm] else 0.0


def run(method: str, seed: int, reward: Callable[[str, random.Random], float], steps: int = 400,
        scale: float = 1.0) -> list[str]:
    bandit = Bandit(method, random.Random(seed))
    world = random.Random(10_000 + seed)
    picks = []
    for _ in range(steps):
        arm = bandit.pick(["cheap", "pays"])
        picks.append(arm)
        bandit.update(arm, scale * reward(arm, world))
    return picks


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(4))
def test_the_bandit_converges_on_the_arm_that_pays(method, seed):
    picks = run(method, seed, sparse_gain)
    assert picks[-100:].count("pays") >= 65  # uniform picking would give about 50
    assert picks.count("pays") > picks.count("cheap")


def heavy_tailed_gain(arm: str, world: random.Random) -> float:
    """Improvement per second as it comes: "cheap" never gains, "pays" usually does, by amounts
    spread over four orders of magnitude."""
    if arm == "cheap" or world.random() < 0.2:
        return 0.0
    distance = world.choice([world.uniform(0, 10), world.uniform(0, 1), world.uniform(0, 0.1)])
    return distance**2 / world.uniform(0.01, 0.2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(4))
def test_a_few_huge_rewards_do_not_hide_which_arm_pays(method, seed):
    picks = run(method, seed, heavy_tailed_gain, steps=200)
    assert picks[-100:].count("pays") >= 70  # UCB on raw rewards mapped by their range: about 60


@pytest.mark.parametrize("method", METHODS)
def test_the_scale_of_the_rewards_changes_no_pick(method):
    # A power of two scales every reward and their median exactly, so the normalised values are the same.
    assert run(method, 3, sparse_gain, steps=150, scale=1024.0) == run(method, 3, sparse_gain, steps=150)
    assert run(method, 3, sparse_gain, steps=150, scale=2.0**-20) == run(method, 3, sparse_gain, steps=150)


@pytest.mark.parametrize("method", METHODS)
def test_a_seeded_bandit_repeats_its_picks_and_another_seed_differs(method):
    assert run(method, 5, sparse_gain, steps=120) == run(method, 5, sparse_gain, steps=120)
    assert any(run(method, s, sparse_gain, steps=120) != run(method, 5, sparse_gain, steps=120) for s in range(6, 9))


@pytest.mark.parametrize("method", METHODS)
def test_every_arm_is_tried_once_before_any_is_tried_twice(method):
    bandit = Bandit(method, random.Random(0))
    arms = ["a", "b", "c", "d"]
    first = []
    for _ in arms:
        arm = bandit.pick(arms)
        first.append(arm)
        bandit.update(arm, 1.0 if arm == "a" else 0.0)
    assert sorted(first) == arms
    bandit.update("e", 5.0)  # an arm rewarded outside `arms` does not count as tried among them
    assert bandit.pick(["a", "f"]) == "f"


@pytest.mark.parametrize("method", METHODS)
def test_picks_in_flight_before_any_reward_spread_over_the_arms(method):
    bandit = Bandit(method, random.Random(0))
    assert sorted(bandit.pick(["a", "b", "c"]) for _ in range(6)) == ["a", "a", "b", "b", "c", "c"]


def test_ucb_counts_picks_in_flight_so_they_do_not_all_go_to_one_arm():
    bandit = Bandit("ucb", random.Random(0))
    for arm, rewards in {"good": [1.0, 1.0, 0.0], "fair": [1.0, 0.0, 0.0]}.items():
        for reward in rewards:
            bandit.update(arm, reward)
    in_flight = [bandit.pick(["good", "fair"]) for _ in range(12)]
    assert "fair" in in_flight and in_flight.count("good") > in_flight.count("fair")
    for arm in in_flight:  # their rewards settle the pending picks: the next pick is as before
        bandit.update(arm, 1.0 if arm == "good" else 0.0)
    assert bandit.pick(["good", "fair"]) == "good"


def test_ucb_without_exploration_keeps_the_best_mean_and_with_it_returns_to_the_others():
    greedy = Bandit("ucb", random.Random(0), explore=0.0)
    curious = Bandit("ucb", random.Random(0), explore=1.0)
    for bandit in (greedy, curious):
        bandit.update("good", 1.0)
        bandit.update("poor", 0.0)
    greedy_picks, curious_picks = [], []
    for _ in range(50):
        arm = greedy.pick(["good", "poor"])
        greedy.update(arm, 1.0 if arm == "good" else 0.0)
        greedy_picks.append(arm)
        arm = curious.pick(["good", "poor"])
        curious.update(arm, 1.0 if arm == "good" else 0.0)
        curious_picks.append(arm)
    assert set(greedy_picks) == {"good"}
    assert "poor" in curious_picks and curious_picks.count("good") > curious_picks.count("poor")


def test_stats_report_counts_and_raw_mean_rewards():
    bandit = Bandit("thompson", random.Random(0))
    for arm, reward in [("a", 2.0), ("a", 4.0), ("b", 0.0)]:
        bandit.update(arm, reward)
    assert bandit.stats() == {"a": (2, 3.0), "b": (1, 0.0)}


def test_equal_rewards_leave_the_choice_to_the_seeded_tie_break():
    bandit = Bandit("ucb", random.Random(1))
    for arm in ("a", "b"):
        for _ in range(3):
            bandit.update(arm, 7.0)
    picks = {bandit.pick(["a", "b"]) for _ in range(40)}
    assert picks == {"a", "b"}


def test_bad_arguments_are_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="unknown bandit method 'greedy'"):
        Bandit("greedy", random.Random(0))
    with pytest.raises(ValueError, match="explore must be a finite number >= 0"):
        Bandit("ucb", random.Random(0), explore=-1.0)
    bandit = Bandit("ucb", random.Random(0))
    with pytest.raises(ValueError, match="at least one arm"):
        bandit.pick([])
    with pytest.raises(ValueError, match="finite number"):
        bandit.update("a", float("nan"))
