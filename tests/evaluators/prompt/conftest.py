"""Fixtures of the prompt-task tests: the fake target server, a run context, an evaluator."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.llm.ledger import DollarLedger
from archives.records import LLMCall
from evaluators.base import RunContext
from evaluators.prompt.config import PromptTaskConfig
from evaluators.prompt.evaluator import PromptEvaluator
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.target_server import target_server

REPO = Path(__file__).resolve().parents[3]
SENTIMENT = REPO / "tasks" / "prompt_sentiment"
ARITHMETIC = REPO / "tasks" / "prompt_arithmetic"
PRICED_MODEL = "openai/gpt-4o-mini"  # priced in litellm's local map: calls cost real-looking money


@pytest.fixture
def fake_target() -> Iterator[FakeOpenAIServer]:
    with target_server() as server:
        yield server


@pytest.fixture
def calls() -> list[LLMCall]:
    return []


@pytest.fixture
def context(tmp_path: Path, calls: list[LLMCall]) -> RunContext:
    return RunContext(run_id="run", rng=random.Random(0), ledger=DollarLedger(None), record_call=calls.append,
                      store_dir=tmp_path / "runs")  # fmt: skip


def task_options(task_dir: Path, api_base: str, **overrides: object) -> PromptTaskConfig:
    """The example task's prompt_task options, pointed at `api_base`, with `overrides` on top
    (dotted keys, e.g. {"minibatch.size": 4})."""
    import yaml

    raw = yaml.safe_load((task_dir / "task.yaml").read_text())["prompt_task"]
    raw["target"]["api_base"] = api_base
    raw["target"]["retries"] = 0
    for dotted, value in overrides.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return PromptTaskConfig.model_validate(raw)


@pytest.fixture
def make_evaluator(context: RunContext) -> Iterator[Callable[..., PromptEvaluator]]:
    made: list[PromptEvaluator] = []

    def make(options: PromptTaskConfig, task_dir: Path, ctx: RunContext | None = None) -> PromptEvaluator:
        evaluator = PromptEvaluator(options, task_dir=task_dir, sandbox=None, context=ctx or context)
        made.append(evaluator)
        return evaluator

    yield make
    for evaluator in made:
        evaluator.close()
