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

Budgets and failures: at the wall budget the proposals in flight are cancelled with their LLM
calls (agent/proposal_limits.py). When the dollar budget cannot pay for another call, no new
proposal starts, and those already paid for are evaluated. Failures of one external cause in
a row (a refused key, no quota, an unknown model, an unreachable server) stop the run with
`RunFailed`; so do proposals that stopped buying anything: 40 in a row that gave nothing new to
evaluate, or the failure memory with nothing left to change (agent/failure_memory.py).

Crash safety: a child is stored as "pending" before it is evaluated, and its result is stored
in one transaction. After `kill -9`, `resume` re-evaluates the pending children and rebuilds
the strategy from the evaluated ones, so only the work in flight is repeated and nothing is
duplicated or orphaned. A sandbox backend lost mid-evaluation (`SandboxUnavailable`, e.g. the
Docker daemon stopped) judged nothing: the program stays pending and is evaluated again on the
backend that took over (sandbox/fallback.py), or the run stops with `RunFailed`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, replace

from agent.failure_memory import FailureMemory, RepeatedFailure
from agent.failures import RunFailed
from agent.llm import LLMError
from agent.loop_state import Evaluator, LoopState, Reporter, SilentReporter
from agent.proposal_limits import ProposalLimits
from agent.proposers import BudgetExceeded, Proposal, Proposer, TunerProposer
from archives.novelty import NoveltyIndex
from archives.records import EvalResult, Program, ProposalRequest, source_hash, Status
from archives.repeats import FITNESS_EVALS
from archives.store import Store
from archives.strategy import Strategy
from sandbox.base import SandboxError, SandboxUnavailable


_FRUITLESS_LIMIT = 40
_OTHER_PARENT_ASKS = 3  # asks for another parent when the failure memory advises against one
_SETTLE_SECONDS = 5.0  # the longest a cancelled worker is waited for when the loop ends
JUDGE_ERROR = "judge error:"  # how a program the evaluator failed on is stored (Controller._judge_error)
JUDGE_ERROR_STREAK = 5  # judge errors in a row that stop the run: the evaluator, not the programs, is broken


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
        failures: FailureMemory | None = None,
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
        self._failures = failures  # the proposer's (agent/failure_memory.py): every proposal's outcome is recorded
        self.state = LoopState(budget=evaluations)
        self._limits = ProposalLimits(wall_seconds, lambda: self.state.started)
        self._told = asyncio.Event()
        self._snapshot_at = float("-inf")
        self._parents: dict[str, Program] = {}  # child id -> its parent, until the child is evaluated
        self._judge_streak = 0  # judge errors in a row: the evaluator itself is broken past JUDGE_ERROR_STREAK
        self._futile: str | None = None  # why proposals stopped buying anything, when that stopped the run

    # ----- setup -------------------------------------------------------------------------

    async def start(self, initial_source: str | None) -> None:
        """Prepare a new run (evaluate the initial program) or a resumed one (rebuild, re-evaluate pending)."""
        self.state.started = time.monotonic()
        programs = self._store.programs(self._run_id, order="evaluated")
        evaluated = [p for p in programs if p.status in Status.EVALUATED]
        self._strategy.rebuild([p for p in evaluated if not _is_judge_error(p)])  # as _judge_error left them
        repeats = sum(max(0, int(p.metrics.get(FITNESS_EVALS, 1)) - 1) for p in evaluated)
        self.state.evaluated = len(evaluated) + repeats
        if self._novelty is not None:
            for p in programs:
                if p.status not in (Status.APPLY_FAILED, Status.DUPLICATE):
                    self._novelty.add(p.id, p.source, strict=p.status in Status.FAILED)
        if self._failures is not None:
            self._failures.rebuild(programs)
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
        results = await self._evaluate_pending(pending) if pending else {}
        initial = next((p for p in self._store.programs(self._run_id, limit=1)), None)
        if initial is not None and initial.source in results:  # evaluated by this session
            self._check_initial(initial, results[initial.source])
        if initial is not None and initial.status != Status.CORRECT and self.state.evaluated <= 1:
            self._reporter.message(f"the initial program did not pass: {initial.error or initial.status}")

    async def _evaluate_pending(self, pending: list[Program]) -> dict[str, EvalResult]:
        """Evaluate stored pending programs, at most `evaluation_workers` at once; their results by source
        (start() reads whose fault a failure of the initial program was)."""
        slots = asyncio.Semaphore(max(1, self._evaluation_workers))
        results: dict[str, EvalResult] = {}

        async def one(program: Program) -> None:
            async with slots:
                results[program.source] = (await self._evaluate(program))[1]

        await asyncio.gather(*(one(p) for p in pending))
        return results

    def _check_initial(self, initial: Program, result: EvalResult) -> None:
        """Stop a run that cannot do its job from the initial program's result (RunFailed).

        An evaluator error (the evaluator is broken, not the program) stops it whatever the
        proposer. A program that merely fails goes on when an LLM can rewrite it; the built-in
        tuner alone only changes tunable constants and cannot repair it, so that stops too.
        """
        if result.evaluator_error:
            raise RunFailed(f"the evaluator failed on the initial program: {result.error or result.status}")
        if initial.status != Status.CORRECT and isinstance(self._proposer, TunerProposer):
            raise RunFailed(
                f"the initial program did not pass ({initial.error or initial.status}) and no LLM is configured: "
                "the built-in tuner only changes tunable constants and cannot repair it; fix the program, "
                "or set llm.models in the task file or pass --model"
            )

    # ----- the loop ----------------------------------------------------------------------

    async def run(self) -> str:
        """Run until a budget is spent; returns the reason the loop stopped.

        Raises `RunFailed` when the LLM cannot be used (failures of one external cause in a
        row, agent/llm/streaks.py) or its proposals stopped buying anything (`_stop_futile`),
        once the proposals in flight are cancelled and the children already queued are evaluated.
        """
        queue: asyncio.Queue[Program | None] = asyncio.Queue(maxsize=self._evaluation_workers)
        evaluators = [asyncio.create_task(self._evaluation_worker(queue)) for _ in range(self._evaluation_workers)]
        proposers = [asyncio.create_task(self._proposal_worker(queue)) for _ in range(self._proposal_workers)]
        try:
            await _unless_a_worker_fails(self._stages(queue, proposers, evaluators), evaluators)
        finally:
            await _cancel_and_settle(proposers + evaluators)
        if self._limits.failure is not None:
            raise self._limits.failure
        if self._futile is not None:
            raise RunFailed(self._futile)
        return self.state.stop_reason or "budget: evaluations"

    async def _stages(self, queue: asyncio.Queue, proposers: list[asyncio.Task], evaluators: list[asyncio.Task]) -> None:
        """Proposals until a budget stops them, then the evaluations still queued."""
        await asyncio.gather(*proposers)
        for _ in evaluators:
            await queue.put(None)
        await asyncio.gather(*evaluators)

    def _may_propose(self) -> bool:
        state = self.state
        if state.stop_reason:
            return False
        if state.evaluated + state.reserved >= state.budget:
            return False
        if self._limits.wall_over():
            state.stop_reason = "budget: wall time"
            return False
        if state.fruitless >= _FRUITLESS_LIMIT:
            if isinstance(self._proposer, TunerProposer):  # no LLM, nothing paid: the tuner's values are used up
                state.stop_reason = state.stop_reason or (f"stopped: the tuner found nothing untried in its last "
                                                          f"{state.fruitless} proposals")
            else:
                self._stop_futile(f"stopped: the last {state.fruitless} proposals gave nothing new to evaluate")
            return False
        return True

    def _stop_futile(self, line: str) -> None:
        """Stop a run whose proposals stopped buying anything (unless another stop came first):
        it could not do its job, so `run` raises RunFailed with `line`, not a budget's end."""
        if self.state.stop_reason is None:
            self.state.stop_reason = self._futile = line

    async def _proposal_worker(self, queue: asyncio.Queue) -> None:
        while self._may_propose():
            requests = self._another_parent(self._strategy.ask(1))
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
                    self.state.proposing += 1
                    try:
                        queued = await self._propose_one(requests[0], queue)
                    finally:
                        self.state.proposing -= 1
            except BudgetExceeded as exc:
                self.state.stop_reason = self.state.stop_reason or _dollars_spent(exc)
            except RepeatedFailure as exc:  # the failure memory has nothing left to change
                self._stop_futile(str(exc))
            finally:
                if not queued:
                    self.state.reserved -= 1
                    discard = getattr(self._strategy, "discard", None)
                    if discard is not None:
                        discard(requests[0])
            if not queued and self.state.reserved > self.state.proposing:
                # Nothing new came of it, and the strategy learns nothing until an evaluation
                # ends: asking again at once would only repeat the same parents (with a fast LLM,
                # dozens of duplicates that end the run as fruitless before anything is evaluated).
                await self._wait_for_tell()

    def _another_parent(self, requests: list[ProposalRequest]) -> list[ProposalRequest]:
        """Ask again, a few times at most, while the failure memory advises against the parent
        (the strategy may have no other: then the advised-against one is proposed from)."""
        for _ in range(_OTHER_PARENT_ASKS):
            if not requests or requests[0].reevaluate or self._failures is None:
                return requests
            if not self._failures.avoids(requests[0].parent.id):
                return requests
            discard = getattr(self._strategy, "discard", None)
            if discard is not None:
                discard(requests[0])
            requests = self._strategy.ask(1) or requests
        return requests

    def _remember(self, child: Program) -> None:
        """Tell the failure memory what a proposal came to (again once it is evaluated)."""
        if self._failures is not None:
            self._failures.record(child)

    async def _propose_one(self, request: ProposalRequest, queue: asyncio.Queue) -> bool:
        parent = request.parent
        previous = tuple(
            p.error for p in self._store.failed_children(parent.id, limit=3) if p.error
        )
        proposal = await self._limits.bounded(self._proposer.propose(request, previous))
        self.state.spent = self._spent()
        if proposal is None:  # cut short: the wall budget ran out, or the LLM cannot be used
            if self.state.stop_reason is None and self._limits.wall_over():
                self.state.stop_reason = "budget: wall time"
            return False
        call = proposal.llm_call
        if call is not None:
            self._limits.note(call.model, (proposal.failure_kind or "other") if call.error else None, call.error)
            if self._limits.failure is not None and self.state.stop_reason is None:
                self.state.stop_reason = f"failed: {self._limits.failure}"
        child = self._child_of(request, proposal)
        if proposal.source is None:
            child = self._store.add_program(replace(child, status=Status.APPLY_FAILED), reason=request.reason)
            self._remember(child)
            self._link_call(proposal, child)
            self.state.fruitless += 1
            await self._learn(child, parent)
            return False
        twin = self._store.find_by_hash(self._run_id, source_hash(proposal.source))
        if twin is not None:
            child = self._store.add_program(
                replace(child, status=Status.DUPLICATE, error=f"same source as program {twin.id[:8]}"),
                reason=request.reason,
            )
            self._remember(child)
            self._link_call(proposal, child)
            self.state.fruitless += 1
            await self._learn(child, parent)
            return False
        fingerprint = near = None
        if self._novelty is not None:
            fingerprint = self._novelty.fingerprint(proposal.source)
            near = self._novelty.near_twin(fingerprint)
        if near is not None:
            twin_id, similarity = near
            error = f"near-duplicate of program {twin_id[:8]} (similarity {similarity:.3f} >= {self._novelty.threshold:g})"
            child = self._store.add_program(replace(child, status=Status.DUPLICATE, error=error), reason=request.reason)
            self._remember(child)
            self._link_call(proposal, child)
            self.state.fruitless += 1
            await self._learn(child, parent)
            return False
        if self._limits.wall_over():  # paid for, but the run's time is up: the call is kept, unlinked
            for call in (*proposal.extra_calls, proposal.llm_call):
                if call is not None:
                    self._store.add_llm_call(call)
            return False
        child = self._store.add_program(child, reason=request.reason)
        self._remember(child)
        if self._novelty is not None:
            self._novelty.add(child.id, fingerprint)
        self._link_call(proposal, child)
        self.state.fruitless = 0
        self._parents[child.id] = request.parent  # the evaluator may compare the child with it
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
            proposal=dict(proposal.choices),
        )

    def _link_call(self, proposal: Proposal, child: Program) -> None:
        for call in (*proposal.extra_calls, proposal.llm_call):
            if call is not None:
                self._store.add_llm_call(replace(call, program_id=child.id))

    async def _learn(self, child: Program, parent: Program | None) -> None:
        """Tell a learning proposer (agent/proposers.py LLMProposer.learn) what `child` came to."""
        learn = getattr(self._proposer, "learn", None)
        if learn is None or not child.proposal:
            return
        try:
            await learn(child, parent, self._store.llm_calls(program_id=child.id))
        except (BudgetExceeded, LLMError) as exc:  # a bookkeeping call (a rewrite, a distillation) could not be made
            self._reporter.message(f"warning: the proposer could not learn from program {child.id[:8]}: {exc}")

    async def finish_proposer(self) -> None:
        """The run's loop is over: let the proposer distil what it learnt (the knowledge base)."""
        finish = getattr(self._proposer, "finish", None)
        if finish is None:
            return
        try:
            await finish()
        except (BudgetExceeded, LLMError) as exc:
            self._reporter.message(f"warning: the proposer's closing work failed: {exc}")

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

    async def _evaluate(self, program: Program, repeat: bool = False) -> tuple[Program, EvalResult]:
        """Evaluate, store and tell; returns the stored program and the evaluator's result."""
        parent = None if repeat else self._parents.pop(program.id, None)
        result = await self._sandboxed(program, parent)
        if result.evaluator_error and program.parent_id is not None:  # the initial one: start() stops the run
            return self._judge_error(program, result, repeat), result
        self._judge_streak = 0
        if repeat:
            done = self._store.add_attempt(program.id, result)
        else:
            done = self._store.finish_program(program.id, result)
            self._remember(done)
        if self._novelty is not None and done.status in Status.FAILED:
            self._novelty.add(done.id, done.source, strict=True)
        self._strategy.tell(done)
        self._save_snapshot()
        self.state.evaluated += 1
        self._update_best(None if repeat else done)
        self._told.set()
        self._reporter.evaluated(done, self.state)
        if not repeat:
            await self._learn(done, parent)
        return done, result

    def _judge_error(self, program: Program, result: EvalResult, repeat: bool) -> Program:
        """The evaluator failed, not the program: stored as an error saying so, and the strategy
        only releases what it reserved for it (`discard`), so no parent is marked as failing."""
        error = result.error or result.status
        error = error if error.startswith(JUDGE_ERROR) else f"{JUDGE_ERROR} {error}"
        if repeat:
            done = self._store.get_program(program.id)  # its earlier attempts stand
        else:
            stored = replace(result, status=Status.ERROR, fitness=None, error=error)
            done = self._store.finish_program(program.id, stored)
            self._remember(done)  # counts for nothing: the evaluator failed, not the program
        discard = getattr(self._strategy, "discard", None)
        if discard is not None:
            if repeat:
                discard(ProposalRequest(parent=program, reevaluate=True, island=program.island))
            else:
                discard(ProposalRequest(parent=self._store.get_program(program.parent_id), island=program.island))
        self.state.judge_errors += 1
        self.state.evaluated += 1
        self._save_snapshot()
        self._told.set()
        self._reporter.message(f"{error} (program {program.id[:8]}; not counted against it)")
        self._reporter.evaluated(done, self.state)
        self._judge_streak += 1
        if self._judge_streak >= JUDGE_ERROR_STREAK:
            raise RunFailed(f"the evaluator failed on {self._judge_streak} programs in a row, the last with: {error}")
        return done

    async def _sandboxed(self, program: Program, parent: Program | None = None) -> EvalResult:
        """The evaluator's result (`parent`: the program it was made from, as the strategy gave
        it; None for the initial program and repeats). A sandbox backend lost meanwhile did not
        judge the program: it stays pending and is evaluated again on the backend that took over
        (announced once), or, where none may (sandbox.backend: docker), the run stops with one line."""
        while True:
            try:
                return await asyncio.to_thread(self._evaluator.evaluate, program.source, label=program.id[:8],
                                               parent=parent)
            except SandboxUnavailable as lost:
                if not lost.retry:
                    raise RunFailed(str(lost)) from None
                if lost.notice:
                    self._reporter.message(f"warning: {lost.notice}")
            except SandboxError as exc:
                raise RunFailed(f"the sandbox could not run an evaluation: {exc}") from None

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


def _is_judge_error(program: Program) -> bool:
    return program.status == Status.ERROR and (program.error or "").startswith(JUDGE_ERROR)


def _new_id() -> str:
    return uuid.uuid4().hex


async def _unless_a_worker_fails(main, workers: list[asyncio.Task]) -> None:
    """Await `main`, but raise at once the error of any of `workers` that fails first.

    An evaluation worker that died (e.g. the store could not be written) would otherwise leave
    the proposal workers waiting forever for room in its queue: the run hung, silently.
    """
    main_task = asyncio.ensure_future(main)
    watched = set(workers)
    try:
        while True:
            done, _ = await asyncio.wait({main_task, *watched}, return_when=asyncio.FIRST_COMPLETED)
            if main_task in done:
                return main_task.result()
            # exception() on every task done, not just the first that failed: an error never
            # retrieved is printed by asyncio as a traceback when the process exits.
            errors = [task.exception() for task in done if not task.cancelled()]
            if any(errors):
                raise next(error for error in errors if error is not None)
            watched -= done
    finally:
        await _cancel_and_settle([main_task])


async def _cancel_and_settle(tasks: list[asyncio.Task]) -> None:
    """Cancel `tasks` and collect what they ended with.

    When two workers fail at once (two evaluations that cannot be recorded on a full disk), the
    first error stops the run; the second, never retrieved, would otherwise be printed by asyncio
    as a traceback after the run's one-line error.
    """
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=_SETTLE_SECONDS)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # marks it retrieved; the error that stops the run is raised elsewhere


def _dollars_spent(exc: BudgetExceeded) -> str:
    tail = f"; the next call may cost up to ${exc.needed:.4f}" if exc.needed else ""
    return f"budget: dollars (${exc.spent:.4f} of ${exc.budget:.2f} spent{tail})"
