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
    from evaluators.scorers import ScorerError, load_scorer
    from sandbox import SandboxError, choose_sandbox

    scorer = None
    if task.scorer:
        try:
            scorer = load_scorer(task.scorer, task.task_dir)
        except ScorerError as exc:
            raise ConfigError(f"scorer: {exc}") from None
    options = task.sandbox
    try:
        sandbox, notice = choose_sandbox(options.backend, image=options.image, image_python=options.image_python,
                                         cpus=options.cpus, reuse=options.reuse_containers)
    except SandboxError as exc:
        raise ConfigError(f"sandbox.backend {options.backend}: {exc}") from None
    warnings = [*([notice] if notice else []), *sandbox.warnings()]
    needs = task.evaluate
    if task.kind != "program" and (needs.python or needs.venv or needs.requirements or needs.pythonpath):
        raise ConfigError("evaluate.python, venv, requirements and pythonpath apply to program tasks only")
    if task.kind == "kernel":
        from evaluators.kernel.evaluator import KernelEvaluator

        try:
            evaluator = KernelEvaluator(task, sandbox, scorer=scorer)
        except ValueError as exc:
            raise ConfigError(f"kernel: {exc}") from None
        warnings.extend(evaluator.warnings())
        if evaluator.device == "cpu":
            warnings.append("no GPU: Triton kernels run in the interpreter, CUDA kernels are compiled but not "
                            "run, and nothing is timed (every correct candidate gets fitness 0)")
        return evaluator, warnings
    return _program_evaluator(task, sandbox, scorer), warnings


def _program_evaluator(task: TaskConfig, sandbox, scorer):
    """The program evaluator, its declared Python and requirements checked in the sandbox
    (evaluators/program/runtime.py): a missing package stops here, before any LLM call."""
    from agent.failures import RunFailed
    from evaluators.program import ProgramEvaluator
    from evaluators.program.runtime import RuntimeProblem
    from sandbox import SandboxError

    try:
        evaluator = ProgramEvaluator(task, sandbox, scorer)
        evaluator.check_needs()
    except RuntimeProblem as exc:
        _cancel(sandbox)
        raise ConfigError(str(exc)) from None
    except SandboxError as exc:
        _cancel(sandbox)
        raise RunFailed(f"evaluate.requirements: the sandbox could not run the check: {exc}") from None
    return evaluator


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
    return NoveltyIndex(novelty.similarity, task.language, novelty.shingle)


def build_proposer(
    task: TaskConfig, rng: random.Random, run_id: str, spent: float, strategy=None, record_call=None
):
    """Returns (proposer, gateway or None, number of proposal workers).

    With an LLM, a `strategy` that keeps a memory (the priority queue) and `record_call` to
    store the summary calls, the LLM's prompts carry the summarizer's recommendations.
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
        task.llm, run_id=run_id, rng=rng, dollar_budget=task.budget.dollars, spent=spent
    )
    prompts = PromptBuilder(task.prompt.templates, task.prompt.system)
    _check_templates(prompts, task, source)
    summarizer = _build_summarizer(task, gateway, strategy, record_call)
    llm = LLMProposer(
        gateway,
        prompts,
        task_name=task.name,
        description=_description(task),
        language="python" if task.kind == "kernel" else task.language,  # kernel candidates are .py files
        edit_format=task.llm.edit_format,
        notes=summarizer.notes if summarizer is not None else None,
    )
    proposer = MixedProposer(llm, tuner, task.llm.tuner_share, rng) if tuner else llm
    return proposer, gateway, task.llm.concurrency


def _description(task: TaskConfig) -> str:
    """What every prompt starts with; kernel tasks add the reference and the judge's rules."""
    if task.kind != "kernel":
        return task.description
    from evaluators.kernel.prompting import kernel_description

    return kernel_description(task)


def _build_summarizer(task: TaskConfig, gateway, strategy, record_call):
    every = task.search.pq.summarize_every
    if strategy is None or record_call is None or every <= 0 or not hasattr(strategy, "memory"):
        return None
    from agent.summarizer import MemorySummarizer

    return MemorySummarizer(
        gateway, strategy, every=every, max_notes=task.search.pq.summary_notes, task_name=task.name,
        task_description=task.description, language=task.language, record_call=record_call,
        templates_dir=task.prompt.templates,
    )


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
