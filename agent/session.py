"""One session of a run: build every box of the loop from a task, run it, record how it ended.

`evolve` is what `agent evolve` calls. It wires store, strategy, sandbox, evaluator and
proposer together, starts a new run or resumes a stored one, runs the controller until a
budget is spent or the user interrupts, and leaves the run's status in the store
(finished / stopped / crashed).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

from agent.config import ConfigError, TaskConfig, task_from_run
from agent.controller import Controller, Reporter
from archives.records import Program
from archives.store import RunInfo, RunSummary, Store

NO_LLM_HINT = (
    "no LLM configured: the built-in tuner proposes (to use an LLM, set llm.models in the task "
    "file or pass --model, e.g. --model openai/gpt-4o-mini; keys come from the environment)"
)


@dataclass(frozen=True)
class RunOutcome:
    run: RunInfo
    status: str  # finished | stopped | crashed
    stop_reason: str
    summary: RunSummary
    initial: Program | None
    best: Program | None
    seconds: float


def evolve(
    task: TaskConfig,
    task_path: Path,
    *,
    resume: bool = False,
    run_ref: str | None = None,
    reporter: Reporter | None = None,
    overrides: dict | None = None,
) -> RunOutcome:
    """Run (or resume) the task's search in this process. Raises ConfigError for user mistakes.

    A resumed run continues with the settings stored with it; `overrides` (the command-line
    options) apply on top of them.
    """
    if task.kind not in ("program", "kernel"):
        raise ConfigError(f"{task_path}: kind: {task.kind!r} tasks are not supported yet (only 'program', 'kernel')")
    store = Store(task.store_url)
    try:
        run = _open_run(store, task, task_path, resume, run_ref)
        if resume or run_ref is not None:
            task = task_from_run(run.config, task_path, overrides)
        return _run_session(store, run, task, reporter)
    finally:
        store.close()


def _open_run(store: Store, task: TaskConfig, task_path: Path, resume: bool, run_ref: str | None) -> RunInfo:
    if run_ref is not None:
        run = store.get_run(run_ref)
        if run.task_name != task.name:
            raise ConfigError(f"run {run.id[:8]} belongs to task {run.task_name!r}, not {task.name!r}")
        return run
    if resume:
        run = store.latest_run(task.name)
        if run is None:
            raise ConfigError(f"--resume: no run of task {task.name!r} in {store.url}")
        return run
    return store.create_run(
        task_name=task.name,
        task_path=str(task_path.resolve()),
        strategy=task.search.strategy,
        seed=task.search.seed,
        config=task.model_dump(mode="json"),
    )


def _run_session(
    store: Store, run: RunInfo, task: TaskConfig, reporter: Reporter | None
) -> RunOutcome:
    from agent.wiring import build_evaluator, build_novelty, build_proposer, build_strategy

    started = time.monotonic()
    prior = sum(store.status_counts(run.id).values())  # a count; the controller loads the programs
    # A resumed session draws fresh random numbers, reproducibly: seed and progress so far.
    rng = random.Random(f"{task.search.seed}:{prior}")
    strategy = build_strategy(task, rng)
    evaluator, warnings = build_evaluator(task)
    proposer, gateway, workers = build_proposer(
        task, rng, run.id, spent=store.spend(run.id), strategy=strategy, record_call=store.add_llm_call
    )
    if reporter:
        from sandbox import describe_sandbox

        reporter.message(f"sandbox: {describe_sandbox(evaluator.sandbox)}")
    if reporter:
        for line in warnings:
            reporter.message(f"warning: {line}")
        if gateway is None:
            reporter.message(NO_LLM_HINT)
    controller = Controller(
        store=store,
        run_id=run.id,
        strategy=strategy,
        proposer=proposer,
        evaluator=evaluator,
        evaluations=task.budget.evaluations,
        proposal_workers=workers,
        evaluation_workers=task.evaluate.workers,
        wall_seconds=task.budget.wall_seconds,
        spent=(lambda: gateway.spent) if gateway else (lambda: 0.0),
        reporter=reporter,
        novelty=build_novelty(task),
    )
    store.set_run_status(run.id, "running")
    initial_source = None if prior else Path(task.program).read_text(encoding="utf-8")
    status, reason = "crashed", "crashed"
    try:
        reason = asyncio.run(_main(controller, initial_source, lambda: _stop_sandbox(evaluator)))
        status = "finished"
    except KeyboardInterrupt:
        status, reason = "stopped", "interrupted (Ctrl-C); resume with --resume"
    finally:
        _stop_sandbox(evaluator)
        controller.finish()
        store.set_run_status(run.id, status)
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
    )


async def _main(controller: Controller, initial_source: str | None, on_cancel) -> str:
    try:
        await controller.start(initial_source)
        return await controller.run()
    except asyncio.CancelledError:
        on_cancel()  # before asyncio.run waits for the evaluation threads
        raise


def _stop_sandbox(evaluator: object) -> None:
    """Kill evaluations still running (after Ctrl-C) so no candidate outlives the session."""
    sandbox = getattr(evaluator, "sandbox", None)
    cancel = getattr(sandbox, "cancel_all", None)
    if cancel is not None:
        cancel()
