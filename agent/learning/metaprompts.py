"""Meta-prompt co-evolution: the proposer's instructions as a second, small population.

A meta-prompt (archives.records.MetaPrompt) is a system prompt plus strategy hints (the user
prompt's "# How to approach it" section). `MetaPromptPool` keeps up to `population` of them:

- `pick()` chooses the one the next proposal uses, by Thompson sampling (agent/learning/
  bandit.py) over the active meta-prompts. A new one is tried once, then waits for that
  child's credit before it is picked again (proposals in flight would otherwise all go to it).
  The first call seeds the pool with the built-in instructions (`initial_system`,
  `initial_hints`), stored with origin "initial".
- `credit(meta_id, improvement)` reports what a child made with it brought (the proposer's
  `improvement_of`, agent/learning/parts.py): the reward is `max(improvement, 0)`. A child
  that failed (`improvement` None) or came out worse than its parent earns 0: the search
  discards both, so a large loss costs no more than a failure. The bandit maps rewards onto
  [0, 1], so the fitness scale of a task does not matter.
- `maybe_evolve()`, awaited after credits, acts once `evolve_every` credits have come in since
  the last rewrite: the best half of the active meta-prompts (at least one; ranked by mean
  reward, each with at least one credit) are each rewritten by one LLM call (role "meta";
  template metaprompt.j2) shown what its children did and how the others fared. Each rewrite
  is stored with `parent_id` (the one it was rewritten from), origin "rewrite" and `call_id`;
  all of one round share one `created_at`. Then, while more than `population` are active, the
  worst old one (lowest mean reward, then the most credits, then the oldest) is retired: never
  picked again, though children still in flight are credited to it. An answer without a
  `<system>` part, or with a part too long, gives no rewrite (the call stays recorded).
- `restore()` (a resumed run) reloads the run's meta-prompts from the store and replays, in
  time order, the credits of their children (each program's `proposal["meta_prompt_id"]`;
  children still pending are not counted) and the rewrite rounds, so the bandit, the
  retirements and the count towards the next rewrite come back as they were (except that the
  count restarts at the end of the last "meta" call, not at its start).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from agent.config import MetaPromptsConfig, ModelSpec
from agent.learning.bandit import Bandit
from agent.learning.parts import improvement_of
from agent.llm import LLMError, LLMGateway
from agent.prompts import template_environment
from archives.records import LLMCall, MetaPrompt, Program, Status

__all__ = ["MetaPromptPool", "parse_rewrite"]

ROLE = "meta"
MAX_SYSTEM_CHARS = 6000
MAX_HINTS_CHARS = 3000
_CHILDREN_SHOWN = 8
_OTHER_HINTS_CHARS = 400
_ERROR_CHARS = 160
_LEARNT = Status.EVALUATED | {Status.APPLY_FAILED, Status.DUPLICATE}  # children the proposer learns from
_META_SYSTEM = (
    "You improve the instructions given to an LLM that proposes changes to a program or prompt in an "
    "evolutionary search, judging the instructions by what the changes made with them achieved."
)


class _MetaStore(Protocol):
    def add_meta_prompt(self, meta: MetaPrompt) -> Any: ...
    def meta_prompts(self, run_id: str) -> list[MetaPrompt]: ...
    def programs(self, run_id: str) -> list[Program]: ...
    def llm_calls(self, run_id: str | None = None) -> list[LLMCall]: ...


@dataclasses.dataclass
class _Credits:
    """What the children of one meta-prompt brought."""

    n: int = 0
    total: float = 0.0  # of rewards (gains clipped at 0)
    improved: int = 0

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0


def parse_rewrite(text: str) -> tuple[str, str] | None:
    """(system, hints) from an answer with `<system>...</system>` and optionally
    `<hints>...</hints>`; None when the system part is missing, empty or too long."""
    system = _tagged(text, "system")
    hints = _tagged(text, "hints") or ""
    if not system or len(system) > MAX_SYSTEM_CHARS or len(hints) > MAX_HINTS_CHARS:
        return None
    return system, hints


def _tagged(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>\s*(.*?)\s*</{tag}>", text, flags=re.DOTALL | re.IGNORECASE)
    return match.group(1).strip() if match else None


def _reward(improvement: float | None) -> float:
    return max(improvement, 0.0) if improvement is not None else 0.0


def _outcomes(programs: list[Program]) -> list[tuple[float, Program, float | None]]:
    """(when, child, improvement) for every child the proposer learnt from, in that order:
    those with a `proposal` that were evaluated, failed to apply or were duplicates. The
    improvement is the proposer's (agent/learning/parts.py `improvement_of`), with its fix
    gain (the largest gain over a correct parent so far, 1.0 before one) replayed."""
    by_id = {p.id: p for p in programs}
    learnt = [p for p in programs if p.proposal and p.status in _LEARNT]
    learnt.sort(key=lambda p: (p.evaluated_at or p.created_at, p.seq))
    largest, outcomes = 0.0, []
    for child in learnt:
        parent = by_id.get(child.parent_id or "")
        improvement = improvement_of(child, parent, largest or 1.0)
        if improvement is not None and parent is not None and parent.is_correct:
            largest = max(largest, improvement)
        outcomes.append((child.evaluated_at or child.created_at, child, improvement))
    return outcomes


class MetaPromptPool:
    """A bandit-chosen, LLM-rewritten population of meta-prompts; see the module docstring.

    `record_call` stores each rewrite call (role "meta"); `choose_model` names the model of a
    rewrite (default: the gateway's weighted pick). `task_name`, `task_description`, `language`
    and `artifact` ("program" or "prompt") tell the rewriting LLM what the instructions are for;
    `templates_dir` may override metaprompt.j2 like the other prompt templates.
    """

    def __init__(
        self,
        store: _MetaStore,
        run_id: str,
        gateway: LLMGateway,
        *,
        config: MetaPromptsConfig,
        rng: random.Random,
        initial_system: str,
        initial_hints: str,
        record_call: Callable[[LLMCall], None],
        choose_model: Callable[[], ModelSpec] | None = None,
        task_name: str = "",
        task_description: str = "",
        language: str = "",
        artifact: str = "program",
        templates_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._gateway = gateway
        self._config = config
        self._initial = (initial_system.strip(), initial_hints.strip())
        self._record = record_call
        self._choose_model = choose_model
        self._task = {"task_name": task_name, "task_description": task_description.strip(),
                      "language": language, "artifact": artifact}  # fmt: skip
        self._env = template_environment(templates_dir)
        self._bandit = Bandit("thompson", rng, explore=config.explore)
        self._members: dict[str, MetaPrompt] = {}  # every meta-prompt of the run, oldest first
        self._active: list[str] = []  # those that may be picked, oldest first
        self._credits: dict[str, _Credits] = {}
        self._pending: dict[str, int] = {}  # picks not credited yet
        self._since_rewrite = 0
        self._lock = asyncio.Lock()

    # --- the public surface ------------------------------------------------------------------

    @property
    def members(self) -> list[MetaPrompt]:
        """Every meta-prompt of the run, retired ones included, oldest first."""
        return list(self._members.values())

    @property
    def active(self) -> list[MetaPrompt]:
        """The meta-prompts `pick` chooses among, oldest first."""
        return [self._members[i] for i in self._active]

    def credits(self, meta_id: str) -> tuple[int, float, int]:
        """(children credited, mean reward, children that improved on their parent)."""
        c = self._credits.get(meta_id, _Credits())
        return c.n, c.mean, c.improved

    def pick(self) -> MetaPrompt:
        """The meta-prompt for the next proposal (seeding the built-in one on first use)."""
        if not self._active:
            system, hints = self._initial
            self._add(MetaPrompt(id=uuid.uuid4().hex, run_id=self._run_id, system=system, hints=hints,
                                 origin="initial", created_at=time.time()))  # fmt: skip
        # A new meta-prompt already picked waits for its first credit before it is picked again:
        # otherwise proposals in flight would all go to it (the bandit tries unrewarded arms first).
        waiting = {i for i in self._active if self._pending.get(i) and i not in self._credits}
        meta_id = self._bandit.pick([i for i in self._active if i not in waiting] or self._active)
        self._pending[meta_id] = self._pending.get(meta_id, 0) + 1
        return self._members[meta_id]

    def credit(self, meta_id: str, improvement: float | None) -> None:
        """Record what a child proposed with `meta_id` brought over its parent (None: it failed)."""
        if meta_id not in self._members:
            raise KeyError(f"meta-prompt {meta_id} is not one of run {self._run_id}'s")
        reward = _reward(improvement)
        self._pending[meta_id] = max(self._pending.get(meta_id, 0) - 1, 0)
        c = self._credits.setdefault(meta_id, _Credits())
        c.n += 1
        c.total += reward
        c.improved += reward > 0
        self._bandit.update(meta_id, reward)
        self._since_rewrite += 1

    async def maybe_evolve(self) -> None:
        """Rewrite the best meta-prompts when `evolve_every` credits came in since the last
        rewrite (one round at a time: a caller arriving during a round returns at once)."""
        if self._since_rewrite < self._config.evolve_every or self._lock.locked():
            return
        async with self._lock:
            self._since_rewrite = 0
            parents = self._best(max(1, self._config.population // 2))
            if not parents:
                return
            programs = self._store.programs(self._run_id)
            # every call runs to its end, so a budget refusal of one keeps the others' rewrites
            answers = await asyncio.gather(*(self._rewrite(m, programs) for m in parents), return_exceptions=True)
            now = time.time()
            born = [
                MetaPrompt(id=uuid.uuid4().hex, run_id=self._run_id, system=answer[0][0], hints=answer[0][1],
                           parent_id=parent.id, origin="rewrite", call_id=answer[1], created_at=now)
                for parent, answer in zip(parents, answers, strict=True)
                if not isinstance(answer, BaseException) and answer[0] is not None
            ]  # fmt: skip
            for child in sorted(born, key=_round_order):
                self._add(child)
            self._retire(keep=[m.id for m in born])
            for answer in answers:
                if isinstance(answer, BaseException):
                    raise answer

    def restore(self) -> None:
        """Reload the run's meta-prompts and replay their credits and rewrite rounds (resume)."""
        self._members.clear()
        self._active.clear()
        self._credits.clear()
        self._pending.clear()
        self._since_rewrite = 0
        stored = sorted(self._store.meta_prompts(self._run_id), key=lambda m: m.created_at)
        if not stored:
            return
        # (time, order at equal times, what): credits before the round they led to
        events: list[tuple[float, int, Any]] = []
        for at, child, improvement in _outcomes(self._store.programs(self._run_id)):
            if child.proposal.get("meta_prompt_id"):
                events.append((at, 0, ("credit", child.proposal["meta_prompt_id"], improvement)))
        rounds: dict[float, list[MetaPrompt]] = {}
        for m in stored:
            rounds.setdefault(m.created_at, []).append(m)
        for at, born in rounds.items():
            events.append((at, 2, ("round", sorted(born, key=_round_order))))
        for call in self._store.llm_calls(self._run_id):
            if call.role == ROLE:
                events.append((call.created_at, 1, ("reset",)))
        for _, _, event in sorted(events, key=lambda e: (e[0], e[1])):
            if event[0] == "credit":
                if event[1] in self._members:
                    self.credit(event[1], event[2])
            elif event[0] == "reset":
                self._since_rewrite = 0
            else:
                for m in event[1]:
                    self._add(m, store=False)
                self._retire(keep=[m.id for m in event[1] if m.origin == "rewrite"])

    def messages(self, meta: MetaPrompt, programs: list[Program]) -> list[dict]:
        """The chat messages asking the LLM to rewrite `meta`, given the run's `programs`."""
        by_id = {p.id: p for p in programs}
        mine = [(child, gain) for _, child, gain in reversed(_outcomes(programs))
                if child.proposal.get("meta_prompt_id") == meta.id]  # fmt: skip
        gains = [_reward(gain) for _, gain in mine]
        stats = {
            "n": len(mine), "improved": sum(g > 0 for g in gains),
            "failed": sum(not child.is_correct for child, _ in mine),
            "mean_gain": f"{sum(gains) / len(gains):.4g}" if gains else "0",
            "best_gain": f"{max(gains, default=0.0):.4g}",
        }  # fmt: skip
        others = []
        for i, other in enumerate(m for m in self.active if m.id != meta.id):
            n, mean, improved = self.credits(other.id)
            others.append({"label": f"Instructions {i + 1}", "n": n, "improved": improved, "mean_gain": f"{mean:.4g}",
                           "hints": _short(other.hints, _OTHER_HINTS_CHARS)})  # fmt: skip
        user = self._env.get_template("metaprompt.j2").render(
            **self._task, system=meta.system, hints=meta.hints, stats=stats, others=others,
            children=[_child_line(c, by_id.get(c.parent_id or ""), gain) for c, gain in mine[:_CHILDREN_SHOWN]],
            max_system_chars=MAX_SYSTEM_CHARS, max_hints_chars=MAX_HINTS_CHARS,
        ).strip()  # fmt: skip
        return [{"role": "system", "content": _META_SYSTEM}, {"role": "user", "content": user}]

    # --- internals -----------------------------------------------------------------------

    def _add(self, meta: MetaPrompt, *, store: bool = True) -> None:
        if store:
            self._store.add_meta_prompt(meta)
        self._members[meta.id] = meta
        self._active.append(meta.id)

    def _rank(self, meta_id: str) -> tuple[float, int]:
        c = self._credits.get(meta_id, _Credits())
        return c.mean, c.n

    def _rank_low(self, meta_id: str) -> tuple[float, int]:
        mean, n = self._rank(meta_id)
        return mean, -n

    def _best(self, k: int) -> list[MetaPrompt]:
        """Up to `k` active meta-prompts with at least one credit, best mean reward first."""
        judged = [i for i in self._active if i in self._credits]
        judged.sort(key=lambda i: self._rank(i), reverse=True)
        return [self._members[i] for i in judged[:k]]

    def _retire(self, keep: list[str]) -> None:
        """Drop the worst old meta-prompts until at most `population` are active."""
        while len(self._active) > self._config.population:
            old = [i for i in self._active if i not in keep] or list(self._active)
            # lowest mean first; at equal means the one with more evidence; then the oldest
            worst = min(old, key=lambda i: (*self._rank_low(i), self._members[i].created_at, i))
            self._active.remove(worst)

    async def _rewrite(self, meta: MetaPrompt, programs: list[Program]) -> tuple[tuple[str, str] | None, str]:
        """One rewrite call: (the parsed (system, hints) or None, the call's id)."""
        model = self._choose_model() if self._choose_model is not None else None
        try:
            completion = await self._gateway.complete(self.messages(meta, programs), model)
        except LLMError as exc:
            self._record(dataclasses.replace(exc.call, role=ROLE))
            return None, exc.call.id
        self._record(dataclasses.replace(completion.call, role=ROLE))
        return parse_rewrite(completion.text), completion.call.id


def _round_order(meta: MetaPrompt) -> tuple[str, str, str]:
    """The order the rewrites of one round join the pool in, live and on `restore` alike (by
    content, so a seeded run whose answers repeat picks the same way)."""
    return meta.system, meta.hints, meta.id


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _child_line(child: Program, parent: Program | None, improvement: float | None) -> str:
    """One line on one child: its parent's fitness, its own, the gain or why it failed."""
    before = f"{parent.fitness:.6g}" if parent is not None and parent.is_correct else (parent.status if parent else "?")
    if child.is_correct:
        change = f" (gain {improvement:+.4g})" if improvement is not None else ""
        return f"parent {before} -> child {child.fitness:.6g}{change}"
    reason = f": {_short(child.error, _ERROR_CHARS)}" if child.error else ""
    return f"parent {before} -> child {child.status}{reason}"
