"""Builds the learning parts a task switches on (agent/learning/parts.py), resumed from the store."""

from __future__ import annotations

import random
from pathlib import Path

from agent.config import ConfigError, TaskConfig
from agent.learning.parts import LearningParts, largest_gain
from agent.prompts import PromptContext, PromptError, artifact_of
from archives.records import Program


def build_learning_parts(task: TaskConfig, gateway, prompts, store, run_id: str, rng: random.Random,
                         source: str) -> LearningParts:
    """`gateway`, `prompts`: the proposer's; `source`: the initial program. A broken task template
    of a part (plan.j2, metaprompt.j2) is a ConfigError before any call is made."""
    config = task.learning
    language = task.task_kind.candidate_language(task)
    reference = Path(task.reference).read_text(encoding="utf-8") if task.reference else source
    parts = LearningParts(
        diagnosis=config.diagnosis, run_id=run_id, set_reward=store.set_call_reward, record_call=store.add_llm_call,
        knowledge_context={"kind": task.kind, "language": language, "op": task.name}, reference=reference,
        retrieve=config.knowledge.retrieve, distil_every=config.knowledge.distil_every,
        largest_gain=largest_gain(store.programs(run_id)),
    )
    context = PromptContext(task_name=task.name, task_description=task.description, language=language,
                            parent=Program(id="initial", run_id=run_id, source=source))  # fmt: skip
    llm = task.llm
    if llm.choice != "weights" or any(llm.roles.model_dump().values()):
        from agent.learning.model_choice import ModelChooser

        parts.chooser = ModelChooser(llm, rng)
        parts.chooser.restore(store.llm_calls(run_id))
    if config.meta_prompts.enabled:
        from agent.learning.metaprompts import MetaPromptPool

        parts.meta_prompts = MetaPromptPool(
            store, run_id, gateway, config=config.meta_prompts, rng=rng, initial_system=prompts.default_system(context),
            initial_hints="", record_call=store.add_llm_call, task_name=task.name,
            task_description=task.description, language=language,
            artifact=artifact_of(language),
            templates_dir=task.prompt.templates,
            choose_model=(lambda: parts.chooser.choose("summarize")) if parts.chooser is not None else None,
        )
        parts.meta_prompts.restore()
    if config.plan.enabled:
        from agent.learning.planning import Planner

        parts.planner = Planner(store, run_id, gateway, config=config.plan, templates_dir=task.prompt.templates)
        _check(lambda: parts.planner.messages(context))
    if config.knowledge.enabled:
        from agent.learning.knowledge import KnowledgeBase

        parts.knowledge = KnowledgeBase(_knowledge_store(config.knowledge.store, store), config=config.knowledge,
                                        run_store=store, templates_dir=task.prompt.templates)
    return parts


def _check(render) -> None:
    try:
        render()
    except PromptError as exc:
        raise ConfigError(f"prompt.templates: {exc}") from None


def _knowledge_store(url: str | None, store):
    """The store holding the knowledge base: the run's, or the one `learning.knowledge.store` names."""
    if url is None:
        return store
    from archives.store import Store, StoreError

    try:
        return Store(url)
    except StoreError as exc:
        raise ConfigError(f"learning.knowledge.store: {exc}") from None
