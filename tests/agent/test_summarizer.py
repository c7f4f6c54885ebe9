"""The memory summarizer through the real LLM gateway and a fake OpenAI server over HTTP."""

from __future__ import annotations

import asyncio
import json
import random

from agent.config import LLMConfig, ModelSpec, PQConfig, SearchConfig
from agent.llm import LLMGateway
from agent.prompts import PromptBuilder
from agent.proposers import LLMProposer
from agent.summarizer import MemorySummarizer, parse_notes
from archives.pq import PriorityQueue
from archives.records import Program, ProposalRequest, Status
from tests.fakes.openai_server import FakeOpenAIServer, Reply

ANSWER = "Looking at these:\n- Unroll the inner loop.\n* Cache the squares.\n1. Avoid the copy in step 2.\nThat is all."


def gateway(server: FakeOpenAIServer) -> LLMGateway:
    config = LLMConfig(models=[ModelSpec(name="openai/fake", api_base=server.url)], retries=0, timeout_seconds=5)
    return LLMGateway(config, run_id="r", rng=random.Random(0))


def queue_with(n: int) -> PriorityQueue:
    pq = PriorityQueue(SearchConfig(strategy="pq", pq=PQConfig(reevaluate_share=0.0)), random.Random(0))
    pq.tell(Program(id="p0", run_id="r", source="def f():\n    return 0\n", status=Status.CORRECT, fitness=0.0))
    for i in range(1, n):
        source = f"def f():\n    return {i} * {i}  # variant {i}\n" + "".join(f"x{k} = {k * i}\n" for k in range(i))
        pq.tell(Program(id=f"p{i}", run_id="r", source=source, parent_id="p0", status=Status.CORRECT, fitness=float(i)))
    return pq


def summarizer(server, pq, calls, every=3):
    return MemorySummarizer(gateway(server), pq, every=every, max_notes=2, task_name="sq", task_description="Square fast.",
                            language="python", record_call=calls.append)


def test_parse_notes_takes_bullets_only_and_at_most_the_limit():
    assert parse_notes(ANSWER, 5) == ("Unroll the inner loop.", "Cache the squares.", "Avoid the copy in step 2.")
    assert parse_notes(ANSWER, 2) == ("Unroll the inner loop.", "Cache the squares.")
    assert parse_notes("no bullets here", 3) == ()
    assert len(parse_notes("- " + "x" * 1000, 1)[0]) == 300


def test_a_summary_is_made_every_k_evaluations_from_the_memory_and_recorded(fake_llm):
    fake_llm.set_replies([ANSWER])
    pq, calls = queue_with(3), []
    s = summarizer(fake_llm, pq, calls)
    assert asyncio.run(s.notes()) == ("Unroll the inner loop.", "Cache the squares.")
    assert len(fake_llm.requests) == 1 and len(calls) == 1 and calls[0].error is None
    prompt = fake_llm.requests[0]["messages"][-1]["content"]
    assert "Square fast." in prompt and "return 2 * 2  # variant 2" in prompt and "mean fitness 2 over 1" in prompt
    assert prompt.index("variant 2") < prompt.index("variant 1")  # best first
    assert asyncio.run(s.notes()) == s.current and len(fake_llm.requests) == 1  # not due yet
    for i in range(3, 6):
        pq.tell(Program(id=f"c{i}", run_id="r", source=f"y = {i}\n" * 5, parent_id="p0", status=Status.CORRECT, fitness=0.5))
    asyncio.run(s.notes())
    assert len(fake_llm.requests) == 2
    assert "- Unroll the inner loop." in fake_llm.requests[1]["messages"][-1]["content"]  # previous notes shown


def test_a_failed_summary_keeps_the_previous_notes_and_records_the_failed_call(fake_llm):
    fake_llm.set_replies([ANSWER, Reply(status=400)])
    pq, calls = queue_with(3), []
    s = summarizer(fake_llm, pq, calls)
    first = asyncio.run(s.notes())
    for i in range(3):
        pq.tell(Program(id=f"c{i}", run_id="r", source=f"z = {i}\n" * 4, parent_id="p0", status=Status.CORRECT,
                        fitness=3.0 + i))
    assert asyncio.run(s.notes()) == first
    assert [c.error is None for c in calls] == [True, False]


def test_no_summary_is_asked_for_while_the_memory_is_what_the_last_one_was_shown(fake_llm):
    fake_llm.set_replies([ANSWER])
    pq, calls = queue_with(3), []
    s = summarizer(fake_llm, pq, calls)
    first = asyncio.run(s.notes())
    for i in range(6):  # two summaries' worth of evaluations, none of which changes the memory
        pq.tell(Program(id=f"w{i}", run_id="r", source=f"z = {i}\n", parent_id="p0", status=Status.WRONG))
        assert asyncio.run(s.notes()) == first
    assert len(fake_llm.requests) == 1 and len(calls) == 1 and s.skipped == 2
    pq.tell(Program(id="better", run_id="r", source="q = 1\n" * 6, parent_id="p0", status=Status.CORRECT, fitness=9.0))
    for i in range(2):
        pq.tell(Program(id=f"v{i}", run_id="r", source=f"v = {i}\n", parent_id="p0", status=Status.WRONG))
    asyncio.run(s.notes())
    assert len(fake_llm.requests) == 2  # the memory changed: a summary is due again


def test_the_llm_proposer_puts_the_notes_in_every_prompt(fake_llm):
    fake_llm.set_replies([ANSWER, "```python\ndef f():\n    return 1\n```\n"])
    pq, calls = queue_with(3), []
    s = summarizer(fake_llm, pq, calls)
    proposer = LLMProposer(gateway(fake_llm), PromptBuilder(), task_name="sq", description="Square fast.",
                           language="python", notes=s.notes)
    request = ProposalRequest(pq.members()[0].program, reason="pq: rank 1", mode="full")
    proposal = asyncio.run(proposer.propose(request))
    assert proposal.source == "def f():\n    return 1\n"
    prompt = json.loads(proposal.llm_call.prompt)[-1]["content"]
    assert "# Recommendations\n- Unroll the inner loop.\n- Cache the squares." in prompt


def test_without_a_memory_or_with_summaries_off_there_is_no_summarizer(tmp_path):
    from agent.config import TaskConfig
    from agent.wiring import _build_summarizer

    (tmp_path / "p.py").write_text("x = 1\n")
    task = TaskConfig(name="t", kind="program", program=tmp_path / "p.py", evaluator=tmp_path / "p.py")
    pq = queue_with(1)
    assert _build_summarizer(task, object(), pq, None) is None  # nowhere to record calls
    off = task.model_copy(update={"search": SearchConfig(pq=PQConfig(summarize_every=0))})
    assert _build_summarizer(off, object(), pq, print) is None
    assert _build_summarizer(task, object(), object(), print) is None  # a strategy without memory
    assert isinstance(_build_summarizer(task, object(), pq, print), MemorySummarizer)
