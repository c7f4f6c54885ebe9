"""One session of a run: build every box of the loop from a task, run it, record how it ended.

`evolve` is what `agent evolve` calls. It finds the run to resume (if any) and the settings it
goes on with (agent/resume.py), builds store, strategy, sandbox, evaluator and proposer, runs
the LLM preflight, and only then creates the run or takes over the stored one: a task the
session refuses leaves no run behind. The session holds the run's liveness lease
(archives/lease.py) while it runs, so no second controller can run it at the same time.

How a session ends, in the store and for `agent evolve`:
- `finished`: a budget was spent (exit code 0).
- `stopped`: Ctrl-C or SIGTERM (agent/stopping.py); `RunOutcome.exit_code` is 130 or 143.
- `failed`: `RunFailed` (the LLM, the evaluator, the sandbox or the store cannot be used, or the
  proposals stopped buying anything new to evaluate: agent/controller.py); the message is the
  run's notes and is raised again for the CLI (exit code 1).
- `crashed`: an exception of ours; its one-line cause is the run's notes, and `RunCrashed` is
  raised (exit code 1). A controller killed outright leaves `running` with a lease that goes
  stale, which every reader shows as `crashed`.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import ConfigError, TaskConfig
from agent.controller import Controller, Reporter, SilentReporter
from agent.failures import RunFailed
from agent.spend import SpendReport, spend_by_outcome
from agent.stopping import NAMES, Stops
from archives.lease import Heartbeat, busy_message, new_owner
from archives.records import Program
from archives.store import RunBusy, RunInfo, RunStatus, RunSummary, Store, StoreError, StoreMissing, shown_url

NO_LLM_HINT = (
    "no LLM configured: the built-in tuner proposes (to use an LLM, set llm.models in the task "
    "file or pass --model, e.g. --model openai/gpt-4o-mini; keys come from the environment)"
)


class RunCrashed(Exception):
    """An exception of ours ended the run (stored as `crashed`); the cause is `__cause__`."""


@dataclass(frozen=True)
class RunOutcome:
    run: RunInfo
    status: str  # finished | stopped
    stop_reason: str
    summary: RunSummary
    initial: Program | None
    best: Program | None
    seconds: float
    signal: int | None = None  # what stopped it: signal.SIGINT or signal.SIGTERM
    judge_errors: int = 0  # evaluations this session that failed on the evaluator's side (stored as "judge error:")
    report: str | None = None  # the evaluator's final report on the initial and the best program, if it makes one
    spend: SpendReport | None = None  # what the LLM calls bought, per model and outcome (agent/spend.py)

    @property
    def exit_code(self) -> int:
        """0 when finished; 128 + the signal when stopped (130 for Ctrl-C, 143 for SIGTERM)."""
        return 128 + self.signal if self.signal else 0


@dataclass(frozen=True)
class _Parts:
    """The loop's boxes, built before the run exists (a ConfigError then leaves no run)."""

    strategy: Any
    evaluator: Any
    warnings: list[str]
    proposer: Any
    gateway: Any
    ledger: Any  # the run's one DollarLedger: the proposer's and the evaluator's LLM calls
    proposal_workers: int
    prior: int  # programs the run already holds


def evolve(
    task: TaskConfig,
    task_path: Path,
    *,
    resume: bool = False,
    run_ref: str | None = None,
    reporter: Reporter | None = None,
    overrides: dict | None = None,
    stops: Stops | None = None,
) -> RunOutcome:
    """Run (or resume) the task's search in this process; see the module docstring.

    Raises ConfigError for user mistakes (nothing created), RunBusy when another controller
    runs the run, RunFailed and RunCrashed as above. A resumed run goes on with its stored
    settings; `overrides` (the command-line options) change the safe ones.
    """
    reporter = reporter or SilentReporter()
    resuming = resume or run_ref is not None
    with nullcontext(stops) if stops is not None else Stops() as stops:
        store = _open_store(task, resume, run_ref)
        try:
            previous = _find_run(store, task, resume, run_ref) if resuming else None
            if previous is not None:
                task = _resumed(previous, task, task_path, overrides, reporter)
            run_id = previous.id if previous is not None else uuid.uuid4().hex
            parts = _build(store, task, run_id, reporter)
            try:
                from agent.llm.preflight import preflight

                for note in preflight(task.llm, wall_seconds=task.budget.wall_seconds, dollars=task.budget.dollars):
                    reporter.message(f"warning: {note}")
                controller = _controller(store, run_id, task, parts, reporter)
                owner = new_owner()
                run = _open_run(store, task, task_path, previous, run_id, owner)
                return _run_session(store, run, task, parts, controller, reporter, stops, owner)
            finally:
                _stop_sandbox(parts.evaluator)
        finally:
            store.close()


def _open_store(task: TaskConfig, resume: bool, run_ref: str | None) -> Store:
    """The task's store; one to resume from must exist already (nothing is created)."""
    if not resume and run_ref is None:
        return Store(task.store_url)
    try:
        return Store(task.store_url, create=False)
    except StoreMissing:
        if run_ref is not None:
            raise ConfigError(f"no run {run_ref!r} in {shown_url(task.store_url)} (no such store)") from None
        raise ConfigError(f"--resume: no run of task {task.name!r} in {shown_url(task.store_url)}") from None


def _find_run(store: Store, task: TaskConfig, resume: bool, run_ref: str | None) -> RunInfo:
    if run_ref is not None:
        run = store.get_run(run_ref)
        if run.task_name != task.name:
            raise ConfigError(f"run {run.id[:8]} belongs to task {run.task_name!r}, not {task.name!r}")
    else:
        run = store.latest_run(task.name)
        if run is None:
            raise ConfigError(f"--resume: no run of task {task.name!r} in {store.url}")
    if run.status == RunStatus.RUNNING and run.owner is not None:  # a live lease: refuse at once
        raise RunBusy(busy_message(run.id, run.owner, run.heartbeat_at))
    return run


def _resumed(run: RunInfo, task: TaskConfig, task_path: Path, overrides: dict | None, reporter: Reporter) -> TaskConfig:
    from agent.resume import resumed_task

    resumed, lines = resumed_task(run.config, task, task_path, overrides)
    for line in lines:
        reporter.message(line)
    return resumed


def _build(store: Store, task: TaskConfig, run_id: str, reporter: Reporter) -> _Parts:
    from agent.llm.ledger import DollarLedger
    from agent.wiring import build_evaluator, build_proposer, build_strategy, run_context

    prior = sum(store.status_counts(run_id).values())  # a count; the controller loads the programs
    # A resumed session draws fresh random numbers, reproducibly: seed and progress so far.
    rng = random.Random(f"{task.search.seed}:{prior}")
    strategy = build_strategy(task, rng)
    spent = store.spend(run_id)
    ledger = DollarLedger(task.budget.dollars, spent)  # one per run: proposer and evaluator spend from it
    context = run_context(task, run_id, random.Random(f"{task.search.seed}:{prior}:evaluator"), ledger,
                          store.add_llm_call)
    evaluator, warnings = build_evaluator(task, context)
    try:
        proposer, gateway, workers = build_proposer(
            task, rng, run_id, spent=spent, strategy=strategy, record_call=store.add_llm_call, ledger=ledger,
            store=store, warn=lambda line: reporter.message(f"warning: {line}"),
        )
    except BaseException:
        _stop_sandbox(evaluator)
        raise
    from sandbox import describe_sandbox

    reporter.message(f"sandbox: {describe_sandbox(evaluator.sandbox)}")
    fitness_rule = getattr(evaluator, "fitness_rule", None)  # program tasks say where the fitness comes from
    if fitness_rule:
        reporter.message(f"fitness: {fitness_rule}")
    for line in warnings:
        reporter.message(f"warning: {line}")
    if gateway is None:
        reporter.message(NO_LLM_HINT)
    return _Parts(strategy, evaluator, warnings, proposer, gateway, ledger, workers, prior)


def _open_run(
    store: Store, task: TaskConfig, task_path: Path, previous: RunInfo | None, run_id: str, owner: str
) -> RunInfo:
    """Create the run, or take over the stored one, holding its lease from the first moment."""
    config = task.model_dump(mode="json")
    if previous is None:
        return store.create_run(
            task_name=task.name,
            task_path=str(task_path.resolve()),
            strategy=task.search.strategy,
            seed=task.search.seed,
            config=config,
            run_id=run_id,
            owner=owner,
        )
    run = store.claim_run(previous.id, owner)
    if config != run.config:  # options changed settings: the next resume starts from these
        store.set_run_config(run.id, config, task.search.strategy, task.search.seed)
    return run


def _controller(store: Store, run_id: str, task: TaskConfig, parts: _Parts, reporter: Reporter) -> Controller:
    from agent.wiring import build_novelty

    ledger = parts.ledger
    return Controller(
        store=store,
        run_id=run_id,
        strategy=parts.strategy,
        proposer=parts.proposer,
        evaluator=parts.evaluator,
        evaluations=task.budget.evaluations,
        proposal_workers=parts.proposal_workers,
        evaluation_workers=task.evaluate.workers,
        wall_seconds=task.budget.wall_seconds,
        spent=lambda: ledger.spent,
        reporter=reporter,
        novelty=build_novelty(task),
        failures=getattr(parts.proposer, "failures", None),
    )


def _run_session(
    store: Store, run: RunInfo, task: TaskConfig, parts: _Parts, controller: Controller, reporter: Reporter,
    stops: Stops, owner: str,
) -> RunOutcome:
    """Run the loop on a run whose lease this session holds; record how it ended."""
    started = time.monotonic()
    heartbeat = Heartbeat(lambda: store.beat(run.id, owner), stops.fail, what=f"run {run.id[:8]}")
    status, reason, notes, error, signum = RunStatus.CRASHED, "crashed", None, None, None
    report = None
    try:
        heartbeat.start()
        if parts.prior:
            _report_stored_progress(store, run.id, reporter)
        initial_source = None if parts.prior else Path(task.program).read_text(encoding="utf-8")
        reason = stops.run(_main(controller, initial_source, lambda: _stop_sandbox(parts.evaluator)))
        status = RunStatus.FINISHED
        report = _final_report(store, run.id, parts.evaluator, reporter)
    except KeyboardInterrupt as exc:  # agent.stopping.Interrupted: Ctrl-C or SIGTERM
        signum = getattr(exc, "signum", signal.SIGINT)
        status, reason = RunStatus.STOPPED, f"interrupted ({NAMES.get(signum, signum)}); resume with --resume"
        notes = f"stopped by {NAMES.get(signum, signum)}"
    except RunFailed as exc:
        status, notes, error = RunStatus.FAILED, str(exc), exc
    except StoreError as exc:  # the store cannot be written (or read) any more
        status, notes = RunStatus.FAILED, str(exc)
        error = RunFailed(str(exc))
    except Exception as exc:
        status, notes = RunStatus.CRASHED, _one_line(exc)
        error = RunCrashed(f"run {run.id[:8]} crashed: {notes}")
        error.__cause__ = exc
    finally:
        with stops.recording():  # a second Ctrl-C cannot interrupt this
            heartbeat.stop()
            _stop_sandbox(parts.evaluator)
            error = _record_end(store, controller, run.id, owner, status, notes, error)
            if isinstance(error, RunFailed):
                error.best_so_far = _best_so_far(store, run.id, task.store_url)
    if error is not None:
        raise error
    with stops.recording():  # the run has ended: a signal now must not make it look otherwise
        programs = store.programs(run.id, limit=1)
        best = store.best_programs(run.id, 1)
        return RunOutcome(
            run=store.get_run(run.id),
            status=status,
            stop_reason=reason,
            summary=store.run_summary(run.id),
            initial=programs[0] if programs else None,
            best=best[0] if best else None,
            seconds=time.monotonic() - started,
            signal=signum,
            judge_errors=controller.state.judge_errors,
            report=report,
            spend=spend_by_outcome(store, run.id),
        )


def _final_report(store: Store, run_id: str, evaluator: object, reporter: Reporter) -> str | None:
    """The evaluator's report on the initial and the best program (e.g. a prompt task's held-out
    test scores), when it makes one; a report that fails is a warning, not a failed run."""
    make = getattr(evaluator, "final_report", None)
    initial, best = store.programs(run_id, limit=1), store.best_programs(run_id, 1)
    if make is None or not initial or not best:
        return None
    try:
        return make(initial[0], best[0])
    except (RunFailed, StoreError):
        raise
    except Exception as exc:  # noqa: BLE001 - the run is done; say why there is no report
        reporter.message(f"warning: the evaluator's final report failed: {_one_line(exc)}")
        return None


def _best_so_far(store: Store, run_id: str, store_url: str) -> str | None:
    """What a failed run had found, to say beside why it failed (None: nothing correct, or the
    store cannot be read any more)."""
    try:
        best = store.best_programs(run_id, 1)
        evaluated = store.run_summary(run_id).evaluated
    except StoreError:
        return None
    if not best:
        return None
    return (f"best so far: fitness {best[0].fitness:.6g} (program {best[0].id[:8]}, of {evaluated} evaluated); "
            f"export it: agent export {run_id[:8]} --store {shown_url(store_url)}")


def _record_end(
    store: Store, controller: Controller, run_id: str, owner: str, status: str, notes: str | None,
    error: BaseException | None,
) -> BaseException | None:
    """Store the final snapshot and the run's status, giving up its lease. Returns the error
    to raise: the session's own, else one found while recording (the store broke)."""
    found = None
    try:
        controller.finish()
    except StoreError as exc:
        found = str(exc)
    try:
        if not store.release_run(run_id, owner, status, notes):
            found = found or (
                f"run {run_id[:8]} was taken over by another controller; this session's end "
                f"({status}) was not recorded"
            )
    except StoreError as exc:
        found = found or str(exc)
    if error is None and found is not None:  # else the session's own error is the one reported
        return RunFailed(found)
    return error


def _report_stored_progress(store: Store, run_id: str, reporter: Reporter) -> None:
    """Tell the reporter what the run had reached, so a resume does not announce an old
    score as a new best."""
    start_from = getattr(reporter, "start_from", None)
    if start_from is not None:
        summary = store.run_summary(run_id)
        start_from(summary.best_fitness, summary.evaluated)


async def _main(controller: Controller, initial_source: str | None, on_stop) -> str:
    try:
        await controller.start(initial_source)
        reason = await controller.run()
        await controller.finish_proposer()
        return reason
    except BaseException:
        on_stop()  # kill the evaluations before asyncio.run waits for their threads
        raise


def _stop_sandbox(evaluator: object) -> None:
    """Kill evaluations still running (after Ctrl-C) so no candidate outlives the session, and
    jobs started ahead of their candidates (evaluators/kernel/priming.py)."""
    stop_priming = getattr(evaluator, "stop_priming", None)
    if stop_priming is not None:
        stop_priming()
    sandbox = getattr(evaluator, "sandbox", None)
    cancel = getattr(sandbox, "cancel_all", None)
    if cancel is not None:
        cancel()


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
