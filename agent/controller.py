"""The evolution loop: proposals and evaluations as two bounded, concurrent stages.

Proposal workers ask the strategy for a parent, ask a proposer for a child, record the child
in the store and queue it; evaluation workers run queued children through the evaluator (in
threads: the sandbox blocks) and tell the strategy. The queue is bounded, so proposals run
ahead of evaluations by at most one batch and neither stage waits for the other when both can
work.

Novelty: a proposal whose source is an exact copy of a stored program, or a near-duplicate of
one (archives/novelty.py, threshold `search.novelty.similarity`), is stored with status
"duplicate" and an error naming its twin, is not evaluated, and the worker asks again.

Repeats: a request with `reevaluate` queues the stored program itself; its result is recorded
as another attempt (`Store.add_attempt`) and counts against the evaluation budget.

Crash safety: a child is stored as "pending" before it is evaluated, and its result is stored
in one transaction. After `kill -9`, `resume` re-evaluates the pending children and rebuilds
the strategy from the evaluated ones, so only the work in flight is repeated and nothing is
duplicated or orphaned.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace
from typing import Protocol

from agent.proposers import BudgetExceeded, Proposal, Proposer
from archives.novelty import NoveltyIndex
from archives.records import Program, ProposalRequest, Status, source_hash
from archives.repeats import FITNESS_EVALS
from archives.store import Store
from archives.strategy import Strategy
from evaluators.result import EvalResult


class Evaluator(Protocol):
    def evaluate(self, source: str, *, label: str = "") -> EvalResult:
        ...


class Reporter(Protocol):
    """Receives progress events; the CLI draws them, tests may record them."""

    def evaluated(self, program: Program, state: "LoopState") -> None:
        ...

    def message(self, text: str) -> None:
        ...


class SilentReporter:
    def evaluated(self, program: Program, state: "LoopState") -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class LoopState:
    """Counters the loop keeps while it runs (the store holds the truth)."""

    budget: int
    evaluated: int = 0
    reserved: int = 0  # proposals under way or queued that may become evaluations
    best_fitness: float | None = None
    spent: float = 0.0
    started: float = 0.0
    stop_reason: str | None = None
    fruitless: int = 0  # proposals in a row that produced nothing to evaluate

    @property
    def evals_per_minute(self) -> float:
        elapsed = time.monotonic() - self.started
        return 60.0 * self.evaluated / elapsed if elapsed > 0 else 0.0


_FRUITLESS_LIMIT = 40


@dataclass(frozen=True)
class _Repeat:
    """A queued repeat evaluation of a stored program."""

    program: Program


class Controller:
    def __init__(
        self,
        *,
        store: Store,
        run_id: str,
        strategy: Strategy,
        proposer: Proposer,
        evaluator: Evaluator,
        evaluations: int,
        proposal_workers: int,
        evaluation_workers: int,
        wall_seconds: float | None = None,
        spent: callable = lambda: 0.0,
        reporter: Reporter | None = None,
        novelty: NoveltyIndex | None = None,
    ):
        self._store = store
        self._run_id = run_id
        self._strategy = strategy
        self._proposer = proposer
        self._evaluator = evaluator
        self._proposal_workers = proposal_workers
        self._evaluation_workers = evaluation_workers
        self._wall_seconds = wall_seconds
        self._spent = spent
        self._reporter = reporter or SilentReporter()
        self._novelty = novelty
        self.state = LoopState(budget=evaluations)
        self._told = asyncio.Event()
        self._snapshot_at = float("-inf")

    # ----- setup -------------------------------------------------------------------------

    async def start(self, initial_source: str | None) -> None:
        """Prepare a new run (evaluate the initial program) or a resumed one (rebuild, re-evaluate pending)."""
        self.state.started = time.monotonic()
        programs = self._store.programs(self._run_id, order="evaluated")
        evaluated = [p for p in programs if p.status in Status.EVALUATED]
        self._strategy.rebuild(evaluated)
        repeats = sum(max(0, int(p.metrics.get(FITNESS_EVALS, 1)) - 1) for p in evaluated)
        self.state.evaluated = len(evaluated) + repeats
        if self._novelty is not None:
            for p in programs:
                if p.status not in (Status.APPLY_FAILED, Status.DUPLICATE):
                    self._novelty.add(p.id, p.source, strict=p.status in Status.FAILED)
        self._update_best()
        pending = [p for p in programs if p.status == Status.PENDING]
        if not programs:
            if initial_source is None:
                raise ValueError("a new run needs the initial program")
            initial = self._store.add_program(
                Program(id=_new_id(), run_id=self._run_id, source=initial_source, proposer="initial"),
                reason="initial program",
            )
            if self._novelty is not None:
                self._novelty.add(initial.id, initial.source)
            pending = [initial]
        elif pending:
            self._reporter.message(f"re-evaluating {len(pending)} program(s) left in flight by the last session")
        if pending:
            await asyncio.gather(*(self._evaluate(p) for p in pending))
        initial = next((p for p in self._store.programs(self._run_id, limit=1)), None)
        if initial is not None and initial.status != Status.CORRECT and self.state.evaluated <= 1:
            self._reporter.message(f"the initial program did not pass: {initial.error or initial.status}")

    # ----- the loop ----------------------------------------------------------------------

    async def run(self) -> str:
        """Run until a budget is spent; returns the reason the loop stopped."""
        queue: asyncio.Queue[Program | None] = asyncio.Queue(maxsize=self._evaluation_workers)
        evaluators = [asyncio.create_task(self._evaluation_worker(queue)) for _ in range(self._evaluation_workers)]
        proposers = [asyncio.create_task(self._proposal_worker(queue)) for _ in range(self._proposal_workers)]
        try:
            await asyncio.gather(*proposers)
            for _ in evaluators:
                await queue.put(None)
            await asyncio.gather(*evaluators)
        finally:
            for task in proposers + evaluators:
                task.cancel()
        return self.state.stop_reason or "budget: evaluations"

    def _may_propose(self) -> bool:
        state = self.state
        if state.stop_reason:
            return False
        if state.evaluated + state.reserved >= state.budget:
            return False
        if self._wall_seconds is not None and time.monotonic() - state.started >= self._wall_seconds:
            state.stop_reason = "budget: wall time"
            return False
        if state.fruitless >= _FRUITLESS_LIMIT:
            state.stop_reason = f"stopped: the last {state.fruitless} proposals gave nothing new to evaluate"
            return False
        return True

    async def _proposal_worker(self, queue: asyncio.Queue) -> None:
        while self._may_propose():
            requests = self._strategy.ask(1)
            if not requests:
                await self._wait_for_tell()
                continue
            self.state.reserved += 1
            queued = False
            try:
                if requests[0].reevaluate:
                    self.state.fruitless = 0
                    await queue.put(_Repeat(requests[0].parent))
                    queued = True
                else:
                    queued = await self._propose_one(requests[0], queue)
            except BudgetExceeded:
                self.state.stop_reason = "budget: dollars"
            finally:
                if not queued:
                    self.state.reserved -= 1
                    discard = getattr(self._strategy, "discard", None)
                    if discard is not None:
                        discard(requests[0])

    async def _propose_one(self, request: ProposalRequest, queue: asyncio.Queue) -> bool:
        parent = request.parent
        previous = tuple(
            p.error for p in self._store.failed_children(parent.id, limit=3) if p.error
        )
        proposal = await self._proposer.propose(request, previous)
        self.state.spent = self._spent()
        child = self._child_of(request, proposal)
        if proposal.source is None:
            child = self._store.add_program(replace(child, status=Status.APPLY_FAILED), reason=request.reason)
            self._link_call(proposal, child)
            self.state.fruitless += 1
            return False
        twin = self._store.find_by_hash(self._run_id, source_hash(proposal.source))
        if twin is not None:
            child = self._store.add_program(
                replace(child, status=Status.DUPLICATE, error=f"same source as program {twin.id[:8]}"),
                reason=request.reason,
            )
            self._link_call(proposal, child)
            self.state.fruitless += 1
            return False
        fingerprint = near = None
        if self._novelty is not None:
            fingerprint = self._novelty.fingerprint(proposal.source)
            near = self._novelty.near_twin(fingerprint)
        if near is not None:
            twin_id, similarity = near
            error = f"near-duplicate of program {twin_id[:8]} (similarity {similarity:.3f} >= {self._novelty.threshold:g})"
            child = self._store.add_program(replace(child, status=Status.DUPLICATE, error=error), reason=request.reason)
            self._link_call(proposal, child)
            self.state.fruitless += 1
            return False
        if self.state.stop_reason is not None:  # a budget ran out while this proposal was made
            if proposal.llm_call is not None:
                self._store.add_llm_call(proposal.llm_call)
            return False
        child = self._store.add_program(child, reason=request.reason)
        if self._novelty is not None:
            self._novelty.add(child.id, fingerprint)
        self._link_call(proposal, child)
        self.state.fruitless = 0
        await queue.put(child)
        return True

    def _child_of(self, request: ProposalRequest, proposal: Proposal) -> Program:
        parent = request.parent
        return Program(
            id=_new_id(),
            run_id=self._run_id,
            source=proposal.source or "",
            parent_id=parent.id,
            generation=parent.generation + 1,
            status=Status.PENDING,
            diff=proposal.diff,
            error=proposal.error,
            proposer=proposal.proposer,
            island=request.island,
            feedback=proposal.description,
        )

    def _link_call(self, proposal: Proposal, child: Program) -> None:
        if proposal.llm_call is not None:
            self._store.add_llm_call(replace(proposal.llm_call, program_id=child.id))

    async def _evaluation_worker(self, queue: asyncio.Queue) -> None:
        while True:
            child = await queue.get()
            if child is None:
                return
            try:
                if isinstance(child, _Repeat):
                    await self._evaluate(child.program, repeat=True)
                else:
                    await self._evaluate(child)
            finally:
                self.state.reserved -= 1

    async def _evaluate(self, program: Program, repeat: bool = False) -> Program:
        result = await asyncio.to_thread(self._evaluator.evaluate, program.source, label=program.id[:8])
        if repeat:
            done = self._store.add_attempt(program.id, result)
        else:
            done = self._store.finish_program(program.id, result)
        if self._novelty is not None and done.status in Status.FAILED:
            self._novelty.add(done.id, done.source, strict=True)
        self._strategy.tell(done)
        self._save_snapshot()
        self.state.evaluated += 1
        self._update_best(None if repeat else done)
        self._told.set()
        self._reporter.evaluated(done, self.state)
        return done

    def _save_snapshot(self) -> None:
        """Store the strategy's own view for the viewer, at most once a second (and at the end)."""
        snapshot = getattr(self._strategy, "snapshot", None)
        now = time.monotonic()
        if snapshot is None or now - self._snapshot_at < 1.0:
            return
        self._snapshot_at = now
        self._store.set_strategy_state(self._run_id, snapshot())

    def finish(self) -> None:
        """Store the final snapshot (called once the loop ended, however it ended)."""
        self._snapshot_at = float("-inf")
        self._save_snapshot()

    async def _wait_for_tell(self) -> None:
        self._told.clear()
        try:
            await asyncio.wait_for(self._told.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            pass

    def _update_best(self, program: Program | None = None) -> None:
        if program is None:
            best = self._strategy.best()
            self.state.best_fitness = best.fitness if best else None
        elif program.is_correct and (self.state.best_fitness is None or program.fitness > self.state.best_fitness):
            self.state.best_fitness = program.fitness


def _new_id() -> str:
    return uuid.uuid4().hex
