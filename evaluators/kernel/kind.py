"""The kernel task kind: Triton or CUDA candidates in KernelBench format, judged against a reference."""

from __future__ import annotations

from typing import Any

from evaluators.base import RunContext
from evaluators.kernel.config import KernelConfig

_CPU_NOTICE = ("no GPU: Triton kernels run in the interpreter, CUDA kernels are compiled but not run, and "
               "nothing is timed (every correct candidate gets fitness 0)")


class KernelKind:
    """`kind: kernel`: `program:` is the initial ModelNew file, `reference:` the KernelBench
    problem file, `kernel:` the checking and timing options (KernelConfig)."""

    name = "kernel"
    config_key = "kernel"
    config_model = KernelConfig
    path_keys: tuple[str, ...] = ()

    def check(self, task: Any) -> None:
        if task.reference is None:
            raise ValueError("reference: required key is missing (kind: kernel needs a KernelBench problem file)")
        if task.language not in ("triton", "cuda"):
            raise ValueError(f"language: kernel tasks take 'triton' or 'cuda', got {task.language!r}")

    def candidate_language(self, task: Any) -> str:
        return "python"  # Triton and CUDA candidates alike are Python files (CUDA inline)

    def description(self, task: Any) -> str:
        from evaluators.kernel.prompting import kernel_description

        return kernel_description(task)

    def build_evaluator(self, task: Any, sandbox: Any, scorer: Any, context: RunContext) -> tuple[Any, list[str]]:
        from agent.config import ConfigError
        from evaluators.kernel.evaluator import KernelEvaluator

        try:
            evaluator = KernelEvaluator(task, sandbox, scorer=scorer)
        except ValueError as exc:
            raise ConfigError(f"kernel: {exc}") from None
        warnings = evaluator.warnings()
        if evaluator.device == "cpu":
            warnings.append(_CPU_NOTICE)
        return evaluator, warnings
