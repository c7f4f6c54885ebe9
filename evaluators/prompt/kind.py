"""The prompt task kind: a prompt, scored by a target model's answers on a data set."""

from __future__ import annotations

import os
from typing import Any

from evaluators.base import RunContext
from evaluators.prompt.config import PATH_KEYS, PromptTaskConfig

ENV_OVERRIDES = {
    "EVOFORGE_PROMPT_TARGET_MODEL": ("target", "model"),
    "EVOFORGE_PROMPT_TARGET_API_BASE": ("target", "api_base"),
    "EVOFORGE_PROMPT_JUDGE_MODEL": ("judge", "model"),
    "EVOFORGE_PROMPT_JUDGE_API_BASE": ("judge", "api_base"),
}
"""Environment variables that point a task's target (or judge) model elsewhere without editing
the task file, e.g. at a local server in tests; the run says when one is used."""


class PromptKind:
    """`kind: prompt`: `program:` is the prompt file, `prompt_task:` names the data, the target
    model and the scoring (docs/prompt-tasks.md)."""

    name = "prompt"
    config_key = "prompt_task"
    config_model = PromptTaskConfig
    path_keys: tuple[str, ...] = PATH_KEYS

    def check(self, task: Any) -> None:
        if getattr(task, "kind_options", None) is None:
            raise ValueError("prompt_task: required key is missing (kind: prompt needs its data, target and scoring)")
        if getattr(task, "scorer", None):
            raise ValueError("scorer: prompt tasks score answers with prompt_task.scoring; remove the top-level scorer")

    def candidate_language(self, task: Any) -> str:
        return "text"

    def description(self, task: Any) -> str:
        options: PromptTaskConfig = task.kind_options
        scoring = options.scoring
        how = {
            "exact": "an exact match with the expected answer (case and final punctuation ignored)"
            if scoring.normalize else "an exact match with the expected answer",
            "regex": f"the regular expression {scoring.pattern!r} matching the answer",
            "numeric": f"the last number in the answer being within {scoring.tolerance:g} of the expected number",
            "json_schema": "the answer being JSON valid against a JSON Schema",
            "custom": f"the task's own scorer {scoring.function}",
            "llm_judge": "an LLM judge" + (" comparing answers with the current best prompt's"
                                           if scoring.judge and scoring.judge.pairwise else " grading by a rubric"),
        }[scoring.method]
        layout = (
            f"The prompt file has the sections {', '.join(f'=== {f} ===' for f in options.fields)}; keep every header. "
            if options.fields else
            "The whole text is the system message and each example's input is the user message, unless the text "
            "holds the placeholder {input}: then the filled-in text is the user message. "
        )  # fmt: skip
        lines = [
            task.description.strip(),
            f"You are improving a prompt: the text sent to the model {options.target.model} with each example. "
            f"Each answer is scored 0 to 1 by {how}; a prompt's fitness is its mean score over a validation set. "
            + layout + "Write the prompt itself, not code.",
        ]
        return "\n\n".join(line for line in lines if line)

    def build_evaluator(self, task: Any, sandbox: Any, scorer: Any, context: RunContext) -> tuple[Any, list[str]]:
        from agent.config import ConfigError
        from evaluators.prompt.data import DataError
        from evaluators.prompt.evaluator import PromptEvaluator
        from evaluators.prompt.scoring import ScoringError

        options, warnings = with_env_overrides(task.kind_options)
        try:
            evaluator = PromptEvaluator(options, task_dir=task.task_dir, sandbox=sandbox, context=context)
        except DataError as exc:
            raise ConfigError(f"prompt_task.data: {exc}") from None
        except ScoringError as exc:
            where = "prompt_task." if str(exc).startswith("scoring.") else "prompt_task.scoring: "
            raise ConfigError(f"{where}{exc}") from None
        return evaluator, warnings


def with_env_overrides(options: PromptTaskConfig) -> tuple[PromptTaskConfig, list[str]]:
    """`options` with the ENV_OVERRIDES that are set applied, and one line for each."""
    updates: dict[str, dict[str, str]] = {}
    notes = []
    for variable, (part, key) in ENV_OVERRIDES.items():
        value = os.environ.get(variable)
        if not value:
            continue
        if part == "judge" and options.scoring.judge is None:
            continue
        updates.setdefault(part, {})[key] = value
        notes.append(f"prompt_task.{'scoring.' if part == 'judge' else ''}{part}.{key} is {value!r} (from ${variable})")
    if "target" in updates:
        options = options.model_copy(update={"target": options.target.model_copy(update=updates["target"])})
    if "judge" in updates and options.scoring.judge is not None:
        judge = options.scoring.judge.model_copy(update=updates["judge"])
        options = options.model_copy(update={"scoring": options.scoring.model_copy(update={"judge": judge})})
    return options, notes
