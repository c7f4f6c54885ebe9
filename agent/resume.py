"""The settings a resumed run goes on with, and the lines that say where they differ.

A resumed run keeps the settings stored with it, even when its task file changed since.
The command line may change the safe ones (`RESUME_OPTIONS`: budget, workers, strategy, seed,
model and API base); a setting the task file changed is named with the stored value it keeps
and, where an option can change it, that option. Settings that define what is optimised and
how it is judged (program, evaluator, kind, scorer, ...) stay as the run started: changing them
needs a new run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.config import OVERRIDE_KEYS, TaskConfig, task_from_run

# Command-line options a resumed run accepts, by the task key each one sets.
RESUME_OPTIONS = {
    "budget.evaluations": "evaluations",
    "budget.dollars": "dollars",
    "budget.wall_seconds": "wall-seconds",
    "evaluate.workers": "workers",
    "search.strategy": "strategy",
    "search.seed": "seed",
    "llm.models": "model",
}
# Not settings of the run: where its task file is now, and the store it was found in.
_NOT_SETTINGS = ("task_dir", "store")
_SHOWN_CHARS = 160  # paths whole; a long description cut


def resumed_task(
    config: dict[str, Any], current: TaskConfig, task_path: Path, overrides: dict[str, Any] | None
) -> tuple[TaskConfig, list[str]]:
    """The run's stored task with the command line's options on top, and one line per setting
    that the options changed or that differs between the stored task and the file now.

    `current` is the task file as loaded now (with the same options applied).
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None and k != "store"}
    stored = _flat(task_from_run(config, task_path).model_dump(mode="json"))
    task = task_from_run(config, task_path, given)
    used = _flat(task.model_dump(mode="json"))
    in_file = _flat(current.model_dump(mode="json"))
    by_option = {_key_of(option) for option in given}
    lines = []
    for key in sorted(set(stored) | set(used) | set(in_file)):
        if key.split(".")[0] in _NOT_SETTINGS:
            continue
        if key in by_option:
            if used.get(key) != stored.get(key):
                option = RESUME_OPTIONS.get(key, key)
                lines.append(f"resume: {key} = {_shown(used.get(key))} (from --{option}; the run had {_shown(stored.get(key))})")
        elif in_file.get(key) != stored.get(key):
            option = RESUME_OPTIONS.get(key)
            hint = f"pass --{option} to change it" if option else "a run keeps it: start a new run to use the file's"
            lines.append(
                f"resume: using the stored {key} = {_shown(stored.get(key))} "
                f"(the task file now says {_shown(in_file.get(key))}; {hint})"
            )
    return task, lines


def _key_of(option: str) -> str:
    """The flattened key an override option sets (--model and --api-base: the models)."""
    if option in ("model", "api_base"):
        return "llm.models"
    return OVERRIDE_KEYS[option]


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a.b": leaf}; lists and tuples are leaves."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, inner in value.items():
        out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _shown(value: Any) -> str:
    """A value as one short line: numbers as they are, None as "none", the rest as JSON."""
    if value is None:
        return "none"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = repr(value)
    else:
        text = json.dumps(value, sort_keys=True)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
