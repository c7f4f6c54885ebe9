"""The simulated LLM of the learning benchmark (tests/fakes/learning_llm.py) answers as documented.

Prompts are rendered by the real templates (agent/prompts.py, planning.py, metaprompts.py,
distil.j2) and sent over HTTP to the fake OpenAI server; answers are applied with the real
edit applier.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agent.config import MetaPromptsConfig, PlanConfig
from agent.edits import EditError, apply_answer
from agent.learning.knowledge_distil import Pair, distil_messages, parse_drafts
from agent.learning.metaprompts import MetaPromptPool, parse_rewrite
from agent.learning.planning import Planner
from agent.prompts import PromptBuilder, PromptContext
from archives.records import MetaPrompt, Program, Status
from archives.store import Store
from tests.fakes.learning_llm import (CENTRE, EVALUATOR, MARKER, LearningLLM, ModelTraits, learning_program,
                                      request_kind, true_fitness)
from tests.fakes.openai_server import FakeOpenAIServer

WEAK = {"weak": ModelTraits(skill=0.05), "strong": ModelTraits(skill=0.6)}


def _near_centre() -> str:
    """A program close to the optimum, where a blind edit rarely gains and an informed one always does."""
    block = "\n".join(f"x[{i}] += {c + (0.3 if i == 2 else 0.05):.3f}" for i, c in enumerate(CENTRE))
    return learning_program().replace("\n".join(f"x[{i}] += 0.000" for i in range(6)), block)


def _parent(source: str) -> Program:
    return Program(id="p1", run_id="r1", source=source, status=Status.CORRECT, fitness=true_fitness(source))


def _ask(server: FakeOpenAIServer, messages: list[dict], model: str = "openai/weak") -> str:
    body = json.dumps({"model": model.rsplit("/", 1)[-1], "messages": messages}).encode()
    request = urllib.request.Request(server.url + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["choices"][0]["message"]["content"]


def _messages(parent: Program, **fields) -> list[dict]:
    fields.setdefault("answer_format", "diff")
    return PromptBuilder().build(PromptContext(task_name="smooth", task_description="", language="python",
                                               parent=parent, **fields))


def _gain_share(server: FakeOpenAIServer, parent: Program, n: int, model: str = "openai/weak", **fields) -> float:
    gains = 0
    for _ in range(n):
        try:
            child = apply_answer(parent.source, _ask(server, _messages(parent, **fields), model)).source
        except EditError:  # a blind edit that changes nothing (a step rounded away)
            continue
        value = true_fitness(child)
        gains += value is not None and value > parent.fitness
    return gains / n


@pytest.fixture
def served():
    answerer = LearningLLM(seed=1, models=WEAK)
    with FakeOpenAIServer() as server:
        server.set_responder(answerer)
        yield server, answerer


def test_changes_apply_to_the_parent_as_diffs_and_as_whole_programs(served):
    server, _ = served
    parent = _parent(learning_program())
    for answer_format in ("diff", "full"):
        for _ in range(20):
            answer = _ask(server, _messages(parent, answer_format=answer_format), "openai/strong")
            child = apply_answer(parent.source, answer).source
            assert child != parent.source
            assert child.endswith(parent.source.split("# EVOLVE-BLOCK-END\n", 1)[1])


def test_the_stronger_model_gains_more_often(served):
    server, _ = served
    parent = _parent(_near_centre())
    weak = _gain_share(server, parent, 100)
    strong = _gain_share(server, parent, 100, model="openai/strong")
    assert strong > weak + 0.3


def test_the_marker_in_hints_or_system_and_a_knowledge_section_raise_the_gain_rate(served):
    server, answerer = served
    parent = _parent(_near_centre())
    plain = _gain_share(server, parent, 150)  # about 0.2: blind edits that happen to gain, and p = 0.05
    hints = _gain_share(server, parent, 150, hints=f"Work {MARKER}.")
    system = _gain_share(server, parent, 150, system=f"You are a careful optimiser. Work {MARKER}.")
    knowledge = _gain_share(server, parent, 150, knowledge=("raise x[2]: it paid before",))
    unmarked_hints = _gain_share(server, parent, 150, hints="Work carefully.")
    assert hints > plain + 0.12 and system > plain + 0.12  # p + 0.25
    assert knowledge > plain + 0.05  # p + 0.15
    assert unmarked_hints < hints - 0.1  # hints without the marker do not help
    assert answerer.requests[("change", "weak")] == 750


def test_a_plan_is_written_then_implemented_exactly(served, tmp_path):
    server, answerer = served
    parent = _parent(_near_centre())
    context = PromptContext(task_name="smooth", task_description="", language="python", parent=parent,
                            answer_format="diff")
    with Store(f"sqlite:///{tmp_path / 'plans.db'}") as store:
        plan_messages = Planner(store, "r1", None, config=PlanConfig(enabled=True)).messages(context)
    assert request_kind({"messages": plan_messages}) == "plan"
    plan = _ask(server, plan_messages, "openai/strong")
    assert plan.startswith("Change: add ") and "Why:" in plan and "Expected effect:" in plan
    step, coordinate = plan.split("Change: add ", 1)[1].split(".\n", 1)[0].split(" to ")
    for _ in range(5):  # the implementation follows the plan, whatever the model's skill
        child = apply_answer(parent.source, _ask(server, _messages(parent, plan=plan))).source
        moved = child.splitlines()
        line = next(ln for ln in moved if ln.startswith(coordinate + " += "))
        before = next(ln for ln in parent.source.splitlines() if ln.startswith(coordinate + " += "))
        assert float(line.split(" += ")[1]) == pytest.approx(float(before.split(" += ")[1]) + float(step), abs=2e-3)
    assert answerer.requests[("plan", "strong")] == 1


def test_plans_of_a_skilled_model_pick_the_farthest_coordinate(served, tmp_path):
    server, _ = served
    parent = _parent(_near_centre())  # x[2] is the farthest from the centre
    context = PromptContext(task_name="smooth", task_description="", language="python", parent=parent)
    with Store(f"sqlite:///{tmp_path / 'plans.db'}") as store:
        messages = Planner(store, "r1", None, config=PlanConfig(enabled=True)).messages(context)
    plans = [_ask(server, messages, "openai/strong") for _ in range(40)]
    assert sum("to x[2]." in p for p in plans) >= 25  # informed with p = 0.6 + 0.15, plus chance


def test_a_meta_rewrite_keeps_the_marker_and_adds_it_half_the_time(served):
    server, _ = served
    pool = MetaPromptPool(None, "r1", None, config=MetaPromptsConfig(enabled=True), rng=random.Random(0),
                          initial_system="Be good.", initial_hints="", record_call=lambda call: None,
                          task_name="smooth", language="python")

    def rewrite(system: str, hints: str) -> tuple[str, str]:
        messages = pool.messages(MetaPrompt(id="m1", run_id="r1", system=system, hints=hints), [])
        assert request_kind({"messages": messages}) == "meta"
        parsed = parse_rewrite(_ask(server, messages))
        assert parsed is not None
        return parsed

    assert all(MARKER in rewrite("Be good.", f"Work {MARKER}.")[1] for _ in range(10))
    added = sum(MARKER in rewrite("Be good.", "Try things.")[1] for _ in range(60))
    assert 15 <= added <= 45


def test_a_distillation_names_the_coordinates_each_pair_moved(served):
    server, _ = served
    parent = _parent(learning_program())
    source = parent.source.replace("x[3] += 0.000", "x[3] += 2.100")
    child = Program(id="p2", run_id="r1", source=source, parent_id="p1", status=Status.CORRECT,
                    fitness=true_fitness(source))
    broken = Program(id="p3", run_id="r1", source=parent.source.replace("x[1] += 0.000", "x[1] += += 1.0"),
                     parent_id="p1", status=Status.BUILD_FAILED, error="SyntaxError")
    messages = distil_messages([Pair(parent, child)], {"p1": [child, broken]}, {"kind": "program"}, max_entries=5)
    assert request_kind({"messages": messages}) == "distil"
    drafts = parse_drafts(_ask(server, messages), pair_count=1, max_entries=5)
    assert len(drafts) == 1
    assert drafts[0].gain == pytest.approx(child.fitness - parent.fitness, abs=1e-3)
    assert drafts[0].transformation.startswith("raise x[3]") and drafts[0].avoid


def test_an_unknown_model_is_refused_with_404(served):
    server, _ = served
    with pytest.raises(urllib.error.HTTPError) as refused:
        _ask(server, _messages(_parent(learning_program())), "openai/gpt-4o")
    assert refused.value.code == 404


def test_the_evaluator_scores_a_program_as_true_fitness_says(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(_near_centre())
    (tmp_path / "evaluator.py").write_text(EVALUATOR)
    script = "import json, sys; sys.path.insert(0, sys.argv[1]); import evaluator; " \
             "print(json.dumps(evaluator.evaluate(sys.argv[2])))"
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(program)], capture_output=True,
                          text=True, timeout=120, check=True)
    assert json.loads(done.stdout)["combined_score"] == pytest.approx(true_fitness(_near_centre()))
    assert true_fitness(learning_program()) == pytest.approx(-sum(c * c for c in CENTRE))
    assert Path(program).read_text().count("EVOLVE-BLOCK") == 2
