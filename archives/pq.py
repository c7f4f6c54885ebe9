"""A priority queue of candidates with an epsilon-net memory (after POLCA).

- **Memory.** Correct programs, each at least `epsilon` away from every other member. A new
  program farther than `epsilon` from all members joins ("added"); one within `epsilon`
  competes with its nearest member and takes its place only if its mean fitness is higher
  ("improved"), else it is dropped ("not_added"). Beyond `capacity` one member leaves: with
  ``eviction: crowding`` (the default) the lower mean of the two closest members, so the memory
  keeps programs that are genuinely different, not the `capacity` best variants of one; with
  ``fitness`` the lowest mean. ``epsilon: auto`` (the default) adapts the radius to the observed
  distances: 0 until the memory is full, then the smallest distance between two members.
- **Distance.** Over behaviour (the default, ``distance: auto``, whenever both programs report
  descriptors or metrics other than the score): the Euclidean distance of the behaviour values,
  each scaled by its observed range, divided by the square root of their number; when neither
  reports any, the same over the programs' numeric constants; over code (1 - MinHash Jaccard of
  token shingles) with ``distance: code``. Text distance is not behavioural distance (one
  changed constant moves it by about 0.25 whatever the constant's new value). See
  archives/behaviour.py.
- **Confidence bounds.** Each program's fitness is a mean over `n` evaluations; its bounds are
  ``mean ± confidence * noise / sqrt(n)``, where `noise` is the pooled standard deviation of
  all programs evaluated more than once (zero, so no bounds, while none was).
- **Repeats.** Noisy evaluations are repeated before a mean is trusted: the leader (the
  member with the highest mean) is evaluated again while it has fewer than `max_evaluations`
  and its lower bound is below another member's upper bound, i.e. while its lead is not
  certain. Before any repeat, the leader is evaluated twice once, to learn whether
  evaluations are noisy at all; with no noise there are no more repeats. Repeats take at most
  `reevaluate_share` of the evaluations.
- **Parents.** While the leader's mean still rises clearly (by more than 1% of the spread of
  the members' means within `explore_patience` evaluations), parents come from the
  `climb_pool` best members (1: the leader, as greedy). Once it stalls, exploration: with
  chance `explore_share` any member, each alike (times its freshness), so different programs
  keep getting children while they are worse than the best; otherwise one of the `pool` best.
  Both draws from the best are weighted 1/rank and by freshness (as in MAP-Elites: a member
  whose children keep failing or being dropped fades).
- **Summaries.** `memory()` lists the members for agent/summarizer.py, which turns them into
  short recommendations for the next prompts every few evaluations (with an LLM only).

`best()` is the program with the highest lower bound (the highest mean when evaluations are
not noisy). Rebuilding from the stored programs, each with the mean of its attempts, gives the
same memory as telling them in that order.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

from archives.behaviour import Distances
from archives.freshness import Freshness
from archives.records import Insertion, Program, ProposalRequest
from archives.repeats import FITNESS_EVALS, FitnessStats, fitness_stats

_NOISE_FLOOR = 1e-12
_CLEAR_GAIN = 0.01


@dataclass(frozen=True)
class Member:
    """A member of the memory with its fitness statistics and bounds."""

    program: Program
    stats: FitnessStats
    lower: float
    upper: float


class PriorityQueue:
    """The "pq" strategy (see the module docstring)."""

    name = "pq"

    def __init__(self, config: Any, rng: random.Random) -> None:
        self.config = config.pq
        self._rng = rng
        self._language = ""  # the strategy does not know the task's language: comments count
        self._reset()

    def _reset(self) -> None:
        self._members: dict[str, Program] = {}  # id -> latest record, in admission order
        self._stats: dict[str, FitnessStats] = {}  # every correct program told
        self._programs: dict[str, Program] = {}
        self._initial: Program | None = None
        self._fresh = Freshness()  # children pending, barren and failed, per parent
        self._pending_repeats: Counter[str] = Counter()
        self._distances = Distances(self.config.distance, self._language)
        self._mark: float | None = None  # the leader's mean at its last clear improvement
        self._improved_at = 0  # evaluations told by then
        self._counts: Counter[str] = Counter()

    # ---- ask / tell ---------------------------------------------------------------------------

    def tell(self, program: Program) -> Insertion:
        again = program.id in self._programs
        self._programs[program.id] = program
        self._counts["told"] += 1
        if again:
            return self._retell(program)
        if self._initial is None and program.parent_id is None and program.source:
            self._initial = program
        earlier = max(0, int(program.metrics.get(FITNESS_EVALS, 1)) - 1)  # repeats made before a resume
        self._counts["repeats"] += earlier
        self._counts["repeats_asked"] += earlier
        parent = program.parent_id
        self._fresh.release(parent)
        if not program.is_correct:
            self._fresh.incorrect(program)
            return Insertion("not_added")
        self._stats[program.id] = fitness_stats(program)  # type: ignore[assignment]
        self._distances.note(program)
        insertion = self._admit(program)
        self._note_progress()
        if insertion.status == "not_added":
            self._fresh.dropped(parent)
        return insertion

    def _retell(self, program: Program) -> Insertion:
        """A repeat evaluation came back: update the mean, or drop a program that now fails."""
        self._counts["repeats"] += 1
        if self._pending_repeats[program.id] > 0:
            self._pending_repeats[program.id] -= 1
        if not program.is_correct:
            self._stats.pop(program.id, None)
            self._members.pop(program.id, None)
            return Insertion("not_added")
        previous = self._stats.get(program.id)
        self._stats[program.id] = fitness_stats(program)  # type: ignore[assignment]
        if program.id in self._members:
            self._members[program.id] = program
            self._note_progress()
            return Insertion("improved", previous_fitness=None if previous is None else previous.mean)
        return Insertion("not_added")

    def discard(self, request: ProposalRequest) -> None:
        """A request produced nothing to evaluate: release what it reserved."""
        pid = request.parent.id
        if not request.reevaluate:
            self._fresh.release(pid)
        elif self._pending_repeats[pid] > 0:
            self._pending_repeats[pid] -= 1

    def ask(self, n: int) -> list[ProposalRequest]:
        if n <= 0 or self._initial is None:
            return []
        requests = []
        for _ in range(n):
            if not self._members:
                requests.append(ProposalRequest(self._initial, reason="pq: initial program (nothing correct yet)"))
                continue
            repeat = self._repeat_request()
            if repeat is not None:
                self._pending_repeats[repeat.parent.id] += 1
                self._counts["repeats_asked"] += 1
                requests.append(repeat)
                continue
            parent, reason = self._select_parent()
            self._fresh.asked(parent.id)
            requests.append(ProposalRequest(parent, reason=reason, island=parent.island))
        return requests

    def rebuild(self, programs: Iterable[Program]) -> None:
        self._reset()
        for program in programs:
            self.tell(program)

    @property
    def told(self) -> int:
        """Evaluations told so far (repeats included)."""
        return self._counts["told"]

    def best(self) -> Program | None:
        if not self._stats:
            return None
        noise = self.noise() or 0.0
        beta = self.config.confidence
        order = {pid: i for i, pid in enumerate(self._stats)}
        pid = max(self._stats, key=lambda p: (self._lower(self._stats[p], noise, beta), -order[p]))
        return self._programs[pid]

    # ---- memory -------------------------------------------------------------------------------

    def epsilon(self) -> float:
        """The admission radius now: the configured number, or with ``epsilon: auto`` the
        smallest distance between two members once the memory is full (0 until then), so the
        memory always holds its `capacity` most mutually distant programs."""
        eps = self.config.epsilon
        if eps != "auto":
            return float(eps)
        if len(self._members) < self.config.capacity:
            return 0.0
        closest = self._closest_pair()
        return 0.0 if closest is None else closest[0]

    def _admit(self, program: Program) -> Insertion:
        eps = self.epsilon()
        near: tuple[float, str] | None = None
        for mid in self._members:
            d = self.distance(program, self._members[mid])
            if d <= eps and (near is None or d < near[0]):
                near = (d, mid)
        mean = self._stats[program.id].mean
        if near is None:
            self._members[program.id] = program
            self._counts["added"] += 1
            if len(self._members) > self.config.capacity:
                worst = self._leaver()
                del self._members[worst]
                self._counts["evicted"] += 1
                if worst == program.id:
                    return Insertion("not_added")
            return Insertion("added")
        rival = near[1]
        previous = self._stats[rival].mean
        if mean > previous:
            del self._members[rival]
            self._members[program.id] = program
            self._counts["replaced"] += 1
            return Insertion("improved", previous_fitness=previous)
        self._counts["rejected"] += 1
        return Insertion("not_added", previous_fitness=previous)

    def _leaver(self) -> str:
        """The member that leaves a memory over capacity: the lowest mean ("fitness"), or the
        lower mean of the two closest members ("crowding"), never the best."""
        if self.config.eviction == "fitness":
            return min(self._members, key=lambda m: self._stats[m].mean)
        closest = self._closest_pair()
        assert closest is not None
        _, a, b = closest
        return a if self._stats[a].mean < self._stats[b].mean else b

    def _closest_pair(self) -> tuple[float, str, str] | None:
        return self._distances.closest_pair(self._members)

    def distance(self, a: Program, b: Program) -> float:
        """Distance between two told programs (archives/behaviour.py): over behaviour with
        ``distance: descriptors``, and with ``auto`` whenever both report some; over their
        constants with ``auto`` when neither reports any; else over code."""
        return self._distances.between(a, b)

    def distance_kind(self) -> str:
        """What distances between members are over now: "behaviour", "constants" or "code"."""
        return self._distances.kind(self._members.values())

    # ---- bounds and repeats -------------------------------------------------------------------

    def noise(self) -> float | None:
        """Pooled standard deviation of repeated evaluations; None before any repeat."""
        dof, ss = 0, 0.0
        for s in self._stats.values():
            if s.n >= 2 and s.sd is not None:
                dof += s.n - 1
                ss += (s.n - 1) * s.sd**2
        if dof == 0:
            return None
        return math.sqrt(ss / dof)

    @staticmethod
    def _lower(s: FitnessStats, noise: float, beta: float) -> float:
        return s.mean - beta * noise / math.sqrt(s.n)

    def members(self) -> list[Member]:
        """The queue: members by mean fitness, highest first."""
        noise = self.noise() or 0.0
        beta = self.config.confidence
        out = []
        for pid, program in self._members.items():
            s = self._stats[pid]
            half = beta * noise / math.sqrt(s.n)
            out.append(Member(program, s, s.mean - half, s.mean + half))
        # Ties: more evaluations first, then the earlier stored (admission order where unset).
        return sorted(out, key=lambda m: (-m.stats.mean, -m.stats.n, m.program.seq))

    memory = members

    def _repeat_request(self) -> ProposalRequest | None:
        cfg = self.config
        if cfg.max_evaluations < 2:
            return None
        asked = self._counts["repeats_asked"]
        if asked + 1 > cfg.reevaluate_share * (self._counts["told"] + sum(self._fresh.pending.values()) + 1):
            return None
        noise = self.noise()
        members = self.members()
        leader = max(members, key=lambda m: m.stats.mean)
        if noise is None:  # never repeated yet: learn whether evaluations are noisy at all
            if self._pending_repeats[leader.program.id] == 0:
                return self._repeat(leader, "probe whether evaluations are noisy")
            return None
        if noise <= _NOISE_FLOOR * (1.0 + abs(leader.stats.mean)):
            return None
        if leader.stats.n + self._pending_repeats[leader.program.id] >= cfg.max_evaluations:
            return None
        others = [m.upper for m in members if m.program.id != leader.program.id]
        if others and leader.lower < max(others):
            return self._repeat(leader, "the leader's lead is not yet certain")
        return None

    def _repeat(self, member: Member, why: str) -> ProposalRequest:
        s = member.stats
        sd = "" if s.sd is None else f" ± {s.sd:.2g}"
        return ProposalRequest(
            member.program,
            reason=f"pq: re-evaluate ({why}): mean {s.mean:.4g}{sd} over {s.n}",
            island=member.program.island,
            reevaluate=True,
        )

    # ---- parents ------------------------------------------------------------------------------

    def _note_progress(self) -> None:
        """Remember when the leader's mean last rose clearly: by more than `_CLEAR_GAIN` of the
        spread of the members' means (any rise while there is no spread)."""
        means = [self._stats[m].mean for m in self._members]
        if not means:
            return
        leader, spread = max(means), max(means) - min(means)
        if self._mark is None or leader > self._mark + _CLEAR_GAIN * spread:
            self._mark = leader
            self._improved_at = self._counts["told"]

    def stagnation(self) -> int:
        """Evaluations told since the leader's mean last rose clearly."""
        return self._counts["told"] - self._improved_at

    def exploring(self) -> bool:
        """Whether exploration is on: after `explore_patience` evaluations without a clear rise."""
        return self.stagnation() >= self.config.explore_patience

    def _select_parent(self) -> tuple[Program, str]:
        members = self.members()
        if len(members) > 1 and self.exploring() and self._rng.random() < self.config.explore_share:
            weights = [self._fresh.weight(m.program.id) for m in members]
            i = self._rng.choices(range(len(members)), weights=weights)[0]
            m = members[i]
            self._counts["explored"] += 1
            why = (f"pq: explore: member {i + 1} of {len(members)}, drawn uniformly "
                   f"(mean {m.stats.mean:.4g} over {m.stats.n})")
            return m.program, why
        pool = members[: self.config.pool if self.exploring() else self.config.climb_pool]
        weights = [self._fresh.weight(m.program.id) / (rank + 1) for rank, m in enumerate(pool)]
        i = self._rng.choices(range(len(pool)), weights=weights)[0]
        m = pool[i]
        bound = "" if m.upper == m.stats.mean else f" ± {m.upper - m.stats.mean:.2g}"
        why = f"pq: rank {i + 1} of {len(self._members)} (mean {m.stats.mean:.4g}{bound} over {m.stats.n})"
        return m.program, why

    # ---- the viewer's view --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The queue for the viewer.

        ``{"kind": "pq", "distance": "code" | "behaviour" (what distances are over now),
        "epsilon": float (the admission radius now), "epsilon_rule": "auto" | "fixed", "noise_sd":
        float | None, "members": [{"program_id", "parent_id", "mean", "n", "sd", "lower",
        "upper", "pending", "barren", "failed"}, ...] (the queue: highest mean first),
        "best": program id | None, "stagnation": evaluations since the leader last rose clearly,
        "exploring": bool, "stats": {"told", "added", "replaced", "rejected",
        "evicted", "explored", "repeats", "repeats_asked"}}``.
        """
        best = self.best()
        return {
            "kind": "pq",
            "distance": self.distance_kind(),
            "epsilon": self.epsilon(),
            "epsilon_rule": "auto" if self.config.epsilon == "auto" else "fixed",
            "noise_sd": self.noise(),
            "members": [
                {
                    "program_id": m.program.id,
                    "parent_id": m.program.parent_id,
                    "mean": m.stats.mean,
                    "n": m.stats.n,
                    "sd": m.stats.sd,
                    "lower": m.lower,
                    "upper": m.upper,
                    "pending": self._fresh.pending[m.program.id] + self._pending_repeats[m.program.id],
                    "barren": self._fresh.barren[m.program.id],
                    "failed": self._fresh.failed[m.program.id],
                }
                for m in self.members()
            ],
            "best": None if best is None else best.id,
            "stagnation": self.stagnation(),
            "exploring": self.exploring(),
            "stats": {k: self._counts[k] for k in
                      ("told", "added", "replaced", "rejected", "evicted", "explored", "repeats", "repeats_asked")},
        }
