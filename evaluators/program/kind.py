"""The program task kind: any program, scored by the user's OpenEvolve-style evaluator."""

from __future__ import annotations

from typing import Any

from evaluators.base import RunContext

PROGRAM_TIMEOUT_SECONDS = 300.0
"""evaluate.timeout_seconds when a program task does not set it (OpenEvolve's default: its
examples' evaluators often need minutes); other kinds keep EvaluateConfig's 60 s."""


class ProgramKind:
    """`kind: program`: `program:` is the initial program, `evaluator:` the file with
    evaluate(program_path) -> dict that scores it (in the sandbox)."""

    name = "program"
    config_key = None
    config_model = None
    path_keys: tuple[str, ...] = ()
    runs_user_python = True  # evaluate.python, venv, requirements and pythonpath apply
    timeout_seconds = PROGRAM_TIMEOUT_SECONDS

    def check(self, task: Any) -> None:
        if task.evaluator is None:
            raise ValueError("evaluator: required key is missing (kind: program needs it)")

    def candidate_language(self, task: Any) -> str:
        return task.language

    def description(self, task: Any) -> str:
        return task.description

    def build_evaluator(self, task: Any, sandbox: Any, scorer: Any, context: RunContext) -> tuple[Any, list[str]]:
        """The evaluator, its declared Python and requirements checked in the sandbox
        (evaluators/program/runtime.py): a missing package stops here, before any LLM call."""
        from agent.config import ConfigError
        from agent.failures import RunFailed
        from evaluators.program.evaluator import ProgramEvaluator
        from evaluators.program.runtime import RuntimeProblem
        from sandbox.errors import SandboxError

        try:
            evaluator = ProgramEvaluator(task, sandbox, scorer)
            evaluator.check_needs()
        except RuntimeProblem as exc:
            raise ConfigError(str(exc)) from None
        except SandboxError as exc:
            raise RunFailed(f"evaluate.requirements: the sandbox could not run the check: {exc}") from None
        return evaluator, []
