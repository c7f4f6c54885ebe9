"""A suite problem's task file: made from a KernelBench file (as `agent new-task` makes it), or
the user's task.yaml.

A KernelBench problem gets `<dir>/<problem>/task.yaml` (+ reference.py, initial.py); a resumed
suite reuses the folder it made. With knowledge sharing on, every task runs with
`learning.knowledge.enabled: true` (the suite's one store holds the knowledge base, so what one
problem's run distilled is offered to the next); a user's task.yaml that has it off is then run
from a copy in `<dir>/<problem>/task.yaml` with its files named by absolute path. Without
sharing, tasks the suite makes have knowledge off and a user's task.yaml is run as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from agent.config import load_task
from agent.suites.problems import Problem

_MADE_FILES = ("reference.py", "initial.py")  # what new-task writes before task.yaml
_KNOWLEDGE_ON = "\n# agent suite run --share-knowledge: one knowledge base for the suite's problems\n" \
                "learning: {knowledge: {enabled: true}}\n"


@dataclass(frozen=True)
class ProblemTask:
    task_file: Path
    task_name: str  # the task's `name`: what its runs are recorded under


def problem_task(problem: Problem, folder: Path, language: str, share_knowledge: bool) -> ProblemTask:
    """The task file `problem` runs (made in `folder` when needed). Raises ConfigError when no
    task can be had for it (e.g. its reference fails): the problem cannot run here."""
    if problem.kernelbench:
        task_file = _kernelbench_task(problem, folder, language, share_knowledge)
    else:
        task_file = _user_task(problem, folder, share_knowledge)
    return ProblemTask(task_file, load_task(task_file).name)


def _kernelbench_task(problem: Problem, folder: Path, language: str, share_knowledge: bool) -> Path:
    from agent.new_task import make_kernelbench_task

    target = folder / "task.yaml"
    if target.is_file():  # made by an earlier run of this suite
        return target
    for name in _MADE_FILES:  # an earlier run was cut off while making it
        (folder / name).unlink(missing_ok=True)
    made = make_kernelbench_task(problem.source, language, folder)
    if share_knowledge:
        with made.task_yaml.open("a", encoding="utf-8") as fh:
            fh.write(_KNOWLEDGE_ON)
    return made.task_yaml


def _user_task(problem: Problem, folder: Path, share_knowledge: bool) -> Path:
    task = load_task(problem.source)
    if not share_knowledge or task.learning.knowledge.enabled:
        return problem.source
    config = task.model_dump(mode="json", exclude={"task_dir"})  # files named by absolute path
    config["learning"]["knowledge"]["enabled"] = True
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "task.yaml"
    header = f"# {problem.source} with learning.knowledge.enabled: true (agent suite run --share-knowledge)\n"
    target.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return target
