"""Building the loop's parts from a task: user mistakes surface before the run starts."""

import random

import pytest

from agent.config import ConfigError, load_task
from agent.proposers import LLMProposer, TunerProposer
from agent.wiring import build_proposer

MINIMAL = "name: demo\nkind: program\nprogram: initial.py\nevaluator: evaluator.py\n"


def make_task(tmp_path, source="X = 1  # evoforge: tune low=0 high=5\n", extra=""):
    (tmp_path / "initial.py").write_text(source)
    (tmp_path / "evaluator.py").write_text("def evaluate(p):\n    return {'combined_score': 1.0}\n")
    (tmp_path / "task.yaml").write_text(MINIMAL + extra)
    return tmp_path / "task.yaml"


def test_without_llm_the_tuner_proposes(tmp_path):
    task = load_task(make_task(tmp_path))
    proposer, gateway, workers = build_proposer(task, random.Random(0), "run", 0.0)
    assert isinstance(proposer, TunerProposer) and gateway is None
    assert workers == task.evaluate.workers


def test_without_llm_and_without_tunables_is_a_config_error(tmp_path):
    task = load_task(make_task(tmp_path, source="X = 1\n"))
    with pytest.raises(ConfigError, match="no LLM configured and initial.py has no tunable constants"):
        build_proposer(task, random.Random(0), "run", 0.0)


def test_a_model_gives_the_llm_proposer(tmp_path):
    task = load_task(make_task(tmp_path, source="X = 1\n"), {"model": "openai/m"})
    proposer, gateway, workers = build_proposer(task, random.Random(0), "run", 0.0)
    assert isinstance(proposer, LLMProposer) and gateway is not None
    assert workers == task.llm.concurrency


def test_a_broken_task_template_fails_before_any_llm_call(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "user.j2").write_text("{{ parent.sorce }}\n")
    task = load_task(make_task(tmp_path, extra="prompt:\n  templates: prompts\n"), {"model": "openai/m"})
    with pytest.raises(ConfigError, match=r"prompt.templates: .*user.j2, line 1: .*sorce"):
        build_proposer(task, random.Random(0), "run", 0.0)


def test_a_bad_tune_marker_names_the_line(tmp_path):
    task = load_task(make_task(tmp_path, source="Y = 2\nX = 1  # evoforge: tune low=5 high=1\n"))
    with pytest.raises(ConfigError, match="line 2"):
        build_proposer(task, random.Random(0), "run", 0.0)
