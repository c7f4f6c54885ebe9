"""The plugin seam: names resolved by the registry, each plugin's options validated under its own
key, one dollar ledger per run, and the parent handed to the evaluator."""

from __future__ import annotations

import random
import threading

import pytest
from pydantic import BaseModel, ConfigDict

from agent.config import ConfigError, load_task
from agent.llm.ledger import DollarLedger
from agent.plugins import PluginError, resolve
from agent.wiring import build_evaluator, build_proposer, build_strategy, run_context
from archives.baselines import Greedy
from archives.records import EvalResult, Status
from evaluators.kernel.kind import KernelKind
from sandbox import ProcessSandbox, choose_sandbox

HERE = __name__


# ---- a kind, a strategy and a sandbox backend defined here, named by dotted path ---------------

class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    target: int
    notes: str = ""


class _Evaluator:
    def __init__(self, sandbox, context):
        self.sandbox = sandbox
        self.context = context
        self.parents: list[str | None] = []
        self._lock = threading.Lock()

    def warnings(self):
        return []

    def evaluate(self, source, *, label="", parent=None):
        with self._lock:
            self.parents.append(None if parent is None else parent.source)
        return EvalResult(Status.CORRECT, fitness=float(len(source)))


class CountKind:
    name = "count"
    config_key = "count_task"
    config_model = _Options
    path_keys = ("notes",)

    def check(self, task):
        if task.kind_options.target < 0:
            raise ValueError("count_task.target: must not be negative")

    def candidate_language(self, task):
        return "text"

    def description(self, task):
        return f"reach {task.kind_options.target}"

    def build_evaluator(self, task, sandbox, scorer, context):
        return _Evaluator(sandbox, context), ["count: a warning of the kind's own"]


class _StrategyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    width: int = 3


class WideGreedy(Greedy):
    name = "wide_greedy"
    config_model = _StrategyOptions

    def __init__(self, config, rng):
        super().__init__(config, rng)
        self.width = config.options.width


class QuietSandbox(ProcessSandbox):
    def __init__(self, label: str = "quiet") -> None:
        super().__init__()
        self.label = label


def _task(tmp_path, text: str):
    (tmp_path / "initial.txt").write_text("COUNT = 3  # evoforge: tune low=1 high=9 int\n")
    (tmp_path / "notes.md").write_text("notes\n")
    path = tmp_path / "task.yaml"
    path.write_text("name: demo\nprogram: initial.txt\nsandbox: {backend: process}\n" + text)
    return path


# ---- the registry -------------------------------------------------------------------------------

def test_built_in_names_and_dotted_paths_resolve():
    assert resolve("kinds", "kernel") is KernelKind
    assert resolve("strategies", "greedy") is Greedy
    assert resolve("sandboxes", "process") is ProcessSandbox
    assert resolve("kinds", f"{HERE}:CountKind") is CountKind


@pytest.mark.parametrize("group, name, expected", [
    ("kinds", "nope", "unknown task kind 'nope': known are kernel, program, prompt"),
    ("strategies", "nope", "unknown strategy 'nope': known are best_of_n, greedy, map_elites, mcts"),
    ("sandboxes", "nope", "unknown sandbox backend 'nope': known are auto, docker, process"),
    ("kinds", "no_such_module_xyz:Kind", "cannot import 'no_such_module_xyz'"),
    ("kinds", f"{HERE}:Missing", "has no 'Missing'"),
])
def test_an_unknown_name_is_one_line_naming_what_is_known(group, name, expected):
    with pytest.raises(PluginError) as err:
        resolve(group, name)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_an_installed_entry_point_resolves(tmp_path, monkeypatch):
    dist = tmp_path / "evoforge_demo_kinds-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evoforge-demo-kinds\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[evoforge.kinds]\ncount = {HERE}:CountKind\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve("kinds", "count") is CountKind


# ---- options under the plugin's own key ---------------------------------------------------------

def test_a_plugin_kind_gets_its_options_and_files_from_its_own_key(tmp_path):
    task = load_task(_task(tmp_path, f"kind: {HERE}:CountKind\ncount_task: {{target: 4, notes: notes.md}}\n"))
    assert task.kind_options == _Options(target=4, notes=str(tmp_path / "notes.md"))
    assert task.count_task is task.kind_options
    assert task.model_dump(mode="json")["count_task"]["target"] == 4  # stored as the task file gives it


@pytest.mark.parametrize("text, expected", [
    (f"kind: {HERE}:CountKind\ncount_task: {{target: many}}\n", "count_task.target: Input should be a valid integer"),
    (f"kind: {HERE}:CountKind\ncount_task: {{target: 1, colour: red}}\n", "count_task.colour: unknown key"),
    (f"kind: {HERE}:CountKind\n", "count_task.target: required key is missing"),
    (f"kind: {HERE}:CountKind\ncount_task: {{target: -1}}\n", "count_task.target: must not be negative"),
    (f"kind: {HERE}:CountKind\ncount_task: {{target: 1, notes: gone.md}}\n", "count_task.notes: file not found"),
    ("kind: program\nevaluator: notes.md\nkernel: {trials: 5}\n", "kernel: unknown key"),
    ("kind: kernel\nreference: notes.md\nlanguage: triton\nkernel: {trials: 3}\n",
     "kernel.trials: Input should be greater than or equal to 5"),
    ("kind: nope\n", "kind: unknown task kind 'nope'"),
    ("kind: program\nevaluator: notes.md\nsandbox: {backend: nope}\n", "sandbox.backend: Input should be 'auto'"),
    ("kind: program\nevaluator: notes.md\nsandbox: {backend: process, options: {a: 1}}\n",
     "sandbox.options: the built-in backend 'process' takes no options"),
])
def test_a_plugins_option_mistake_is_one_line_naming_the_key(tmp_path, text, expected):
    path = _task(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_task(path)
    message = str(err.value)
    assert message.startswith(str(path)) and expected in message and "\n" not in message


def test_a_strategy_gets_its_own_options_from_search_options(tmp_path):
    base = f"kind: {HERE}:CountKind\ncount_task: {{target: 1}}\nsearch: {{strategy: '{HERE}:WideGreedy'"
    strategy = build_strategy(load_task(_task(tmp_path, base + ", options: {width: 7}}\n")), random.Random(0))
    assert isinstance(strategy, WideGreedy) and strategy.width == 7
    with pytest.raises(ConfigError, match=r"^search\.options\.depth: unknown key$"):
        build_strategy(load_task(_task(tmp_path, base + ", options: {depth: 2}}\n")), random.Random(0))
    plain = f"kind: {HERE}:CountKind\ncount_task: {{target: 1}}\nsearch: {{strategy: greedy, options: {{x: 1}}}}\n"
    with pytest.raises(ConfigError, match="search.options: strategy 'greedy' takes no options"):
        build_strategy(load_task(_task(tmp_path, plain)), random.Random(0))


def test_a_plugin_sandbox_backend_is_made_with_its_options():
    sandbox, notice = choose_sandbox(f"{HERE}:QuietSandbox", options={"label": "mine"})
    assert isinstance(sandbox, QuietSandbox) and sandbox.label == "mine" and notice is None
    with pytest.raises(ValueError, match="does not take these sandbox.options"):
        choose_sandbox(f"{HERE}:QuietSandbox", options={"colour": "red"})


# ---- the run's parts ----------------------------------------------------------------------------

def test_the_kind_builds_the_evaluator_with_the_runs_context_and_one_ledger(tmp_path):
    task = load_task(_task(tmp_path, f"kind: {HERE}:CountKind\ncount_task: {{target: 1}}\n"),
                     {"model": "openai/m"})
    ledger = DollarLedger(None, spent=2.5)
    context = run_context(task, "run-1", random.Random(0), ledger)
    evaluator, warnings = build_evaluator(task, context)
    try:
        assert evaluator.context.ledger is ledger and evaluator.context.run_id == "run-1"
        assert "count: a warning of the kind's own" in warnings
        _, gateway, _ = build_proposer(task, random.Random(0), "run-1", 0.0, ledger=ledger)
        assert gateway.spent == 2.5  # the proposer spends from the same ledger
    finally:
        evaluator.sandbox.cancel_all()


def test_evaluate_on_a_kind_that_does_not_run_user_python_refuses_evaluator_needs(tmp_path):
    task = load_task(_task(tmp_path, f"kind: {HERE}:CountKind\ncount_task: {{target: 1}}\n"))
    task = task.model_copy(update={"evaluate": task.evaluate.model_copy(update={"pythonpath": (tmp_path,)})})
    with pytest.raises(ConfigError, match="apply to program tasks only"):
        build_evaluator(task)


def test_the_controller_hands_each_child_its_parent(tmp_path):
    from tests.agent.test_controller import ScriptedProposer, run_loop

    evaluator = _Evaluator(None, None)
    run_loop(tmp_path, ScriptedProposer(["X = 1.0\n", "X = 2.0\n"]), evaluator, budget=3, workers=1)
    assert evaluator.parents[0] is None  # the initial program has none
    assert len(evaluator.parents) == 3 and all(p is not None and p.startswith("X = ") for p in evaluator.parents[1:])
