"""The memory summarizer picks its model by role "summarize" through a model chooser, over
real HTTP to a fake OpenAI server, and records its calls with that role."""

from __future__ import annotations

import asyncio
import random

from agent.config import LLMConfig, ModelSpec, PQConfig, SearchConfig
from agent.learning.model_choice import ModelChooser
from agent.llm import LLMGateway
from agent.summarizer import MemorySummarizer
from archives.pq import PriorityQueue
from archives.records import Program, Status
from tests.fakes.openai_server import Reply

ANSWER = "- Unroll the inner loop.\n- Cache the squares.\n"


def queue() -> PriorityQueue:
    pq = PriorityQueue(SearchConfig(strategy="pq", pq=PQConfig(reevaluate_share=0.0)), random.Random(0))
    for i in range(3):
        pq.tell(Program(id=f"p{i}", run_id="r", source=f"def f():\n    return {i}  # v{i}\n", status=Status.CORRECT,
                        fitness=float(i)))  # fmt: skip
    return pq


def summarize_once(llm: LLMConfig, chooser: ModelChooser | None) -> list:
    calls: list = []
    gateway = LLMGateway(llm, run_id="r", rng=random.Random(0))
    summarizer = MemorySummarizer(gateway, queue(), every=1, max_notes=3, task_name="sq", task_description="Square.",
                                  language="python", record_call=calls.append, chooser=chooser)  # fmt: skip
    assert asyncio.run(summarizer.notes()) == ("Unroll the inner loop.", "Cache the squares.")
    return calls


def test_the_summary_goes_to_the_summarize_models_and_is_recorded_with_its_role(fake_llm):
    fake_llm.set_replies([Reply(ANSWER)])
    llm = LLMConfig(
        models=[ModelSpec(name="openai/drafter", api_base=fake_llm.url, weight=100.0),
                ModelSpec(name="openai/summarizer", api_base=fake_llm.url, weight=0.01)],
        choice="ucb", roles={"summarize": ["openai/summarizer"]}, retries=0, timeout_seconds=30,
    )  # fmt: skip
    calls = []
    for seed in range(5):
        calls += summarize_once(llm, ModelChooser(llm, random.Random(seed)))
    assert [r["model"] for r in fake_llm.requests] == ["summarizer"] * 5
    assert [(c.model, c.role) for c in calls] == [("openai/summarizer", "summarize")] * 5


def test_without_a_chooser_the_gateway_draws_by_weight_and_the_role_is_still_recorded(fake_llm):
    fake_llm.set_replies([Reply(ANSWER)])
    llm = LLMConfig(models=[ModelSpec(name="openai/only", api_base=fake_llm.url)], retries=0, timeout_seconds=30)
    calls = summarize_once(llm, None)
    assert [r["model"] for r in fake_llm.requests] == ["only"]
    assert [(c.model, c.role) for c in calls] == [("openai/only", "summarize")]


def test_a_failed_summary_call_is_recorded_with_its_role(fake_llm):
    fake_llm.set_replies([Reply(status=400)])
    llm = LLMConfig(models=[ModelSpec(name="openai/only", api_base=fake_llm.url)], retries=0, timeout_seconds=30)
    calls: list = []
    summarizer = MemorySummarizer(LLMGateway(llm, run_id="r", rng=random.Random(0)), queue(), every=1, max_notes=3,
                                  task_name="sq", task_description="Square.", language="python",
                                  record_call=calls.append, chooser=ModelChooser(llm, random.Random(0)))  # fmt: skip
    assert asyncio.run(summarizer.notes()) == ()
    assert len(calls) == 1 and calls[0].error and calls[0].role == "summarize"
