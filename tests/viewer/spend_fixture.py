"""Stores of LLM calls with known outcomes for the spend report's tests (agent/spend.py,
agent/viewer/spend.py), written through `archives.store.Store` the way the controller records a
run: programs (evaluated, pending, duplicate, apply_failed) and the calls linked to them, priced
per token in `LLMCall.cost`.

`fill_spend_store` writes two runs into `<folder>/runs/spend.db`:
- "spend": SONNET made 2 calls whose programs were evaluated ($0.0240 each), 1 duplicate and
  1 unapplied ($0.0060 each); MINI one summary ($0.0021), one failed call ($0) and one call whose
  program is pending ($0.00045); HOSTILE (a model name carrying markup) one unapplied call
  ($0.00027); the evaluator's target model (MINI) 2 calls ($0.00045 each);
- "tuned": an evaluated program and no LLM call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archives.records import EvalResult, LLMCall, Program, StageResult, Status
from archives.store import Store

SONNET = "anthropic/claude-sonnet-4"
MINI = "openai/gpt-4o-mini"
HOSTILE = 'openai/<img src=x onerror="window.__pwned = 8"><b>bold</b>'  # a model name is shown as text
PRICES = {SONNET: (3e-6, 15e-6), MINI: (0.15e-6, 0.6e-6), HOSTILE: (0.15e-6, 0.6e-6)}  # $ per prompt / completion token
SOURCE = "# EVOLVE-BLOCK-START\nX = {x!r}\n# EVOLVE-BLOCK-END\n"


def priced(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    per_prompt, per_completion = PRICES[model]
    return prompt_tokens * per_prompt + completion_tokens * per_completion


class Filler:
    """Writes programs and calls of one run the way the controller records them."""

    def __init__(self, store: Store, run_id: str):
        self.store, self.run_id, self.n = store, run_id, 0
        self.root = self.program(None, Status.CORRECT)

    def program(self, parent: Program | None, status: str, error: str | None = None) -> Program:
        self.n += 1
        program = Program(
            id=f"{self.run_id[:4]}p{self.n:03d}".ljust(32, "0"), run_id=self.run_id,
            source="" if status == Status.APPLY_FAILED else SOURCE.format(x=self.n),
            parent_id=parent.id if parent else None, generation=1 if parent else 0,
            status=Status.PENDING if status in Status.EVALUATED else status, error=error,
        )  # fmt: skip
        program = self.store.add_program(program)
        if status in Status.EVALUATED:
            ok = status == Status.CORRECT
            result = EvalResult(status, fitness=float(self.n) if ok else None, error=None if ok else "no",
                                stages=(StageResult("run", ok, 0.1),))  # fmt: skip
            program = self.store.finish_program(program.id, result)
        return program

    def child(self, status: str, error: str | None = None) -> Program:
        return self.program(self.root, status, error)

    def call(self, model: str, program: Program | None = None, *, tokens: tuple[int, int] = (1000, 500), **fields) -> float:
        """Record a call linked to `program` (None: to none), priced by its tokens; its dollars."""
        self.n += 1
        cost = priced(model, *tokens)
        call = LLMCall(id=f"{self.run_id[:4]}c{self.n:03d}".ljust(32, "0"), run_id=self.run_id, model=model,
                       prompt="[]", prompt_tokens=tokens[0], completion_tokens=tokens[1], cost=cost,
                       program_id=program.id if program else None, **fields)  # fmt: skip
        self.store.add_llm_call(call)
        return cost


def new_run(store: Store, name: str = "demo") -> Filler:
    run = store.create_run(name, "task.yaml", "map_elites", 0, {"name": name, "kind": "program"})
    return Filler(store, run.id)


@dataclass(frozen=True)
class SpendStore:
    url: str
    run_id: str  # the run with calls of every outcome
    tuned_run_id: str  # a run without LLM calls


def fill_spend_store(folder: Path) -> SpendStore:
    url = f"sqlite:///{folder / 'runs' / 'spend.db'}"
    with Store(url) as store:
        f = new_run(store, "spend")
        for _ in range(2):
            f.call(SONNET, f.child(Status.CORRECT), tokens=(3000, 1000))
        f.call(SONNET, f.child(Status.DUPLICATE, "same source as program 1234abcd"), tokens=(1000, 200))
        f.call(SONNET, f.child(Status.APPLY_FAILED, "SEARCH block not found"), tokens=(1000, 200))
        f.call(MINI, role="summarize", tokens=(10_000, 1000))
        lost = f.child(Status.APPLY_FAILED, "LLM call failed: openai/gpt-4o-mini: timed out")
        f.call(MINI, lost, error="timed out", tokens=(0, 0))
        f.call(MINI, f.child(Status.PENDING), tokens=(1000, 500))
        f.call(HOSTILE, f.child(Status.APPLY_FAILED, "SEARCH block not found"), tokens=(1000, 200))
        evaluated = store.programs(f.run_id, Status.CORRECT)[-1]
        for _ in range(2):
            f.call(MINI, evaluated, purpose="target", tokens=(1000, 500))
        tuned = new_run(store, "tuned")
        tuned.child(Status.CORRECT)
    return SpendStore(url, f.run_id, tuned.run_id)
