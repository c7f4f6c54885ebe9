"""Reflect, merge and compress prompts: per-example side information, caps, and program prompts untouched."""

from __future__ import annotations

import asyncio
import random

import pytest

from agent.config import LLMConfig, ModelSpec
from agent.llm import LLMGateway
from agent.proposers import LLMProposer
from agent.prompts import PromptBuilder, PromptContext
from agent.reflection import EXAMPLE_CHARS, MAX_IDS
from archives.records import ExampleResult, Program, ProposalRequest, Status
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PROMPT = "Classify the sentiment of the review.\nAnswer with one word.\n"
OTHER = "You are a careful rater of film reviews.\nSay positive or negative, nothing else.\n"
CODE = "def area(r):\n    return 3.14 * r * r\n"


def result(score: float, tag: str, *, split: str = "validation", **kw) -> ExampleResult:
    kw.setdefault("input", f"review text {tag}")
    kw.setdefault("expected", f"label {tag}")
    kw.setdefault("output", f"answer {tag}")
    kw.setdefault("feedback", f"feedback {tag}")
    return ExampleResult(score=score, split=split, **kw)


def prompt(id: str, scores: dict[str, float], source: str = PROMPT, who: str = "") -> Program:
    examples = {key: result(score, f"{who}{key}") for key, score in scores.items()}
    fitness = sum(scores.values()) / len(scores) if scores else 0.0
    return Program(id=id, run_id="run", source=source, status=Status.CORRECT, fitness=fitness, examples=examples)


def render(parent: Program, *, language: str = "text", builder: PromptBuilder | None = None, **kw) -> list[dict]:
    ctx = PromptContext(task_name="sentiment", task_description="Label film reviews.", language=language,
                        parent=parent, **kw)  # fmt: skip
    return (builder or PromptBuilder()).build(ctx)


def user(messages: list[dict]) -> str:
    return messages[1]["content"]


def test_reflect_shows_the_failed_examples_with_the_target_models_answers_and_feedback():
    parent = prompt("p", {"e1": 1.0, "e2": 0.0, "e3": 0.0})
    messages = render(parent, mode="reflect")
    text = user(messages)
    assert "prompt engineer" in messages[0]["content"]
    assert "review text e2" in text and "label e2" in text and "answer e2" in text and "feedback e2" in text
    assert "answer e3" in text and "feedback e3" in text
    assert "answer e1" not in text  # solved examples are not shown as failures
    assert PROMPT.strip() in text and "complete new prompt" in text


def test_reflect_says_where_the_parent_wins_and_loses_and_shows_fixable_failures_first():
    parent = prompt("p", {"e1": 1.0, "e2": 0.5, "e3": 0.0})
    rival = prompt("q", {"e1": 0.0, "e2": 1.0, "e3": 0.0}, source=OTHER)
    text = user(render(parent, mode="reflect", inspirations=(rival,), builder=PromptBuilder(max_examples=1)))
    assert "better than all of them on 1 example: e1" in text
    assert "Does better than the current one on 1 example: e2" in text
    assert OTHER.strip() in text
    assert "answer e2" in text and "answer e3" not in text  # e2 is known to be solvable: it comes first


def test_a_diff_or_full_request_for_a_scored_parent_becomes_reflective_in_its_answer_format():
    parent = prompt("p", {"e1": 0.0})
    diff = user(render(parent, mode="diff"))
    assert "Examples it gets wrong" in diff and "<<<<<<< SEARCH" in diff
    assert "copied exactly from the current prompt" in diff
    full = user(render(parent, mode="full"))
    assert "Examples it gets wrong" in full and "<<<<<<< SEARCH" not in full and "```text" in full
    forced = user(render(parent, mode="reflect", answer_format="diff"))
    assert "<<<<<<< SEARCH" in forced


def test_merge_shows_both_parents_and_what_each_does_better_with_its_own_answers():
    a = prompt("a", {"e1": 1.0, "e2": 0.0, "e3": 1.0}, who="A-")
    b = prompt("b", {"e1": 0.0, "e2": 1.0, "e3": 1.0}, source=OTHER, who="B-")
    text = user(render(a, mode="merge", inspirations=(b,)))
    assert "Merge two prompts" in text
    assert PROMPT.strip() in text and OTHER.strip() in text
    assert "Does better than parent B on 1 example: e1" in text
    assert "Does better than parent A on 1 example: e2" in text
    a_part, b_part = text.split("# Examples parent B does better on")
    assert "answer A-e1" in a_part and "answer B-e2" in b_part
    assert "e3" not in text  # both solve it: neither does better there


def test_merge_without_a_second_parent_is_refused():
    with pytest.raises(ValueError, match="merge"):
        render(prompt("a", {"e1": 1.0}), mode="merge")


def test_compress_asks_for_a_shorter_rewrite_or_a_different_approach():
    parent = prompt("p", {"e1": 1.0, "e2": 0.0})
    text = user(render(parent, mode="compress", reason="pareto: compress: no gain in 12 evaluations"))
    assert "no gain in 12 evaluations" in text
    assert f"Size: {len(PROMPT)} characters, {len(PROMPT.split())} words, 2 lines." in text
    assert "Compress: rewrite it shorter" in text and "Change approach" in text
    assert "answer e2" in text and "which of the two you chose" in text


def test_caps_hold_on_huge_examples_and_long_id_lists():
    huge = "x" * 20_000
    examples = {f"e{i}": result(0.0, str(i), input=huge, expected=huge, output=huge, feedback=huge) for i in range(40)}
    parent = Program(id="p", run_id="run", source=PROMPT, status=Status.CORRECT, fitness=0.0, examples=examples)
    text = user(render(parent, mode="reflect", builder=PromptBuilder(max_examples=3)))
    assert text.count("### Example") == 3
    assert len(text) < 3 * sum(EXAMPLE_CHARS.values()) + 4000
    assert max(len(run) for run in text.split("\n")) <= max(EXAMPLE_CHARS.values())

    solved = {key: result(1.0, key) for key in examples}
    winner = Program(id="w", run_id="run", source=OTHER, status=Status.CORRECT, fitness=1.0, examples=solved)
    text = user(render(parent, mode="reflect", inspirations=(winner,)))
    listed = ", ".join(f"e{i}" for i in range(MAX_IDS))
    assert f"Does better than the current one on 40 examples: {listed} and {40 - MAX_IDS} more." in text


def test_the_target_models_answers_are_redacted():
    leaked = "sk-proj-" + "A1b2C3d4" * 4
    parent = Program(id="p", run_id="run", source=PROMPT, status=Status.CORRECT, fitness=0.0,
                     examples={"e1": result(0.0, "1", output=f"the key is {leaked}")})  # fmt: skip
    text = user(render(parent, mode="reflect"))
    assert leaked not in text and "[redacted]" in text


def test_program_tasks_without_examples_keep_their_prompts():
    parent = Program(id="p", run_id="run", source=CODE, status=Status.CORRECT, fitness=0.5)
    diff = render(parent, language="python", mode="diff")
    assert render(parent, language="python", mode="reflect") == diff  # reflect without examples is a plain improve
    assert "performance engineer" in diff[0]["content"] and "prompt" not in diff[0]["content"]
    assert "# Current program" in user(diff) and "Examples" not in user(diff) and "for i in range(n):" in user(diff)
    merge = user(render(parent, language="python", mode="merge", inspirations=(parent,)))
    assert "Merge two programs" in merge and "```python" in merge and "complete new program" in merge
    compress = user(render(parent, language="python", mode="compress"))
    assert "another algorithm" in compress and "Examples" not in compress


# --- through the proposer and a real HTTP server ---------------------------------------------


def proposer(server: FakeOpenAIServer, edit_format: str = "auto") -> LLMProposer:
    llm = LLMConfig(models=[ModelSpec(name="openai/fake-model", api_base=server.url)], retries=1, timeout_seconds=30.0)
    gateway = LLMGateway(llm, run_id="run", rng=random.Random(0))
    return LLMProposer(gateway, PromptBuilder(), task_name="sentiment", description="Label film reviews.",
                       language="text", edit_format=edit_format)  # fmt: skip


def sent_user_message(server: FakeOpenAIServer) -> str:
    return server.requests[-1]["messages"][1]["content"]


def test_a_merge_request_sends_both_parents_and_takes_a_whole_new_prompt():
    a = prompt("a", {"e1": 1.0, "e2": 0.0})
    b = prompt("b", {"e1": 0.0, "e2": 1.0}, source=OTHER)
    merged = "You are a careful rater of film reviews.\nClassify the sentiment; answer with one word.\n"
    with FakeOpenAIServer([Reply(f"Both rules matter.\n\n```text\n{merged}```\n")]) as server:
        proposal = asyncio.run(proposer(server).propose(ProposalRequest(a, inspirations=(b,), mode="merge")))
        sent = sent_user_message(server)
    assert proposal.error is None and proposal.source == merged
    assert PROMPT.strip() in sent and OTHER.strip() in sent


def test_a_reflect_answer_in_search_replace_blocks_edits_the_prompt_text():
    parent = prompt("p", {"e1": 0.0})
    answer = ("It answers in sentences.\n<<<<<<< SEARCH\nAnswer with one word.\n=======\n"
              "Answer with one word: positive or negative.\n>>>>>>> REPLACE\n")  # fmt: skip
    with FakeOpenAIServer([Reply(answer)]) as server:
        proposal = asyncio.run(proposer(server, edit_format="diff").propose(ProposalRequest(parent, mode="reflect")))
        sent = sent_user_message(server)
    assert proposal.error is None
    assert proposal.source == PROMPT.replace("one word.", "one word: positive or negative.")
    assert "answer e1" in sent and "<<<<<<< SEARCH" in sent


def test_a_prompt_holding_code_fences_comes_back_whole_in_a_longer_fence():
    fenced = "Answer in JSON like this:\n```json\n{\"label\": \"positive\"}\n```\n"
    parent = prompt("p", {"e1": 0.0}, source=fenced)
    rewrite = fenced.replace("Answer in JSON", "Always answer in JSON")
    with FakeOpenAIServer([Reply(f"Be firmer.\n\n````text\n{rewrite}````\n")]) as server:
        proposal = asyncio.run(proposer(server).propose(ProposalRequest(parent, mode="reflect")))
        sent = sent_user_message(server)
    assert proposal.error is None and proposal.source == rewrite
    assert "````text\n" + fenced in sent  # the parent is shown in a fence its own fences cannot close


def test_a_broken_merge_template_override_fails_before_any_llm_call(tmp_path):
    from agent.config import ConfigError, load_task
    from agent.wiring import build_proposer

    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "merge.j2").write_text("{{ partner.sorce }}\n")
    (tmp_path / "initial.py").write_text("X = 1\n")
    (tmp_path / "evaluator.py").write_text("def evaluate(p):\n    return {'combined_score': 1.0}\n")
    (tmp_path / "task.yaml").write_text("name: demo\nkind: program\nprogram: initial.py\nevaluator: evaluator.py\n"
                                        "prompt:\n  templates: prompts\n")  # fmt: skip
    task = load_task(tmp_path / "task.yaml", {"model": "openai/m"})
    with pytest.raises(ConfigError, match=r"prompt.templates: .*merge.j2, line 1: .*sorce"):
        build_proposer(task, random.Random(0), "run", 0.0)
