"""The "pareto" strategy in the loop: per-example results go through the store, merges are
asked for complementary prompts, and a resumed run rebuilds the same front."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

from agent.controller import Controller
from agent.proposers import Proposal
from archives.pareto import Pareto, ParetoConfig
from archives.records import EvalResult, ExampleResult, Status
from archives.store import Store

EXAMPLES = ("e0", "e1", "e2", "e3")


class SolvesEvaluator:
    """A prompt "solves" the examples its first line names ("solves: e0 e2"); each scored 1 or 0."""

    def evaluate(self, source, *, label="", parent=None):
        solved = set(source.splitlines()[0].split(":")[1].split())
        examples = {
            key: ExampleResult(score=float(key in solved), output=f"answer to {key}", feedback="ok" if key in solved
                               else "wrong label", expected="yes", input=f"input {key}")  # fmt: skip
            for key in EXAMPLES
        }
        fitness = sum(r.score for r in examples.values()) / len(examples)
        return EvalResult(Status.CORRECT, fitness=fitness, metrics={"val_score": fitness}, examples=examples)


class RecordingProposer:
    """Answers the scripted sources in order and records every request."""

    def __init__(self, sources):
        self._sources = list(sources)
        self.requests = []

    async def propose(self, request, previous_errors=()):
        self.requests.append(request)
        n = len(self.requests)
        source = self._sources.pop(0) if self._sources else f"solves: e0\nvariant {n}\n"
        return Proposal(source, "llm:test", diff="d")


def pareto(merge_share: float) -> Pareto:
    return Pareto(SimpleNamespace(options=ParetoConfig(merge_share=merge_share, compress_after=0)), random.Random(1))


def test_a_run_keeps_complementary_prompts_asks_merges_and_resumes_to_the_same_front(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = store.create_run("t", "t.yaml", "pareto", 0, {})
    proposer = RecordingProposer(["solves: e0 e1 e2\n", "solves: e3\n", "solves: e0 e1\n"])
    strategy = pareto(merge_share=1.0)
    controller = Controller(
        store=store, run_id=run.id, strategy=strategy, proposer=proposer, evaluator=SolvesEvaluator(),
        evaluations=10, proposal_workers=1, evaluation_workers=1,
    )

    async def main():
        await controller.start("solves: e0\n")
        return await controller.run()

    asyncio.run(main())
    stored = store.programs(run.id, order="evaluated")
    assert stored[1].examples["e2"].output == "answer to e2" and stored[1].examples["e3"].feedback == "wrong label"
    front = {p.source.splitlines()[0] for p in strategy.front()}
    assert front == {"solves: e0 e1 e2", "solves: e3"}  # e3's winner stays despite its mean of 0.25
    merges = [r for r in proposer.requests if r.mode == "merge"]
    assert merges and all(
        {r.parent.source.splitlines()[0], r.inspirations[0].source.splitlines()[0]} == front for r in merges
    )

    resumed = pareto(merge_share=1.0)
    resumed.rebuild([p for p in store.programs(run.id, order="evaluated") if p.status in Status.EVALUATED])
    assert {**resumed.snapshot(), "asked": None} == {**strategy.snapshot(), "asked": None}
