"""The files a task names, made absolute against the task file's folder and checked to exist."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.config import ConfigError, EvaluateConfig, TaskConfig

_PATH_KEYS = ("program", "evaluator", "reference")


def resolve_paths(task: TaskConfig, path: Path) -> TaskConfig:
    """The task with every file it names made absolute against its folder and checked to exist:
    `program`, `evaluator`, `reference`, the kind's `path_keys`, the evaluator's Python and
    folders, prompt templates, a scorer file. ConfigError names the file and the key."""
    updates: dict[str, Any] = {}
    for key in _PATH_KEYS:
        value: Path | None = getattr(task, key)
        if value is None:
            continue
        full = value if value.is_absolute() else task.task_dir / value
        if not full.is_file():
            raise ConfigError(f"{path}: {key}: file not found: {full}")
        updates[key] = full
    evaluate = _resolve_evaluator_needs(task.evaluate, task.task_dir, path, in_image=task.sandbox.image is not None)
    if evaluate is not task.evaluate:
        updates["evaluate"] = evaluate
    if task.prompt.templates is not None:
        tdir = task.prompt.templates
        tdir = tdir if tdir.is_absolute() else task.task_dir / tdir
        if not tdir.is_dir():
            raise ConfigError(f"{path}: prompt.templates: folder not found: {tdir}")
        updates["prompt"] = task.prompt.model_copy(update={"templates": tdir})
    if task.kind_options is not None and task.task_kind.path_keys:
        updates["kind_options"] = _resolve_kind_paths(task, path)
    if task.scorer and ":" in task.scorer and _names_a_file(task.scorer.rpartition(":")[0]):
        file_part, _, func = task.scorer.rpartition(":")
        scorer_file = Path(file_part)
        scorer_file = scorer_file if scorer_file.is_absolute() else task.task_dir / scorer_file
        if not scorer_file.is_file():
            raise ConfigError(f"{path}: scorer: file not found: {scorer_file}")
        if not func.isidentifier():
            raise ConfigError(f"{path}: scorer: expected 'file.py:function', got {task.scorer!r}")
        updates["scorer"] = f"{scorer_file}:{func}"
    return task.model_copy(update=updates)


def _names_a_file(target: str) -> bool:
    """Whether a scorer's "target:function" names a file (else a module: "package.module")."""
    return target.endswith(".py") or "/" in target or "\\" in target


def _resolve_kind_paths(task: TaskConfig, path: Path) -> Any:
    """The kind's options with the files its `path_keys` name made absolute and checked to exist."""
    kind = task.task_kind
    options = task.kind_options
    for dotted in kind.path_keys:
        *parents, leaf = dotted.split(".")
        chain = [options]
        for part in parents:
            chain.append(getattr(chain[-1], part, None))
        holder = chain[-1]
        value = getattr(holder, leaf, None) if holder is not None else None
        if value is None or value == "":  # not given
            continue
        full = Path(value) if Path(value).is_absolute() else task.task_dir / value
        if not full.is_file():
            raise ConfigError(f"{path}: {kind.config_key}.{dotted}: file not found: {full}")
        updated = holder.model_copy(update={leaf: type(value)(full) if isinstance(value, (str, Path)) else full})
        for owner, part in zip(reversed(chain[:-1]), reversed(parents)):
            updated = owner.model_copy(update={part: updated})
        options = updated
    return options


def _resolve_evaluator_needs(cfg: EvaluateConfig, task_dir: Path, path: Path, *, in_image: bool) -> EvaluateConfig:
    """evaluate.python / venv / requirements / pythonpath made absolute and checked to exist
    (an interpreter given as a bare name is looked up on PATH). With sandbox.image the
    interpreter and venv are paths inside the image, taken as written."""
    if cfg.python is None and cfg.venv is None and cfg.requirements is None and not cfg.pythonpath:
        return cfg

    def full(value: Path) -> Path:  # normpath, not resolve: a venv's bin/python is a link to keep
        return Path(os.path.normpath(value if value.is_absolute() else task_dir / value))

    updates: dict[str, Any] = {}
    if cfg.python is not None and not in_image:
        if len(cfg.python.parts) == 1 and not full(cfg.python).exists():  # "python3.12": a command
            from evaluators.program.runtime import python_on_path

            found = python_on_path(str(cfg.python))
            if found is None:
                raise ConfigError(
                    f"{path}: evaluate.python: {cfg.python} is neither a file beside the task nor on PATH"
                )
            updates["python"] = Path(found)
        else:
            updates["python"] = full(cfg.python)
    if cfg.venv is not None and not in_image:
        if not full(cfg.venv).is_dir():
            raise ConfigError(f"{path}: evaluate.venv: folder not found: {full(cfg.venv)}")
        updates["venv"] = full(cfg.venv)
    if cfg.requirements is not None:
        if not full(cfg.requirements).is_file():
            raise ConfigError(f"{path}: evaluate.requirements: file not found: {full(cfg.requirements)}")
        updates["requirements"] = full(cfg.requirements)
    folders = tuple(full(p) for p in cfg.pythonpath)
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(f"{path}: evaluate.pythonpath: folder not found: {folder}")
    updates["pythonpath"] = folders
    return cfg.model_copy(update=updates)
