"""Plan, then implement: a proposal's first LLM call writes a short plan for the second to carry out.

`Planner.plan` shows the LLM (role "plan") the parent: its fitness or failure, metrics, the
one-line diagnosis, the evaluator's feedback and the errors of its recent failed children, and
what this run has learnt from earlier plans: the plans whose children gained (best gain first,
up to `learning.plan.reuse`) to build on, and the plans whose children failed or did not gain
(those on the same parent first, then the newest; up to `learning.plan.avoid`) to stay away
from. The answer (template `plan.j2`, overridable like the other prompt templates: what to
change, why, the expected effect) is stored as a `Plan` of the parent; the proposer then asks
for its implementation with `PromptContext.plan` set. Once the child is evaluated,
`Planner.credit` stores which child implemented the plan and what it gained (None: the child
failed), which is what later plan prompts read. Everything is read from the store, so a
resumed run goes on with the plans it had.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from agent.config import ModelSpec, PlanConfig
from agent.llm import LLMError, LLMGateway
from agent.prompts import PromptContext, PromptError, _middle, _program_view, artifact_of, template_environment
from agent.redact import redact
from archives.languages import language as language_of
from archives.records import LLMCall, Plan, Program

if TYPE_CHECKING:
    from archives.store import Store

__all__ = ["Planner", "PLAN_ROLE"]

PLAN_ROLE = "plan"
_TEMPLATE = "plan.j2"
_PLAN_CHARS = 2000  # a plan longer than this (a model that ignored "at most 150 words") is cut
_ERROR_CHARS = 200  # of a failed child's error line, shown with a plan to avoid
_MAX_FEEDBACK_CHARS = 4000
_PREVIOUS_ERRORS = 3  # the parent's recent failed children's errors shown, newest first
_PREVIOUS_ERROR_CHARS = 2000


class Planner:
    """Writes, stores and credits the plans of one run."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        gateway: LLMGateway,
        *,
        config: PlanConfig,
        templates_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._gateway = gateway
        self._reuse = config.reuse
        self._avoid = config.avoid
        self._env = template_environment(templates_dir)

    async def plan(self, context: PromptContext, model: ModelSpec) -> tuple[Plan | None, LLMCall, LLMError | None]:
        """Ask `model` for a plan to improve `context.parent` and store it.

        Returns (the stored plan, the call, None), or (None, the failed call, the gateway's
        error: one line on why, and its `kind`) when the call failed; the call (role "plan") is
        the caller's to record.
        `BudgetExceeded` propagates: nothing was sent. A broken `plan.j2` override raises
        `PromptError`.
        """
        messages = self.messages(context)
        try:
            completion = await self._gateway.complete(messages, model)
        except LLMError as exc:
            return None, replace(exc.call, role=PLAN_ROLE), exc
        call = replace(completion.call, role=PLAN_ROLE)
        plan = Plan(
            id=uuid.uuid4().hex,
            run_id=self._run_id,
            parent_program_id=context.parent.id,
            text=_plan_text(completion.text),
            call_id=call.id,
            created_at=time.time(),
        )
        self._store.add_plan(plan)
        return plan, call, None

    def credit(self, plan_id: str, child: Program, improvement: float | None) -> None:
        """Record that `child` implemented the plan and gained `improvement` over its parent
        (None: the child failed, or its parent had no fitness to compare with)."""
        self._store.set_plan_outcome(plan_id, child.id, improvement)

    def messages(self, context: PromptContext) -> list[dict]:
        """The chat messages of the plan request for `context`."""
        artifact = context.artifact or artifact_of(context.language)
        plans = self._store.plans(self._run_id)
        parent = context.parent
        values = {
            "task_name": context.task_name,
            "task_description": context.task_description.strip(),
            "artifact": artifact,
            "fence_tag": language_of(context.language).fence,
            "parent": _program_view(parent, parent.source, 0, _MAX_FEEDBACK_CHARS),
            "diagnosis": context.diagnosis.strip(),
            "previous_errors": [
                _middle(redact(e.strip()), _PREVIOUS_ERROR_CHARS)
                for e in context.previous_errors[:_PREVIOUS_ERRORS]
                if e.strip()
            ],
            "hints": context.hints.strip(),
            "knowledge": [k.strip() for k in context.knowledge if k.strip()],
            "notes": [n.strip() for n in context.notes if n.strip()],
            "reuse": [{"text": p.text, "gain": f"+{p.gain:.4g}"} for p in _gained(plans, self._reuse)],
            "avoid": self._to_avoid(plans, parent.id),
            "evolve": "EVOLVE-BLOCK-START" in parent.source,
        }
        system = (
            f"You plan the next change to a {artifact} in an evolutionary search: an automatic evaluator scores "
            f"every {artifact}, and the best ones are kept and improved further. You do not write the change "
            "yourself; a second step implements your plan exactly, so make it one concrete, focused change, "
            "grounded in the measurements you are shown."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": self._render(values)}]

    def _to_avoid(self, plans: list[Plan], parent_id: str) -> list[dict[str, str]]:
        """Up to `avoid` implemented plans whose children failed or did not gain, with what became
        of them: those on `parent_id` first, then the newest; one of each text. A plan without a
        gain whose child is correct (it fixed a failing parent) is no failure and is left out."""
        done = [p for p in plans if p.program_id is not None and (p.gain is None or p.gain <= 0)]
        done.sort(key=lambda p: (p.parent_program_id != parent_id, -p.created_at))
        shown: dict[str, str] = {}
        for plan in done:
            if len(shown) >= self._avoid:
                break
            if plan.text in shown:
                continue
            outcome = self._outcome(plan)
            if outcome is not None:
                shown[plan.text] = outcome
        return [{"text": text, "outcome": outcome} for text, outcome in shown.items()]

    def _outcome(self, plan: Plan) -> str | None:
        """What became of an implemented plan that did not gain, in a few words; None if its
        child is correct but could not be compared with its parent."""
        if plan.gain is not None and plan.gain < 0:
            return f"Its child lost {-plan.gain:.4g} fitness"
        child = self._store.get_program(plan.program_id or "", self._run_id)
        if child.is_correct:
            return None if plan.gain is None else "Its child did not change the fitness"
        error = " ".join(redact(child.error or "").split())
        if len(error) > _ERROR_CHARS:
            error = error[: _ERROR_CHARS - 3] + "..."
        return f"Its child failed: {child.status}" + (f" ({error})" if error else "")

    def _render(self, values: dict) -> str:
        try:
            return self._env.get_template(_TEMPLATE).render(**values).strip()
        except jinja2.TemplateSyntaxError as exc:
            where = exc.filename or _TEMPLATE
            raise PromptError(f"prompt template {where}, line {exc.lineno}: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise PromptError(f"prompt template {_TEMPLATE}: {exc}") from None


def _plan_text(answer: str) -> str:
    text = answer.strip()
    return text if len(text) <= _PLAN_CHARS else text[: _PLAN_CHARS - 3].rstrip() + "..."


def _gained(plans: list[Plan], limit: int) -> list[Plan]:
    """The plans whose children gained, best gain first, one of each text, at most `limit`."""
    gained = sorted((p for p in plans if p.gain is not None and p.gain > 0), key=lambda p: -(p.gain or 0.0))
    return _distinct(gained, limit)


def _distinct(plans: list[Plan], limit: int) -> list[Plan]:
    seen: set[str] = set()
    kept = []
    for plan in plans:
        if len(kept) >= limit:
            break
        if plan.text not in seen:
            seen.add(plan.text)
            kept.append(plan)
    return kept
