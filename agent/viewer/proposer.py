"""The viewer's answers about the learning proposer (agent/learning): per run, the audit of what
it chose and what that earned (`/api/runs/{run}/proposer`); per program, the choices it was
made with, with the meta-prompt, plan and knowledge entries they name (in the program's answer).

A run or program without these records answers `recorded: false` / `proposal: null`, and the
page then shows nothing of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agent.learning.audit import knowledge_ids, proposer_audit
from archives.records import Program
from archives.store import Store


def run_proposer(store: Store, run_id: str) -> dict[str, Any]:
    """The run's audit, with `recorded` saying whether there is anything in it. (Here and
    below the records stay dataclasses: agent/viewer/data.py's `jsonable` makes them JSON.)"""
    audit = proposer_audit(store, run_id)
    return {"recorded": audit.recorded, **{f.name: getattr(audit, f.name) for f in dataclasses.fields(audit)}}


def program_proposal(store: Store, program: Program) -> dict[str, Any] | None:
    """How `program` was proposed: its stored choices and the records they name (None when the
    program has none). A knowledge id whose entry was pruned since is listed with `found: false`."""
    choices = program.proposal
    if not choices:
        return None
    meta_id = choices.get("meta_prompt_id")
    plan_id = choices.get("plan_id")
    metas = store.meta_prompts(program.run_id) if meta_id else []
    plans = store.plans(program.run_id) if plan_id else []
    ids = knowledge_ids(choices)
    entries = {e.id: e for e in store.knowledge(include_demoted=True)} if ids else {}
    return {
        "choices": dict(choices),
        "meta_prompt": next((m for m in metas if m.id == meta_id), None),
        "plan": next((p for p in plans if p.id == plan_id), None),
        "knowledge": [
            {"found": True, **dataclasses.asdict(entries[k])} if k in entries else {"found": False, "id": k}
            for k in ids
        ],
    }
