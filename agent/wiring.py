"""Builds the loop's parts from a task: strategy, evaluator (with its sandbox), proposer."""

from __future__ import annotations

import random
from pathlib import Path

from agent.config import ConfigError, TaskConfig


def build_strategy(task: TaskConfig, rng: random.Random):
    from archives.registry import StrategyError, make_strategy

    try:
        return make_strategy(task.search, rng)
    except StrategyError as exc:
        raise ConfigError(f"search.strategy: {exc}") from None


def build_evaluator(task: TaskConfig):
    """The task kind's evaluator and the sandbox's isolation warnings."""
    from evaluators.program import ProgramEvaluator
    from evaluators.scorers import ScorerError, load_scorer
    from sandbox import make_sandbox

    scorer = None
    if task.scorer:
        try:
            scorer = load_scorer(task.scorer, task.task_dir)
        except ScorerError as exc:
            raise ConfigError(f"scorer: {exc}") from None
    sandbox = make_sandbox(task.sandbox.backend)
    return ProgramEvaluator(task, sandbox, scorer), sandbox.warnings()


def build_proposer(task: TaskConfig, rng: random.Random, run_id: str, spent: float):
    """Returns (proposer, gateway or None, number of proposal workers)."""
    from agent.proposers import LLMProposer, MixedProposer, TunerProposer
    from agent.tuner import Tuner, TunerError, has_tunables

    source = Path(task.program).read_text(encoding="utf-8")
    try:
        tunable = has_tunables(source, dict(task.tunables))
    except TunerError as exc:
        raise ConfigError(f"{task.program}: {exc}") from None
    tuner = TunerProposer(Tuner(dict(task.tunables), rng)) if tunable else None
    if not task.llm.models:
        if tuner is None:
            raise ConfigError(
                f"no LLM configured and {Path(task.program).name} has no tunable constants: set llm.models "
                "in the task file or pass --model, or mark constants with '# evoforge: tune ...'"
            )
        return tuner, None, task.evaluate.workers
    from agent.llm import LLMGateway
    from agent.prompts import PromptBuilder

    gateway = LLMGateway(
        task.llm, run_id=run_id, rng=rng, dollar_budget=task.budget.dollars, spent=spent
    )
    prompts = PromptBuilder(task.prompt.templates, task.prompt.system)
    _check_templates(prompts, task, source)
    llm = LLMProposer(
        gateway,
        prompts,
        task_name=task.name,
        description=task.description,
        language=task.language,
        edit_format=task.llm.edit_format,
    )
    proposer = MixedProposer(llm, tuner, task.llm.tuner_share, rng) if tuner else llm
    return proposer, gateway, task.llm.concurrency


def _check_templates(prompts, task: TaskConfig, source: str) -> None:
    """Render once with the initial program, so a broken task template fails before any LLM call."""
    from agent.prompts import PromptContext, PromptError
    from archives.records import Program

    parent = Program(id="initial", run_id="", source=source)
    for mode in ("diff", "full"):
        context = PromptContext(
            task_name=task.name, task_description=task.description, language=task.language, parent=parent, mode=mode
        )
        try:
            prompts.build(context)
        except PromptError as exc:
            raise ConfigError(f"prompt.templates: {exc}") from None
