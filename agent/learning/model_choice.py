"""Which model answers a call: by fixed weights, or by a bandit that learns which model pays.

`ModelChooser.choose(role)` picks among the models of a role (`llm.roles`; a role not listed
there may use every model of `llm.models`):

- `llm.choice: weights` (the default): a draw by the models' `weight`, as before roles existed.
- `llm.choice: ucb` or `thompson`: one `Bandit` (agent/learning/bandit.py) per role, its arms
  the role's model names. Only the roles whose calls earn a reward (`REWARDED_ROLES`: draft,
  fix, plan) learn; the others (summarize, meta, distil) produce no child to judge them by and
  are drawn by weight in every mode.

`reward(call, improvement)` turns what a call's child brought into the reward the call earned,
by one rule:

    gain   = improvement if improvement is a number > 0, else 0  (no gain, a worse or failed child)
    reward = gain / call.cost          when the call cost money (dollars)
             gain / call.latency       otherwise (seconds, at least 1 ms; a local server's calls are free)

so a model is worth what it improves per dollar, and a free model what it improves per second.
The bandit normalises rewards, so their scale does not matter, but a role that mixes paid and
free models compares improvement per dollar with improvement per second: keep such roles apart.
A call is rewarded once (a second reward for the same call id returns the first); a call of
another purpose than the proposer's (a prompt task's target model, an LLM judge) earns None.
A bandit's pick stays pending until its call is rewarded (agent/learning/bandit.py), so calls
in flight spread over the models. `restore(calls)` replays the rewards stored with earlier
calls when a run resumes.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from agent.config import LLMConfig, ModelSpec
from agent.learning.bandit import Bandit
from archives.records import LLMCall

__all__ = ["ModelChooser", "REWARDED_ROLES", "call_reward"]

REWARDED_ROLES = ("draft", "fix", "plan")
_MIN_SECONDS = 1e-3  # a call that took no time (never sent) is not worth infinitely much


def call_reward(call: LLMCall, improvement: float | None) -> float:
    """The reward rule of the module docstring: improvement per dollar, else per second; 0 without gain."""
    if improvement is None or not improvement > 0:
        return 0.0
    if call.cost > 0:
        return improvement / call.cost
    return improvement / max(call.latency, _MIN_SECONDS)


class ModelChooser:
    """Picks each call's model by role and learns from the rewards its calls earn.

    `rng` is the run's seeded generator: the weighted draws and the bandits' picks repeat with
    the seed. One chooser serves one run.
    """

    def __init__(self, config: LLMConfig, rng: random.Random):
        if not config.models:
            raise ValueError("a model chooser needs at least one model (llm.models is empty)")
        self._config = config
        self._rng = rng
        self._specs: dict[str, ModelSpec] = {}
        for spec in config.models:
            self._specs.setdefault(spec.name, spec)
        self._bandits: dict[str, Bandit] = {}
        self._rewarded: dict[str, float] = {}  # call id -> the reward it earned

    @property
    def choice(self) -> str:
        """"weights", "ucb" or "thompson" (`llm.choice`)."""
        return self._config.choice

    def models(self, role: str) -> tuple[ModelSpec, ...]:
        """The models a role may use: its `llm.roles` list, or every model when it has none."""
        names = getattr(self._config.roles, role, ())  # meta, distil: not in llm.roles
        if not names:
            return self._config.models
        return tuple(self._specs[name] for name in names)

    def choose(self, role: str) -> ModelSpec:
        """The model for the next call of `role`."""
        models = self.models(role)
        if len(models) == 1:
            return models[0]
        if self.choice == "weights" or role not in REWARDED_ROLES:
            return self._rng.choices(models, weights=[m.weight for m in models])[0]
        name = self._bandit(role).pick([m.name for m in models])
        return self._specs[name]

    def reward(self, call: LLMCall, improvement: float | None) -> float | None:
        """The reward `call` earned from its child's `improvement` (None: a failed child), taught to
        the role's bandit; None for a call that is not the proposer's. See the module docstring."""
        if call.purpose != "proposer":
            return None
        if call.id in self._rewarded:
            return self._rewarded[call.id]
        value = call_reward(call, improvement)
        self._learn(call, value)
        return value

    def restore(self, calls: Iterable[LLMCall]) -> None:
        """Replay the rewards stored with a run's earlier calls (oldest first), as on resume."""
        for call in sorted(calls, key=lambda c: c.created_at):
            if call.reward is not None and call.purpose == "proposer" and call.id not in self._rewarded:
                self._learn(call, call.reward)

    def stats(self) -> dict[str, dict[str, tuple[int, float]]]:
        """Per learning role: per model, (rewards, mean reward)."""
        return {role: bandit.stats() for role, bandit in self._bandits.items()}

    # --- internals -----------------------------------------------------------------------

    def _learn(self, call: LLMCall, value: float) -> None:
        self._rewarded[call.id] = value
        if self.choice == "weights" or call.role not in REWARDED_ROLES:
            return
        if call.model in {m.name for m in self.models(call.role)}:
            self._bandit(call.role).update(call.model, value)

    def _bandit(self, role: str) -> Bandit:
        bandit = self._bandits.get(role)
        if bandit is None:
            bandit = self._bandits[role] = Bandit(self.choice, self._rng)
        return bandit

