"""Proposers turn a strategy's request into a child program: the LLM, the built-in tuner, or both.

A proposer never raises for what an LLM or an edit does wrong: a failed proposal comes back as a
`Proposal` with `error` set (and the LLM call, for the ledger), so the controller records it and
the next prompt for that parent shows the error.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Protocol

from agent.config import ModelSpec
from agent.edits import EditError, apply_answer
from agent.failure_memory import Advice, FailureMemory, RepeatedFailure
from agent.learning.diagnosis import diagnose
from agent.learning.parts import PROPOSAL_ROLES, LearningParts, improvement_of, knowledge_line
from agent.llm import BudgetExceeded, LLMError, LLMGateway
from agent.prompts import PromptBuilder, PromptContext
from agent.tuner import Tuner
from archives.records import LLMCall, Program, ProposalRequest

__all__ = [
    "Proposal", "Proposer", "TunerProposer", "LLMProposer", "MixedProposer", "BudgetExceeded", "RepeatedFailure",
]  # fmt: skip


@dataclass(frozen=True)
class Proposal:
    """A child program, or the reason there is none."""

    source: str | None
    proposer: str  # "tuner" | "llm:<model>"
    diff: str | None = None
    error: str | None = None
    llm_call: LLMCall | None = None
    description: str = ""
    failure_kind: str | None = None  # why the LLM call failed (agent.llm.Kind), when it did
    choices: dict[str, Any] = field(default_factory=dict)  # how it was made: stored as Program.proposal
    extra_calls: tuple[LLMCall, ...] = ()  # calls made before `llm_call` (a plan), stored with it


class Proposer(Protocol):
    async def propose(self, request: ProposalRequest, previous_errors: tuple[str, ...]) -> Proposal:
        ...


class TunerProposer:
    """Mutates the tunable constants a task declares; no LLM needed."""

    def __init__(self, tuner: Tuner):
        self._tuner = tuner

    async def propose(self, request: ProposalRequest, previous_errors: tuple[str, ...] = ()) -> Proposal:
        from agent.edits import unified_diff

        edit = self._tuner.propose(request.parent.source)
        if edit is None:
            return Proposal(None, "tuner", error="the program has no tunable constants left to change")
        diff = unified_diff(request.parent.source, edit.source)
        return Proposal(edit.source, "tuner", diff=diff, description=edit.description)


class LLMProposer:
    """Builds a prompt, asks the LLM gateway, applies the answer to the parent.

    With learning parts (agent/learning/parts.py), each proposal also picks its model by role
    through the chooser, its instructions from the meta-prompt pool, knowledge entries to show,
    a one-line diagnosis, and first asks for a plan; `learn` credits them all with what the
    child brought, and `finish` distils the run into the knowledge base.
    """

    def __init__(
        self,
        gateway: LLMGateway,
        prompts: PromptBuilder,
        *,
        task_name: str,
        description: str,
        language: str,
        edit_format: str = "auto",
        notes: Callable[[], Awaitable[tuple[str, ...]]] | None = None,
        learning: LearningParts | None = None,
        failures: FailureMemory | None = None,
        tried: Callable[[str, int], Sequence[str]] | None = None,
        models: Sequence[ModelSpec] = (),
    ):
        """`notes`, when given, is awaited for each prompt's recommendations (a summarizer's).
        `failures`: what to change after repeated failures (agent/failure_memory.py); `tried(parent_id,
        limit)`: the parent's recent children for the prompt (agent/already_tried.py); `models`: the
        ensemble, the models a proposal may move to when no chooser knows the roles."""
        self._notes = notes
        self._gateway = gateway
        self._prompts = prompts
        self._task_name = task_name
        self._description = description
        self._language = language
        self._edit_format = edit_format
        self._learning = learning or LearningParts()
        self._largest_gain = self._learning.largest_gain
        self._improvements = 0
        self.failures = failures
        self._tried = tried
        self._models = tuple(models)

    async def propose(self, request: ProposalRequest, previous_errors: tuple[str, ...] = ()) -> Proposal:
        parts = self._learning
        parent = request.parent
        role = "draft" if parent.is_correct else "fix"
        model = self._model(role)
        answer_format = self._answer_format(request.mode)
        advice = Advice()
        if self.failures is not None:
            advice = self.failures.advise(parent, self._candidates(role, model), answer_format)
            if advice.stop:
                raise RepeatedFailure(advice.stop)
            model = advice.model_for(model)
        choices: dict[str, Any] = {"role": role, "model": model.name,
                                   "answer_format": advice.answer_format or answer_format}  # fmt: skip
        if advice.changes:
            choices["advice"] = list(advice.changes)
        meta = parts.meta_prompts.pick() if parts.meta_prompts is not None else None
        if meta is not None:
            choices["meta_prompt_id"] = meta.id
        entries = self._knowledge()
        if entries:
            choices["knowledge_ids"] = [e.id for e in entries]
        notes = await self._notes() if self._notes is not None else ()
        if notes:
            choices["notes"] = len(notes)  # the summarizer's recommendations were in the prompt
        context = PromptContext(
            task_name=self._task_name,
            task_description=self._description,
            language=self._language,
            parent=parent,
            inspirations=request.inspirations,
            previous_errors=previous_errors,
            mode=request.mode,
            answer_format=advice.answer_format or (None if self._edit_format == "auto" else self._edit_format),
            reason=request.reason,
            notes=(*notes, *advice.notes),
            system=meta.system if meta is not None else None,
            hints=meta.hints if meta is not None else "",
            knowledge=tuple(knowledge_line(e) for e in entries),
            diagnosis=(diagnose(parent, self._language) or "") if parts.diagnosis else "",
            already_tried=self._already_tried(parent, advice),
        )
        label = f"llm:{model.name}"
        extra: tuple[LLMCall, ...] = ()
        if parts.planner is not None:
            plan, plan_call, plan_error = await parts.planner.plan(context, self._model("plan"))
            if plan is None:
                return Proposal(None, label, error=f"the plan call failed: {plan_error}", llm_call=plan_call,
                                failure_kind=getattr(plan_error, "kind", None), choices=choices)  # fmt: skip
            choices["plan_id"] = plan.id
            extra = (plan_call,) if plan_call is not None else ()
            context = replace(context, plan=plan.text)
        messages = self._prompts.build(context)
        try:
            completion = await self._gateway.complete(messages, model)
        except LLMError as exc:
            return Proposal(None, label, error=f"LLM call failed: {exc}", llm_call=_with_role(exc.call, role),
                            failure_kind=exc.kind, choices=choices, extra_calls=extra)  # fmt: skip
        call = _with_role(completion.call, role)
        try:
            edit = apply_answer(parent.source, completion.text, language=self._language)
        except EditError as exc:
            return Proposal(None, label, error=f"the edit did not apply: {exc}", llm_call=call, choices=choices,
                            extra_calls=extra)  # fmt: skip
        return Proposal(edit.source, label, diff=edit.diff, llm_call=call, choices=choices, extra_calls=extra)

    async def learn(self, child: Program, parent: Program | None, calls: Sequence[LLMCall]) -> None:
        """Credit every part that had a hand in `child` with what it brought (parts.py's rule)."""
        parts = self._learning
        improvement = improvement_of(child, parent, self._largest_gain or 1.0)
        if improvement is not None and improvement > 0 and parent is not None and parent.is_correct:
            self._largest_gain = max(self._largest_gain, improvement)
        choices = child.proposal
        if parts.chooser is not None:
            for call in calls:
                if call.role in (*PROPOSAL_ROLES, "plan") and call.purpose == "proposer":
                    reward = parts.chooser.reward(call, improvement)
                    if parts.set_reward is not None and reward is not None:
                        parts.set_reward(call.id, reward)
        if parts.planner is not None and choices.get("plan_id"):
            parts.planner.credit(choices["plan_id"], child, improvement)
        if parts.knowledge is not None and choices.get("knowledge_ids"):
            parts.knowledge.credit(choices["knowledge_ids"], improvement)
        if parts.meta_prompts is not None and choices.get("meta_prompt_id"):
            parts.meta_prompts.credit(choices["meta_prompt_id"], improvement)
            await parts.meta_prompts.maybe_evolve()
        if parts.knowledge is not None and improvement is not None and improvement > 0:
            self._improvements += 1
            if self._improvements % parts.distil_every == 0:
                await self._distil()

    async def finish(self) -> None:
        """At the run's end: distil what is left into the knowledge base."""
        if self._learning.knowledge is not None:
            await self._distil()

    async def _distil(self) -> None:
        parts = self._learning
        model = parts.chooser.choose("summarize") if parts.chooser is not None else None
        result = await parts.knowledge.distil(parts.run_id, self._gateway, parts.knowledge_context, parts.record_call,
                                              reference=parts.reference, model=model)
        if getattr(result, "error", None) and parts.warn is not None:
            parts.warn(f"knowledge distillation stored nothing: {result.error}")

    def _model(self, role: str) -> ModelSpec:
        chooser = self._learning.chooser
        return chooser.choose(role) if chooser is not None else self._gateway.pick_model()

    def _already_tried(self, parent: Program, advice: Advice) -> tuple[str, ...]:
        """The prompt's "Already tried" entries: the advice's duplicates to avoid, then the parent's recent children."""
        tried = self._tried(parent.id, advice.tried_limit) if self._tried is not None else ()
        return tuple(dict.fromkeys((*advice.avoid, *tried)))

    def _answer_format(self, mode: str) -> str:
        """The format asked for without advice: the configured one, else the request's ("diff" for other modes)."""
        if self._edit_format != "auto":
            return self._edit_format
        return "full" if mode == "full" else "diff"

    def _candidates(self, role: str, first: ModelSpec) -> tuple[ModelSpec, ...]:
        """The models a proposal of `role` may move to, `first` first: the role's, then the fix role's."""
        chooser = self._learning.chooser
        others = (*chooser.models(role), *chooser.models("fix")) if chooser is not None else self._models
        candidates: dict[str, ModelSpec] = {}
        for spec in (first, *others):
            candidates.setdefault(spec.name, spec)
        return tuple(candidates.values())

    def _knowledge(self) -> list:
        parts = self._learning
        if parts.knowledge is None or parts.retrieve <= 0:
            return []
        return list(parts.knowledge.retrieve(parts.knowledge_context, parts.reference, parts.retrieve))


def _with_role(call: LLMCall | None, role: str) -> LLMCall | None:
    return replace(call, role=role) if call is not None else None


class MixedProposer:
    """Sends a share of requests to the tuner (when the program has tunables), the rest to the LLM."""

    def __init__(self, llm: LLMProposer, tuner: TunerProposer | None, tuner_share: float, rng: random.Random):
        self._llm = llm
        self._tuner = tuner
        self._share = tuner_share
        self._rng = rng
        self.failures = llm.failures  # the controller records queued children in it

    async def propose(self, request: ProposalRequest, previous_errors: tuple[str, ...] = ()) -> Proposal:
        if self._tuner is not None and self._share > 0 and self._rng.random() < self._share:
            proposal = await self._tuner.propose(request, previous_errors)
            if proposal.source is not None:
                return proposal
        return await self._llm.propose(request, previous_errors)

    async def learn(self, child: Program, parent: Program | None, calls: Sequence[LLMCall]) -> None:
        await self._llm.learn(child, parent, calls)

    async def finish(self) -> None:
        await self._llm.finish()
