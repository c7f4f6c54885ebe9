"""`agent suite run`: every problem of a suite through `agent evolve`, up to `parallel` at once,
each recorded in the store as it goes, so the suite resumes after Ctrl-C or kill -9.

A problem's run is found in the store as soon as its evolve creates it (the latest run of the
task's name whose task file is the problem's) and recorded (`running`, `run_id`) at once. How an
evolve ends decides the problem's status:

- exit 0: `finished`;
- exit 2 (the task or options are wrong, as evolve says): `cannot_run`, with evolve's line;
- exit 1 after its run was opened: `failed`, with evolve's line;
- exit 1 before any run was opened (the LLM preflight: no key, an unreachable --api-base, an
  unknown model; a sandbox that cannot start): this would fail every problem, so the suite
  STOPS at once with that line (exit code 1) and the problem stays as it was;
- stopped by a signal: stays `running`, continued (`agent evolve TASK --run ID`) next time.

On resume, `finished`, `cannot_run` and `failed` problems are not run again; a problem whose run
a live process holds is left to it (said on one line); others continue their run or start.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from agent.config import ConfigError
from agent.suites.evolve_process import EvolveProcess, evolve_command, start_evolve
from agent.suites.problems import Problem
from agent.suites.settings import SuiteSettings
from agent.suites.tasks import ProblemTask, problem_task
from archives.records import Suite, SuiteProblem
from archives.store import RunInfo, Store, StoreDamaged, StoreError

DONE = ("finished", "cannot_run", "failed")
_POLL_SECONDS = 0.25
_THOROUGH_SECONDS = 5.0


@dataclass
class _Active:
    """A problem whose evolve is running."""

    problem: SuiteProblem
    index: int
    task: ProblemTask
    evolve: EvolveProcess
    launched: float
    before: RunInfo | None  # the run it continues, as it was before
    next_thorough: float = 0.0  # when to look through every run for its run next (monotonic)


@dataclass(frozen=True)
class SuiteOutcome:
    exit_code: int  # 0 every problem was run (or left to a live process); 1 stopped by an error; 130/143 a signal
    fatal: str | None = None  # the line that stopped the suite


class SuiteRunner:
    """Runs one suite's problems; `echo` gets the progress lines."""

    def __init__(self, store: Store, store_url: str, suite: Suite, settings: SuiteSettings,
                 problems: tuple[Problem, ...], echo: Callable[[str], None]):
        self.store, self.store_url, self.suite, self.settings = store, store_url, suite, settings
        self.problems = problems
        self.echo = echo
        self.signum: int | None = None
        self.fatal: str | None = None
        self._interrupted: set[str] = set()
        self._active: list[_Active] = []

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> SuiteOutcome:
        stored = {p.name: p for p in self.store.suite_problems(self.suite.name)}
        rows = [self._row(problem, stored.get(problem.name)) for problem in self.problems]
        done = [r for r in rows if r.status in DONE]
        if done:
            counts = {s: sum(r.status == s for r in done) for s in DONE}
            self.echo(f"{len(done)} of {len(rows)} problems done already ("
                      + ", ".join(f"{s} {n}" for s, n in counts.items() if n) + "): not run again")
        queue = [(i, r) for i, r in enumerate(rows, 1) if r.status not in DONE]
        saved = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while queue or self._active:
                while queue and self._starting() and len(self._active) < self.settings.parallel:
                    self._start(*queue.pop(0))
                for active in list(self._active):
                    self._watch(active)
                if self.signum is not None or self.fatal is not None:
                    self._interrupt_all()
                    if not self._active:
                        break
                time.sleep(_POLL_SECONDS)
        finally:
            for s, handler in saved.items():
                signal.signal(s, handler)
        if self.fatal is not None:
            return SuiteOutcome(1, self.fatal)
        if self.signum is not None:
            return SuiteOutcome(128 + self.signum)
        return SuiteOutcome(0)

    def _starting(self) -> bool:
        return self.signum is None and self.fatal is None

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.signum is not None:  # a second one: pass it on, so the evolves stop at once
            for active in self._active:
                active.evolve.interrupt()
        self.signum = self.signum or signum

    def _interrupt_all(self) -> None:
        for active in self._active:
            if active.problem.name not in self._interrupted:
                self._interrupted.add(active.problem.name)
                active.evolve.interrupt()

    def _row(self, problem: Problem, stored: SuiteProblem | None) -> SuiteProblem:
        if stored is not None:
            return stored
        return self.store.put_suite_problem(SuiteProblem(self.suite.name, problem.name, str(problem.source)))

    # -- one problem ------------------------------------------------------------------------

    def _start(self, index: int, row: SuiteProblem) -> None:
        problem = next(p for p in self.problems if p.name == row.name)
        folder = Path(self.settings.dir) / problem.name
        try:
            task = problem_task(problem, folder, self.settings.language, self.settings.share_knowledge)
        except ConfigError as exc:
            if self.signum is None:  # else the reference's probe was cut by the same Ctrl-C: try again next time
                self._end(index, row, "cannot_run", str(exc))
            return
        row = self._put(row, task_file=str(task.task_file))
        before = self._run_of(row, task)
        if before is not None:
            if before.status == "finished":  # ended after the suite that started it was killed
                self._end(index, replace(row, run_id=before.id), "finished", None)
                return
            if before.status == "failed":
                self._end(index, replace(row, run_id=before.id), "failed", before.notes or "its run failed")
                return
            if before.status == "running":  # a live lease: the store shows dead ones as crashed
                self.echo(f"{self._tag(index)} {row.name}: its run {before.id[:8]} is running in another process "
                          f"({before.owner}); left to it")
                self._put(row, status="running", run_id=before.id)
                return
        command = evolve_command(task.task_file, self.settings, self.store_url, before.id if before else None)
        launched = time.time()
        evolve = start_evolve(command, folder / "evolve.log", Path.cwd())
        row = self._put(row, status="running", run_id=before.id if before else None,
                        started_at=row.started_at or launched)
        self.echo(f"{self._tag(index)} {row.name}: " + (f"continuing run {before.id[:8]}" if before else "started"))
        self._active.append(_Active(row, index, task, evolve, launched, before))

    def _watch(self, active: _Active) -> None:
        """Record the run once it exists; handle the evolve's end."""
        if active.problem.run_id is None:
            run = self._new_run(active)
            if run is not None:
                active.problem = self._put(active.problem, run_id=run.id)
        code = active.evolve.poll()
        if code is None:
            return
        self._active.remove(active)
        if active.problem.run_id is None:
            run = self._new_run(active, thorough=True)
            if run is not None:
                active.problem = self._put(active.problem, run_id=run.id)
        row, index = active.problem, active.index
        if code == 0:
            self._end(index, row, "finished", None)
        elif code in (130, 143) or code in (-signal.SIGINT, -signal.SIGTERM):
            if row.run_id is None:  # stopped before its run existed: nothing to continue
                self._put(row, status="pending")
            self.echo(f"{self._tag(index)} {row.name}: stopped; it goes on at the next `agent suite run`")
        elif code == 2:
            self._end(index, row, "cannot_run", active.evolve.reason(code))
        elif code == 1 and not self._opened(active):
            if self.fatal is None:
                self.fatal = f"{row.name}: {active.evolve.reason(code)}"
            self._put(row, status="running" if active.before else "pending")  # as it was
        else:
            self._end(index, row, "failed", active.evolve.reason(code))

    def _end(self, index: int, row: SuiteProblem, status: str, reason: str | None) -> None:
        row = self._put(row, status=status, reason=reason, finished_at=time.time())
        self.echo(f"{self._tag(index)} {row.name}: {outcome_text(self.store, row)}")

    # -- the store --------------------------------------------------------------------------

    def _put(self, row: SuiteProblem, **changes) -> SuiteProblem:
        return self.store.put_suite_problem(replace(row, **changes))

    def _run_of(self, row: SuiteProblem, task: ProblemTask) -> RunInfo | None:
        """The run this problem has already: the recorded one (unless it was deleted), or one
        its evolve created before the suite could record it (the suite was killed in between;
        only for a task file of the suite's own: a user's task.yaml may have runs of its own)."""
        if row.run_id is not None:
            try:
                return self.store.get_run(row.run_id)
            except StoreDamaged:
                raise
            except StoreError:
                return None
        if not task.task_file.resolve().is_relative_to(Path(self.settings.dir).resolve()):
            return None
        return self._latest_run(task, since=self.suite.created_at, thorough=True)

    def _new_run(self, active: _Active, thorough: bool = False) -> RunInfo | None:
        """The run the active evolve created, once it exists."""
        if active.before is not None:
            return active.before
        now = time.monotonic()
        thorough = thorough or now >= active.next_thorough
        if thorough:
            active.next_thorough = now + _THOROUGH_SECONDS
        return self._latest_run(active.task, since=active.launched - 1, thorough=thorough)

    def _latest_run(self, task: ProblemTask, since: float, thorough: bool) -> RunInfo | None:
        """The latest run of the task's file started since `since`. The task's name is shared
        by other suites' runs of the same problem; when one of those is the latest, and
        `thorough`, every run is looked at."""
        path = str(task.task_file.resolve())
        run = self.store.latest_run(task.task_name)
        if run is None or (run.task_path == path and run.started_at >= since):
            return run if run is not None and run.started_at >= since else None
        if not thorough:
            return None
        mine = [s.run for s in self.store.list_runs() if s.run.task_path == path and s.run.started_at >= since]
        return max(mine, key=lambda r: r.started_at) if mine else None

    def _opened(self, active: _Active) -> bool:
        """Whether the evolve got as far as opening its run (else it failed before any run)."""
        if active.problem.run_id is None:
            return False
        if active.before is None:
            return True
        after = self.store.get_run(active.before.id)
        return (after.status, after.ended_at, after.notes) != (active.before.status, active.before.ended_at,
                                                             active.before.notes)

    def _tag(self, index: int) -> str:
        return f"[{index}/{len(self.problems)}]"


def outcome_text(store: Store, row: SuiteProblem) -> str:
    """'correct, 1.84x over eager, 20 evaluations, $0.41', or the status and reason."""
    if row.status in ("cannot_run", "failed"):
        return f"{row.status.replace('_', ' ')}: {row.reason}"
    if row.run_id is None:
        return row.status
    summary = store.run_summary(row.run_id)
    best = store.best_programs(row.run_id, 1)
    spent = f"{summary.evaluated} evaluations, ${summary.cost:.2f}"
    if not best:
        return f"no correct program, {spent}"
    speedup = best[0].metrics.get("speedup")
    if isinstance(speedup, (int, float)):
        return f"correct, {speedup:.2f}x over eager, {spent}"
    if store.get_run(row.run_id).config.get("kind") == "kernel":
        return f"correct, not timed, {spent}"
    return f"correct, best fitness {best[0].fitness:.4g}, {spent}"
