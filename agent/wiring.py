"""Builds the loop's parts from a task: strategy, evaluator (with its sandbox), proposer."""

from __future__ import annotations

import random
from pathlib import Path

from agent.config import ConfigError, TaskConfig


def build_strategy(task: TaskConfig, rng: random.Random):
    """The strategy `search.strategy` names (agent/plugins.py), with its own options when it
    declares a `config_model`: validated from `search.options` and given as `config.options`."""
    from agent.config import strategy_options
    from agent.plugins import PluginError, resolve
    from archives.registry import StrategyError, make_strategy

    search = task.search
    try:
        cls = resolve("strategies", search.strategy)
    except PluginError as exc:
        raise ConfigError(f"search.strategy: {exc}") from None
    search = search.model_copy(update={"options": strategy_options(cls, search)})
    try:
        return make_strategy(search, rng)
    except StrategyError as exc:
        raise ConfigError(f"search.strategy: {exc}") from None


def run_context(task: TaskConfig, run_id: str = "", rng: random.Random | None = None, ledger=None,
                record_call=None):
    """The RunContext (evaluators/base.py) an evaluator gets; without a ledger, a new one."""
    from agent.llm.ledger import DollarLedger
    from evaluators.base import RunContext

    url = task.store_url
    store_dir = Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite:///") else Path("runs")
    return RunContext(
        run_id=run_id,
        rng=rng if rng is not None else random.Random(task.search.seed),
        ledger=ledger if ledger is not None else DollarLedger(task.budget.dollars),
        record_call=record_call,
        store_dir=store_dir,
    )


def build_evaluator(task: TaskConfig, context=None):
    """The task kind's evaluator (in a new sandbox) and the warnings to show: what the sandbox
    and the evaluator cannot provide here. `context`: the run's RunContext (default: a fresh one)."""
    from evaluators.scorers import ScorerError, load_scorer
    from sandbox import SandboxError, choose_sandbox

    kind = task.task_kind
    needs = task.evaluate
    if not getattr(kind, "runs_user_python", False) and (
        needs.python or needs.venv or needs.requirements or needs.pythonpath
    ):
        raise ConfigError("evaluate.python, venv, requirements and pythonpath apply to program tasks only")
    scorer = None
    if task.scorer:
        try:
            scorer = load_scorer(task.scorer, task.task_dir)
        except ScorerError as exc:
            raise ConfigError(f"scorer: {exc}") from None
    options = task.sandbox
    try:
        sandbox, notice = choose_sandbox(options.backend, image=options.image, image_python=options.image_python,
                                         cpus=options.cpus, reuse=options.reuse_containers, options=options.options)
    except SandboxError as exc:
        raise ConfigError(f"sandbox.backend {options.backend}: {exc}") from None
    except ValueError as exc:  # a plugin backend that cannot be resolved or made
        raise ConfigError(f"sandbox.backend: {exc}") from None
    warnings = [*([notice] if notice else []), *sandbox.warnings()]
    try:
        evaluator, more = kind.build_evaluator(task, sandbox, scorer, context or run_context(task))
    except BaseException:
        _cancel(sandbox)
        raise
    return evaluator, [*warnings, *more]


def _cancel(sandbox) -> None:
    cancel = getattr(sandbox, "cancel_all", None)
    if cancel is not None:
        cancel()


def build_novelty(task: TaskConfig):
    """The near-duplicate index the controller checks proposals against, or None (exact only)."""
    from archives.novelty import NoveltyIndex

    novelty = task.search.novelty
    if novelty.similarity is None:
        return None
    return NoveltyIndex(novelty.similarity, task.task_kind.candidate_language(task), novelty.shingle)


def build_proposer(
    task: TaskConfig, rng: random.Random, run_id: str, spent: float, strategy=None, record_call=None, ledger=None,
    store=None, warn=None,
):
    """Returns (proposer, gateway or None, number of proposal workers).

    With an LLM, a `strategy` that keeps a memory (the priority queue) and `record_call` to
    store the summary calls, the LLM's prompts carry the summarizer's recommendations.
    `ledger`: the run's dollar ledger, shared with the evaluator (default: a new one from `spent`).
    `store`: the run's store, where the learning parts (`learning:`, `llm.choice`) keep their
    records; without it they stay off. `warn(line)` shows what their work came to when it came to nothing.
    """
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
        task.llm, run_id=run_id, rng=rng, dollar_budget=task.budget.dollars, spent=spent, ledger=ledger
    )
    prompts = PromptBuilder(task.prompt.templates, task.prompt.system)
    _check_templates(prompts, task, source)
    kind = task.task_kind
    learning = None
    if store is not None:
        from agent.learning.build import build_learning_parts

        learning = build_learning_parts(task, gateway, prompts, store, run_id, rng, source)
        learning.warn = warn
    chooser = learning.chooser if learning is not None else None
    summarizer = _build_summarizer(task, gateway, strategy, record_call, chooser)
    from agent.already_tried import tried_children
    from agent.failure_memory import FailureMemory

    llm = LLMProposer(
        gateway,
        prompts,
        task_name=task.name,
        description=kind.description(task),
        language=kind.candidate_language(task),
        edit_format=task.llm.edit_format,
        notes=summarizer.notes if summarizer is not None else None,
        learning=learning,
        failures=FailureMemory(temperature=task.llm.temperature),
        tried=(lambda parent_id, limit: tried_children(store, parent_id, limit)) if store is not None else None,
        models=task.llm.models,
    )
    proposer = MixedProposer(llm, tuner, task.llm.tuner_share, rng) if tuner else llm
    return proposer, gateway, task.llm.concurrency


def _build_summarizer(task: TaskConfig, gateway, strategy, record_call, chooser=None):
    every = task.search.pq.summarize_every
    if strategy is None or record_call is None or every <= 0 or not hasattr(strategy, "memory"):
        return None
    from agent.summarizer import MemorySummarizer

    return MemorySummarizer(
        gateway, strategy, every=every, max_notes=task.search.pq.summary_notes, task_name=task.name,
        task_description=task.description, language=task.task_kind.candidate_language(task),
        record_call=record_call,
        templates_dir=task.prompt.templates,
        chooser=chooser,
    )


def _check_templates(prompts, task: TaskConfig, source: str) -> None:
    """Render once with the initial program, so a broken task template fails before any LLM call."""
    from agent.prompts import MODES, PromptContext, PromptError
    from archives.records import Program

    parent = Program(id="initial", run_id="", source=source)
    language = task.task_kind.candidate_language(task)
    for mode in MODES:  # every mode a strategy may ask for; a merge's second parent is the same program
        context = PromptContext(
            task_name=task.name, task_description=task.description, language=language, parent=parent,
            inspirations=(parent,), mode=mode,
        )
        try:
            prompts.build(context)
        except PromptError as exc:
            raise ConfigError(f"prompt.templates: {exc}") from None
