"""Proposers turn a strategy's request into a child program: the LLM, the built-in tuner, or both.

A proposer never raises for what an LLM or an edit does wrong: a failed proposal comes back as a
`Proposal` with `error` set (and the LLM call, for the ledger), so the controller records it and
the next prompt for that parent shows the error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from agent.edits import EditError, apply_answer
from agent.llm import BudgetExceeded, LLMError, LLMGateway
from agent.prompts import PromptBuilder, PromptContext
from agent.tuner import Tuner
from archives.records import LLMCall, ProposalRequest

__all__ = ["Proposal", "Proposer", "TunerProposer", "LLMProposer", "MixedProposer", "BudgetExceeded"]


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
    """Builds a prompt, asks the LLM gateway, applies the answer to the parent."""

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
    ):
        """`notes`, when given, is awaited for each prompt's recommendations (a summarizer's)."""
        self._notes = notes
        self._gateway = gateway
        self._prompts = prompts
        self._task_name = task_name
        self._description = description
        self._language = language
        self._edit_format = edit_format

    async def propose(self, request: ProposalRequest, previous_errors: tuple[str, ...] = ()) -> Proposal:
        context = PromptContext(
            task_name=self._task_name,
            task_description=self._description,
            language=self._language,
            parent=request.parent,
            inspirations=request.inspirations,
            previous_errors=previous_errors,
            mode=request.mode,
            answer_format=None if self._edit_format == "auto" else self._edit_format,
            reason=request.reason,
            notes=await self._notes() if self._notes is not None else (),
        )
        messages = self._prompts.build(context)
        model = self._gateway.pick_model()
        label = f"llm:{model.name}"
        try:
            completion = await self._gateway.complete(messages, model)
        except LLMError as exc:
            return Proposal(None, label, error=f"LLM call failed: {exc}", llm_call=exc.call, failure_kind=exc.kind)
        try:
            edit = apply_answer(request.parent.source, completion.text, language=self._language)
        except EditError as exc:
            return Proposal(None, label, error=f"the edit did not apply: {exc}", llm_call=completion.call)
        return Proposal(edit.source, label, diff=edit.diff, llm_call=completion.call)


class MixedProposer:
    """Sends a share of requests to the tuner (when the program has tunables), the rest to the LLM."""

    def __init__(self, llm: LLMProposer, tuner: TunerProposer | None, tuner_share: float, rng: random.Random):
        self._llm = llm
        self._tuner = tuner
        self._share = tuner_share
        self._rng = rng

    async def propose(self, request: ProposalRequest, previous_errors: tuple[str, ...] = ()) -> Proposal:
        if self._tuner is not None and self._share > 0 and self._rng.random() < self._share:
            proposal = await self._tuner.propose(request, previous_errors)
            if proposal.source is not None:
                return proposal
        return await self._llm.propose(request, previous_errors)
