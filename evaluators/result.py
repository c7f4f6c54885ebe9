"""What an evaluation produces: stage results and the final, typed result."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StageResult:
    """One stage of an evaluation (e.g. "run", "validate", "score", "compile")."""

    name: str
    ok: bool
    seconds: float = 0.0
    message: str = ""  # one readable line
    log: str = ""  # captured output, capped


@dataclass(frozen=True)
class EvalResult:
    """The outcome of evaluating one program.

    `status` is one of `archives.records.Status.EVALUATED`. `fitness` is higher-is-better and
    present only for "correct". `feedback` is text for the next prompt (the evaluator's extra
    text fields, an error, an output tail); `error` is one line saying why it failed.

    `evaluator_error` says the fault lies with the task's evaluator (or scorer), not with the
    candidate: it could not be loaded, broke its contract (no `evaluate`, a result that is not
    a dict, no fitness), or raised without the candidate's code being involved. An LLM cannot
    fix that by rewriting the program, so on the initial program it stops the run.
    """

    status: str
    fitness: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    descriptors: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str | None = None
    stages: tuple[StageResult, ...] = ()
    seconds: float = 0.0
    backend: str | None = None  # the sandbox backend that ran it, recorded with the program
    evaluator_error: bool = False  # the evaluator's fault, not the candidate's (see above)
