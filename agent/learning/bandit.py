"""A multi-armed bandit over named arms: UCB1 or Thompson sampling with a Gaussian posterior.

The caller asks `pick(arms)` for the arm to try next and reports what it earned with
`update(arm, reward)`. Rewards may be on any scale (improvement per dollar can run to
thousands, per second to hundredths) and are heavy-tailed: most are 0, a few are very large.
So the rules below read them normalised, among the rewards of the arms being compared:

1. each reward r becomes `sign(r) * ln(1 + |r| / s)`, where s is the median of the nonzero
   |r|: multiplying all rewards by a constant changes nothing, and a reward 10 times the
   median counts about 3.5 times as much as the median, not 10 times, so one huge reward
   does not make every other arm look alike;
2. these values are mapped onto [0, 1] through the smallest and largest of them (all equal:
   0.5 each), and an arm's `mean` is the mean of its mapped rewards.

A pick is expected to be followed by one `update` of that arm once its outcome is known; in
between it is pending. Arms without a reward come first: among them, the one with the fewest
picks pending (ties drawn at random), so picks made before any reward came back spread over
the arms. Once every arm has a reward:

- "ucb" (UCB1): the arm with the highest `mean + explore * sqrt(2 ln N / n)`, where n is the
  arm's rewards plus its pending picks and N that of all the arms compared; ties are broken
  at random. Counting pending picks keeps UCB, which is deterministic between rewards, from
  sending every pick in flight to the same arm.
- "thompson": for each arm a draw from the posterior of its mean (a normal prior with mean
  0.5 and variance 1, a normal likelihood with variance 0.25, the largest a value in [0, 1]
  can have), its spread scaled by `explore`; the highest draw wins. The variance is fixed,
  not estimated from the rewards: an arm whose first few rewards were all 0 must not look
  certainly bad.

All randomness comes from the `rng` given, so a seeded bandit repeats its picks.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

__all__ = ["Bandit", "METHODS"]

METHODS = ("ucb", "thompson")

_PRIOR_MEAN = 0.5  # Thompson: the prior on a normalised mean, centred in [0, 1] ...
_PRIOR_VARIANCE = 1.0  # ... and wide enough that two or three rewards outweigh it
_NOISE_VARIANCE = 0.25  # the largest variance of a value in [0, 1]


class Bandit:
    """Chooses among arms by what they earned; see the module docstring for the two methods."""

    def __init__(self, method: str, rng: random.Random, explore: float = 1.0):
        if method not in METHODS:
            raise ValueError(f"unknown bandit method {method!r}: expected one of {', '.join(METHODS)}")
        if not math.isfinite(explore) or explore < 0:
            raise ValueError(f"a bandit's explore must be a finite number >= 0, not {explore!r}")
        self.method = method
        self._rng = rng
        self._explore = explore
        self._rewards: dict[str, list[float]] = {}  # per arm, in the order they came
        self._pending: dict[str, int] = {}  # per arm, picks not yet followed by an update

    def pick(self, arms: Sequence[str]) -> str:
        """The arm to try next among `arms` (arms never seen before count as never rewarded)."""
        names = list(dict.fromkeys(arms))
        if not names:
            raise ValueError("a bandit needs at least one arm to pick from")
        untried = [a for a in names if not self._rewards.get(a)]
        if untried:
            fewest = min(self._pending.get(a, 0) for a in untried)
            leaders = [a for a in untried if self._pending.get(a, 0) == fewest]
        else:
            means = self._normalised_means(names)
            if self.method == "ucb":
                scores = self._ucb_scores(names, means)
            else:
                scores = self._thompson_draws(names, means)
            best = max(scores.values())
            leaders = [a for a in names if scores[a] == best]
        arm = leaders[0] if len(leaders) == 1 else self._rng.choice(leaders)
        self._pending[arm] = self._pending.get(arm, 0) + 1
        return arm

    def update(self, arm: str, reward: float) -> None:
        """Record that `arm` earned `reward` (any finite number, any scale); it settles one of the
        arm's pending picks, if it has any (a replayed reward has none)."""
        if not math.isfinite(reward):
            raise ValueError(f"a bandit reward must be a finite number, not {reward!r}")
        self._rewards.setdefault(arm, []).append(float(reward))
        if self._pending.get(arm):
            self._pending[arm] -= 1

    def stats(self) -> dict[str, tuple[int, float]]:
        """Per arm that was rewarded: (rewards, mean raw reward)."""
        return {name: (len(rewards), math.fsum(rewards) / len(rewards)) for name, rewards in self._rewards.items()}

    # --- internals -----------------------------------------------------------------------

    def _normalised_means(self, names: list[str]) -> dict[str, float]:
        """Each arm's mean normalised reward (module docstring), among the rewards of `names`."""
        nonzero = [abs(r) for name in names for r in self._rewards[name] if r != 0]
        scale = statistics.median(nonzero) if nonzero else 1.0
        squashed = {name: [math.copysign(math.log1p(abs(r) / scale), r) for r in self._rewards[name]] for name in names}
        low = min(min(values) for values in squashed.values())
        high = max(max(values) for values in squashed.values())
        if high == low:
            return dict.fromkeys(names, 0.5)
        return {name: (math.fsum(values) / len(values) - low) / (high - low) for name, values in squashed.items()}

    def _ucb_scores(self, names: list[str], means: dict[str, float]) -> dict[str, float]:
        pulls = {a: len(self._rewards[a]) + self._pending.get(a, 0) for a in names}
        total = sum(pulls.values())
        scores = {}
        for name in names:
            bonus = math.sqrt(2.0 * math.log(total) / pulls[name])
            scores[name] = means[name] + self._explore * bonus
        return scores

    def _thompson_draws(self, names: list[str], means: dict[str, float]) -> dict[str, float]:
        draws = {}
        for name in names:
            n = len(self._rewards[name])
            precision = 1.0 / _PRIOR_VARIANCE + n / _NOISE_VARIANCE
            weighted = _PRIOR_MEAN / _PRIOR_VARIANCE + n * means[name] / _NOISE_VARIANCE
            draws[name] = self._rng.gauss(weighted / precision, self._explore / math.sqrt(precision))
        return draws
