"""`agent check task.yaml`: evaluate the initial program once, as a run would, and show the result.

No LLM, no budget, no store: the evaluator and sandbox are built exactly as `agent evolve`
builds them (agent/wiring.py), so the declared interpreter and requirements are checked the
same way, and the one evaluation goes through the same sandbox and harness.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from agent.config import ConfigError, TaskConfig

_FEEDBACK_LINES = 60


@dataclass(frozen=True)
class CheckOutcome:
    """What `agent check` found; `exit_code` 0 when the program is correct, else 1."""

    result: object  # archives.records.EvalResult
    sandbox: str
    warnings: tuple[str, ...]
    fitness_rule: str | None = None  # where the fitness comes from (program tasks)

    @property
    def exit_code(self) -> int:
        return 0 if self.result.status == "correct" else 1

    @property
    def failure(self) -> str | None:
        """One line saying why the check failed, or None when the program is correct."""
        result = self.result
        if result.status == "correct":
            return None
        reason = result.error or result.status
        if result.evaluator_error:
            return f"the evaluator failed: {reason}"
        return f"the program is not correct ({result.status}): {reason}"


def check_task(task: TaskConfig, program: Path | None = None) -> CheckOutcome:
    """Evaluate `program` (default: the task's) once. Raises ConfigError for the user's mistakes,
    RunFailed when the sandbox cannot run the evaluation."""
    from agent.failures import RunFailed
    from agent.wiring import build_evaluator
    from sandbox import SandboxError, describe_sandbox

    path = Path(program) if program is not None else Path(task.program)
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--program: no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    evaluator, warnings = build_evaluator(task)
    sandbox = evaluator.sandbox
    try:
        result = evaluator.evaluate(source, label="check")
    except SandboxError as exc:
        raise RunFailed(f"the sandbox could not run the evaluation: {exc}") from None
    finally:
        cancel = getattr(sandbox, "cancel_all", None)
        if cancel is not None:
            cancel()
    return CheckOutcome(result, describe_sandbox(sandbox), tuple(warnings), getattr(evaluator, "fitness_rule", None))


def report_lines(task: TaskConfig, outcome: CheckOutcome) -> list[str]:
    """The check's report for the console: status, fitness, metrics, stages, feedback."""
    result = outcome.result
    lines = [f"task {task.name} ({task.kind}), sandbox: {outcome.sandbox}"]
    lines += [f"warning: {w}" for w in outcome.warnings]
    lines.append(f"status: {result.status}" + ("  (the evaluator's fault)" if result.evaluator_error else ""))
    if result.error:
        lines.append(f"error: {result.error}")
    lines.append(f"fitness: {'-' if result.fitness is None else f'{result.fitness:.6g}'}"
                 + (f"  (from {outcome.fitness_rule})" if outcome.fitness_rule else ""))
    if result.metrics:
        lines.append("metrics:")
        width = max(len(k) for k in result.metrics)
        lines += [f"  {k.ljust(width)}  {v:.6g}" for k, v in sorted(result.metrics.items())]
    if result.descriptors:
        lines.append("descriptors: " + ", ".join(f"{k} {v:.6g}" for k, v in sorted(result.descriptors.items())))
    if result.stages:
        lines.append("stages:")
        width = max(len(s.name) for s in result.stages)
        for stage in result.stages:
            note = f"  {stage.message}" if stage.message else ""
            lines.append(f"  {stage.name.ljust(width)}  {'ok  ' if stage.ok else 'FAIL'}  {stage.seconds:8.3f} s{note}")
    feedback = result.feedback.strip().splitlines()
    if feedback:
        lines.append("feedback (what the next prompt shows):")
        lines += [f"  {ln}" for ln in feedback[:_FEEDBACK_LINES]]
        if len(feedback) > _FEEDBACK_LINES:
            lines.append(f"  [... {len(feedback) - _FEEDBACK_LINES} more lines]")
    lines.append(f"evaluated in {result.seconds:.2f} s")
    return lines


def run_check(task_file: Path, program: Path | None, echo: Callable[[str], None]) -> CheckOutcome:
    """Load, check and report (ConfigError and RunFailed propagate)."""
    from agent.config import load_task

    task = load_task(task_file)
    outcome = check_task(task, program)
    for line in report_lines(task, outcome):
        echo(line)
    return outcome
