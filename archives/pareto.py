"""A Pareto front over examples (after GEPA), with merges and compression on stalls (after GRACE).

- **Candidates.** Correct programs scored on the validation split (archives/examples.py).
  A prompt candidate stopped at the minibatch (it did worse than its parent there) has no
  validation scores and never joins. A program with no per-example results at all (program
  and kernel tasks) counts as one pseudo-example, its fitness, so the strategy falls back to
  climbing from the best program.
- **Front.** For each example, the candidates with the best score on it win it. A candidate
  whose won examples are all won by another one too (a subset; on equal sets, by one with a
  higher mean, then an earlier one) is dominated and leaves. The leader (the highest mean)
  always stays, even if it is best on no single example. So a candidate with a lower mean
  survives for as long as it is the best on some example.
- **Requests.** A parent is drawn from the front weighted by the number of examples it wins.
  Mode "reflect": its inspirations are the members that beat it on examples it does worse on
  (most such examples first), so the prompt can show where it wins and loses. With chance
  `merge_share`, when the parent and another member each beat the other on some examples,
  mode "merge" with that member as `inspirations[0]`. After `compress_after` evaluations
  without gain (the leader's mean or the sum over examples of the best score rising), one
  request asks the leader for mode "compress"; the next one comes after as many again.
- **Resume.** `rebuild` tells the stored programs in order, which gives the same front and
  the same stall count. What was asked (the last compress, the counts in `snapshot()["asked"]`)
  starts afresh.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

from archives.examples import better_on, validation_scores
from archives.records import Insertion, Program, ProposalRequest

__all__ = ["Pareto", "ParetoConfig"]

FITNESS_KEY = "(fitness)"
"""The one pseudo-example of programs without per-example results."""
_TIE = 1e-9


class ParetoConfig(BaseModel):
    """Options of the "pareto" strategy (`search.options` in the task file, with `search.strategy: pareto`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    merge_share: float = Field(0.2, ge=0.0, le=1.0)
    """Chance that a request merges its parent with another front member, when one beats the
    parent on some examples and the parent beats it on others."""
    compress_after: int = Field(12, ge=0)
    """Evaluations without gain after which the leader is asked for a compressed rewrite or a
    different approach; 0 never asks."""
    inspirations: int = Field(2, ge=0)
    """Most front members shown with a reflect request: those beating the parent where it fails."""


class Pareto:
    """The "pareto" strategy (see the module docstring)."""

    name = "pareto"
    config_model = ParetoConfig

    def __init__(self, config: Any, rng: random.Random) -> None:
        self.config = _options(config)
        self._rng = rng
        self._compress_at: int | None = None  # evaluations told when the last compress was asked
        self._asked: Counter[str] = Counter()
        self._reset()

    def _reset(self) -> None:
        self._initial: Program | None = None
        self._candidates: dict[str, Program] = {}  # winners of some example, and the leader
        self._scores: dict[str, dict[str, float]] = {}
        self._wins: dict[str, set[str]] = {}  # front member id -> examples it wins
        self._leader: Program | None = None
        self._told = 0
        self._improved_at = 0
        self._mark: tuple[float, float] | None = None  # (leader's mean, sum of best scores) at the last gain

    # ---- ask / tell ---------------------------------------------------------------------------

    def tell(self, program: Program) -> Insertion:
        self._told += 1
        if self._initial is None and program.parent_id is None and program.source:
            self._initial = program
        scores = _scores(program)
        if not program.is_correct or not scores:
            if program.id in self._candidates:  # a repeat that failed
                self._drop(program.id)
            return Insertion("not_added")
        previous = self._candidates.get(program.id)
        self._candidates[program.id] = program
        self._scores[program.id] = scores
        self._update_front()
        self._note_progress()
        if program.id not in self._wins:
            return Insertion("not_added")
        if previous is not None:
            return Insertion("improved", previous_fitness=previous.fitness)
        return Insertion("added")

    def rebuild(self, programs: Iterable[Program]) -> None:
        self._reset()
        for program in programs:
            self.tell(program)

    def best(self) -> Program | None:
        return self._leader

    def ask(self, n: int) -> list[ProposalRequest]:
        if n <= 0 or self._initial is None:
            return []
        if not self._wins:
            reason = "pareto: initial program (nothing scored yet)"
            return [ProposalRequest(self._initial, reason=reason, mode="reflect") for _ in range(n)]
        return [self._request() for _ in range(n)]

    def _request(self) -> ProposalRequest:
        if self._compress_due():
            self._compress_at = self._told
            self._asked["compress"] += 1
            leader = self._leader
            assert leader is not None
            why = f"pareto: compress: no gain in {self.stagnation()} evaluations (best mean {leader.fitness:.4g})"
            return ProposalRequest(leader, reason=why, mode="compress", island=leader.island)
        merging = len(self._wins) > 1 and self._rng.random() < self.config.merge_share
        parent = self._draw_parent()
        if merging:
            request = self._merge(parent)
            if request is not None:
                return request
        return self._reflect(parent)

    def _compress_due(self) -> bool:
        every = self.config.compress_after
        if every <= 0 or self._leader is None:
            return False
        since = max(self._improved_at, -1 if self._compress_at is None else self._compress_at)
        return self._told - since >= every

    def _draw_parent(self) -> Program:
        ids = list(self._wins)
        weights = [max(1, len(self._wins[pid])) for pid in ids]
        return self._candidates[self._rng.choices(ids, weights=weights)[0]]

    def _reflect(self, parent: Program) -> ProposalRequest:
        mine = self._scores[parent.id]
        rivals = []
        for pid in self._wins:
            if pid != parent.id:
                beaten_on = better_on(self._scores[pid], mine)
                if beaten_on:
                    rivals.append((-len(beaten_on), self._candidates[pid].seq, pid))
        shown = tuple(self._candidates[pid] for _, _, pid in sorted(rivals)[: self.config.inspirations])
        self._asked["reflect"] += 1
        why = (f"pareto: best on {len(self._wins[parent.id])} of {len(self._examples())} examples "
               f"(mean {parent.fitness:.4g}); {len(rivals)} front member(s) beat it on others")
        return ProposalRequest(parent, inspirations=shown, reason=why, mode="reflect", island=parent.island)

    def _merge(self, parent: Program) -> ProposalRequest | None:
        mine = self._scores[parent.id]
        partners, weights, edges = [], [], []
        for pid in self._wins:
            if pid == parent.id:
                continue
            theirs = better_on(self._scores[pid], mine)
            ours = better_on(mine, self._scores[pid])
            if theirs and ours:
                partners.append(pid)
                weights.append(len(theirs))
                edges.append((len(ours), len(theirs)))
        if not partners:
            return None
        k = self._rng.choices(range(len(partners)), weights=weights)[0]
        partner = self._candidates[partners[k]]
        self._asked["merge"] += 1
        why = (f"pareto: merge: the parent does better on {edges[k][0]} examples, "
               f"the other parent on {edges[k][1]}")
        return ProposalRequest(parent, inspirations=(partner,), reason=why, mode="merge", island=parent.island)

    # ---- the front ----------------------------------------------------------------------------

    def _examples(self) -> set[str]:
        return {key for scores in self._scores.values() for key in scores}

    def _best_scores(self) -> dict[str, float]:
        best: dict[str, float] = {}
        for scores in self._scores.values():
            for key, score in scores.items():
                if score > best.get(key, float("-inf")):
                    best[key] = score
        return best

    def _update_front(self) -> None:
        best = self._best_scores()
        wins = {
            pid: {key for key, score in scores.items() if score >= best[key] - _TIE}
            for pid, scores in self._scores.items()
        }
        self._leader = max(self._candidates.values(), key=lambda p: (p.fitness, -p.seq))
        for pid in [pid for pid, won in wins.items() if not won and pid != self._leader.id]:
            self._drop(pid)  # best scores only rise, so it can never win again
            del wins[pid]
        programs = self._candidates
        order = sorted(wins, key=lambda pid: (-len(wins[pid]), -programs[pid].fitness, programs[pid].seq))
        front: dict[str, set[str]] = {}
        for pid in order:  # a member is dominated only by one placed before it
            if pid == self._leader.id or not any(wins[pid] <= won for won in front.values()):
                front[pid] = wins[pid]
        self._wins = front

    def _drop(self, pid: str) -> None:
        self._candidates.pop(pid, None)
        self._scores.pop(pid, None)
        self._wins.pop(pid, None)
        if self._leader is not None and self._leader.id == pid:
            self._leader = max(self._candidates.values(), key=lambda p: (p.fitness, -p.seq), default=None)

    def _note_progress(self) -> None:
        if self._leader is None:
            return
        mark = (float(self._leader.fitness), sum(self._best_scores().values()))  # type: ignore[arg-type]
        if self._mark is None or mark[0] > self._mark[0] + _TIE or mark[1] > self._mark[1] + _TIE:
            self._mark = mark
            self._improved_at = self._told

    def stagnation(self) -> int:
        """Evaluations told since the last gain."""
        return self._told - self._improved_at

    def front(self) -> list[Program]:
        """The front members, most examples won first."""
        return [self._candidates[pid] for pid in self._wins]

    def snapshot(self) -> dict[str, Any]:
        """The front for the viewer.

        ``{"kind": "pareto", "members": [{"program_id", "parent_id", "mean", "wins"}, ...] (most
        examples won first), "examples": int (examples seen), "best": program id | None,
        "stagnation": evaluations since the last gain, "told": int, "asked": {"reflect",
        "merge", "compress"} (requests of each mode since this process started)}``.
        """
        return {
            "kind": self.name,
            "members": [
                {"program_id": p.id, "parent_id": p.parent_id, "mean": p.fitness, "wins": len(self._wins[p.id])}
                for p in self.front()
            ],
            "examples": len(self._examples()),
            "best": None if self._leader is None else self._leader.id,
            "stagnation": self.stagnation(),
            "told": self._told,
            "asked": {mode: self._asked[mode] for mode in ("reflect", "merge", "compress")},
        }


def _scores(program: Program) -> dict[str, float]:
    """The program's validation scores; its fitness as one pseudo-example when it has no examples."""
    if program.examples:
        return validation_scores(program)
    return {FITNESS_KEY: float(program.fitness)} if program.is_correct else {}


def _options(config: Any) -> ParetoConfig:
    """The strategy's options: `config.options` (a ParetoConfig or a mapping), defaults without it."""
    options = getattr(config, "options", None)
    if options is None:
        return ParetoConfig()
    if isinstance(options, ParetoConfig):
        return options
    if isinstance(options, BaseModel):
        options = options.model_dump()
    return ParetoConfig.model_validate(options)
