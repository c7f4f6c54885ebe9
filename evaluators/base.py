"""What every task kind provides, and the steps its evaluator shares with the others.

A task kind (program, kernel, prompt, or a plugin's: agent/plugins.py, group "kinds") is a
class with a no-argument constructor following `TaskKind`. The session asks it, in this order:

1. when the task file is loaded: its `config_model` validates the options under `config_key`
   (`task.kind_options`), the files named by `path_keys` are resolved against the task's
   folder, and `check(task)` refuses what it cannot run (a ValueError with one line);
2. when the run is built: `build_evaluator(task, sandbox, scorer, context)` makes the
   `Evaluator` and says what this machine cannot give it (warnings); `description(task)` and
   `candidate_language(task)` set up the proposer's prompts.

An `Evaluator.evaluate` is blocking and thread-safe: the controller calls it from several
worker threads, passing the stored parent (None for the initial program and for repeats).

The helpers below are the steps of turning a sandbox job into an `EvalResult` that the
program and kernel evaluators share (a timed-out, killed or silent job; a syntax check;
feedback pieces joined and capped); each evaluator keeps only what is its own.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from archives.records import EvalResult, StageResult, Status
from sandbox.base import Limits, SandboxOutcome
from sandbox.channel import decode_result

if TYPE_CHECKING:
    import pydantic

    from agent.llm.ledger import DollarLedger
    from archives.records import LLMCall, Program
    from sandbox.base import Sandbox

__all__ = [
    "FEEDBACK_CHARS", "Evaluator", "RunContext", "TaskKind", "join_feedback", "no_result_message", "numbers_and_text",
    "one_line", "output_tails", "read_job", "stages_from", "syntax_error", "syntax_failure",
]

FEEDBACK_CHARS = 8_000
"""Most characters of feedback kept for the next prompt."""
TAIL_CHARS = 2_000
"""Most characters of a job's stdout and stderr shown in feedback."""
_FLOOD_FACTOR = 50  # as the process sandbox: a job is killed after printing 50x the output cap


@dataclass(frozen=True)
class RunContext:
    """What a run shares with its evaluator beyond the task: its id, random numbers, the run's
    one dollar ledger (shared with the proposer's gateway), a way to store an LLM call, and a
    folder beside the store for caches."""

    run_id: str
    rng: random.Random
    ledger: DollarLedger
    record_call: Callable[[LLMCall], None] | None = None
    store_dir: Path = Path("runs")


@runtime_checkable
class Evaluator(Protocol):
    """Judges candidates of one task; `evaluate` is blocking and thread-safe."""

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox candidates run in (the session cancels its jobs on Ctrl-C)."""
        ...

    def evaluate(self, source: str, *, label: str = "", parent: Program | None = None) -> EvalResult: ...

    def warnings(self) -> list[str]:
        """What this machine cannot give the evaluator, one line each (may be empty)."""
        ...


class TaskKind(Protocol):
    """A kind of task; see the module docstring for when each member is used.

    Optional members, read with getattr: `runs_user_python` (True: evaluate.python, venv,
    requirements and pythonpath apply), `timeout_seconds` (evaluate.timeout_seconds when the
    task does not set it). An evaluator may have `final_report(initial, best) -> str | None`
    (text printed at the run's end) and `fitness_rule` (one line saying where the fitness
    comes from).
    """

    name: str
    config_key: str | None
    config_model: type[pydantic.BaseModel] | None
    path_keys: tuple[str, ...]

    def check(self, task: Any) -> None: ...

    def candidate_language(self, task: Any) -> str: ...

    def description(self, task: Any) -> str: ...

    def build_evaluator(self, task: Any, sandbox: Sandbox, scorer: Any, context: RunContext
                        ) -> tuple[Evaluator, list[str]]: ...


def syntax_error(source: str, filename: str = "program.py") -> str | None:
    """One line describing why `source` is not valid Python, or None; never runs it."""
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        line = (exc.text or "").strip()
        shown = f": {line[:200]}" if line else ""
        return f"{type(exc).__name__}: {exc.msg}{where}{shown}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"the program cannot be compiled: {type(exc).__name__}: {exc}"
    return None


def syntax_failure(source: str, filename: str, started: float) -> EvalResult | None:
    """A build_failed result when a Python candidate does not compile, else None."""
    problem = syntax_error(source, filename)
    if problem is None:
        return None
    stage = StageResult("compile", False, message=problem)
    return EvalResult(Status.BUILD_FAILED, error=problem, feedback=problem, stages=(stage,),
                      seconds=time.monotonic() - started)


def read_job(outcome: SandboxOutcome, limits: Limits, who: str) -> dict[str, Any] | EvalResult:
    """The payload the job's harness sent, or the failed result when there is none: the job
    timed out, its result cannot be decoded, or it ended without one. `who` names the job's
    program in messages ("the evaluator", "the judge's job")."""
    tails = output_tails(outcome)
    if outcome.timed_out:
        error = f"timed out after {limits.wall_seconds:g} s"
        return EvalResult(Status.TIMEOUT, error=error, feedback=join_feedback([error, tails]))
    try:
        payload = decode_result(outcome.result)
    except ValueError as exc:
        error = f"{_possessive(who)} result could not be read: {exc}"
        return EvalResult(Status.ERROR, error=error, feedback=join_feedback([error, tails]))
    if payload is None:
        error = no_result_message(outcome, limits, who)
        return EvalResult(Status.ERROR, error=error, feedback=join_feedback([error, tails]))
    return payload


def no_result_message(outcome: SandboxOutcome, limits: Limits, who: str) -> str:
    """One line saying why a job ended without a result."""
    reason = outcome.killed_reason
    if reason == "memory":
        return f"killed: out of memory (limit {limits.memory_mb} MB)"
    if reason == "output":
        return f"killed: printed more than {_FLOOD_FACTOR * limits.output_bytes} bytes"
    if reason and reason.startswith("signal "):
        number = reason.split()[1]
        try:
            number = f"{number} ({signal.Signals(int(number)).name})"
        except ValueError:
            pass
        return f"{who} was killed by signal {number}"
    if reason:
        return f"{who} was killed ({reason})"
    if "MemoryError" in outcome.stderr[-TAIL_CHARS:]:
        return f"{who} ran out of memory (limit {limits.memory_mb} MB) and exited without a result"
    return f"{who} exited without a result (exit code {outcome.exit_code})"


def stages_from(payload: dict[str, Any], *, whole_messages: bool = False) -> tuple[StageResult, ...]:
    """The stage results a harness sent, logs cut to their end and messages to one line
    (`whole_messages`: to 500 characters, line breaks kept). KeyError: a stage without its
    name or ok."""
    return tuple(
        StageResult(
            name=str(s["name"]),
            ok=bool(s["ok"]),
            seconds=float(s.get("seconds", 0.0)),
            message=str(s.get("message", ""))[:500] if whole_messages else one_line(str(s.get("message", ""))),
            log=str(s.get("log", ""))[-TAIL_CHARS:],
        )
        for s in payload.get("stages", [])
    )


def numbers_and_text(payload: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """A payload's numeric metrics (booleans left out) and its text fields."""
    metrics = {str(k): float(v) for k, v in dict(payload.get("metrics", {})).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    text = {str(k): str(v) for k, v in dict(payload.get("text", {})).items()}
    return metrics, text


def output_tails(outcome: SandboxOutcome) -> str:
    """The ends of the job's stderr and stdout, labelled, for feedback."""
    parts = []
    for name, stream in (("stderr", outcome.stderr), ("stdout", outcome.stdout)):
        if stream.strip():
            parts.append(f"{name} (last {TAIL_CHARS} characters at most):\n{stream[-TAIL_CHARS:].rstrip()}")
    return "\n".join(parts)


def join_feedback(parts: list[str]) -> str:
    """Non-empty parts, one blank line apart, cut at FEEDBACK_CHARS."""
    text = "\n\n".join(p.strip() for p in parts if p and p.strip())
    return text if len(text) <= FEEDBACK_CHARS else text[: FEEDBACK_CHARS - 20] + "\n[... cut ...]"


def one_line(text: str) -> str:
    """The last non-empty line of `text` (where a traceback says what was raised), capped."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:500]


def _possessive(who: str) -> str:
    return f"{who}'" if who.endswith("s") else f"{who}'s"
