"""Which problems a suite runs (folders, list files, task files), with what settings on a resume,
and the task each problem runs (knowledge sharing on or off), on real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from agent.config import ConfigError, load_task
from agent.suites.problems import Problem, collect
from agent.suites.settings import SuiteSettings, new_settings, resumed_settings
from agent.suites.tasks import problem_task

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ROOT / "tests" / "fixtures" / "suite" / "problems"
OPTIONS = dict.fromkeys(("language", "evaluations", "dollars", "parallel", "model", "api_base", "strategy", "workers",
                         "share_knowledge", "dir"))  # fmt: skip


def test_a_folder_gives_its_problem_files_by_name_and_lists_the_other_python_files_as_skipped():
    found = collect([PROBLEMS])
    assert [p.name for p in found.problems] == ["broken_reference", "relu", "scale_shift"]
    assert all(p.kernelbench and p.source.is_absolute() for p in found.problems)
    assert found.skipped == (f"{PROBLEMS / 'shared_helpers.py'}: not a KernelBench problem file: it defines no "
                             "Model, get_inputs, get_init_inputs",)


def test_a_list_file_names_files_relative_to_itself_with_comments_and_task_files_by_folder(tmp_path):
    shutil.copy(PROBLEMS / "relu.py", tmp_path / "relu.py")
    task = ROOT / "tasks" / "tsp_anneal" / "task.yaml"
    listing = tmp_path / "level.txt"
    listing.write_text(f"# my picks\nrelu.py   # the easy one\n\n{task}\n", encoding="utf-8")
    found = collect([listing])
    assert found.problems == (Problem("relu", (tmp_path / "relu.py").resolve(), True),
                              Problem("tsp_anneal", task, False))


@pytest.mark.parametrize("content, words", [
    ("does_not_exist.py\n", "does_not_exist.py: no such file or folder (listed in"),
    ("notes.md\n", "expected a folder, a list file (.txt), a KernelBench .py file or a task.yaml"),
    ("helper.py\n", "helper.py: not a KernelBench problem file: it defines no Model, get_inputs, get_init_inputs"),
])  # fmt: skip
def test_a_list_file_line_that_is_no_problem_is_one_line_naming_it(tmp_path, content, words):
    (tmp_path / "notes.md").write_text("hello\n")
    (tmp_path / "helper.py").write_text("X = 1\n")
    listing = tmp_path / "level.txt"
    listing.write_text(content)
    with pytest.raises(ConfigError) as caught:
        collect([listing])
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_without_problems_is_an_error(tmp_path):
    (tmp_path / "helper.py").write_text("X = 1\n")
    with pytest.raises(ConfigError, match="no problem found in .*skipped: .*helper.py: not a KernelBench problem"):
        collect([tmp_path])


def test_a_resumed_suite_keeps_its_results_settings_and_may_change_how_it_runs(tmp_path):
    stored = new_settings("lvl", (PROBLEMS,), {**OPTIONS, "evaluations": 5, "model": "m"}).to_config()
    assert stored["evaluations"] == 5 and stored["parallel"] == 1 and stored["dir"].endswith("suites/lvl")
    again = resumed_settings("lvl", stored, (), {**OPTIONS, "parallel": 4, "api_base": "http://h:1/v1"})
    assert again == SuiteSettings.from_config({**stored, "parallel": 4, "api_base": "http://h:1/v1"})
    with pytest.raises(ConfigError) as caught:
        resumed_settings("lvl", stored, (tmp_path,), {**OPTIONS, "dollars": 1.5, "model": "m"})
    assert str(caught.value) == (
        f"suite 'lvl' was run with PATH {PROBLEMS} (this command: {tmp_path}); --dollars (not set) (this command: "
        "1.5): leave these options out to resume it, or give another --name")


def test_without_a_budget_a_new_suite_runs_20_evaluations_and_with_dollars_only_the_tasks_own():
    assert new_settings("a", (PROBLEMS,), OPTIONS).evaluations == 20
    only_dollars = new_settings("a", (PROBLEMS,), {**OPTIONS, "dollars": 2.0})
    assert only_dollars.evaluations is None and only_dollars.dollars == 2.0


@pytest.mark.parametrize("share", [False, True])
def test_a_kernelbench_problem_gets_a_task_made_once_with_knowledge_only_when_shared(tmp_path, share):
    problem = collect([PROBLEMS / "relu.py"]).problems[0]
    made = problem_task(problem, tmp_path / "relu", "triton", share)
    assert made.task_file == tmp_path / "relu" / "task.yaml" and made.task_name == "relu_triton"
    assert load_task(made.task_file).learning.knowledge.enabled is share
    made.task_file.write_text(made.task_file.read_text() + "# kept\n")
    assert problem_task(problem, tmp_path / "relu", "triton", share).task_file.read_text().endswith("# kept\n")


def test_a_user_task_runs_as_it_is_unless_knowledge_is_shared_then_from_a_copy_with_its_own_files(tmp_path):
    task = ROOT / "tasks" / "tsp_anneal" / "task.yaml"
    problem = Problem("tsp_anneal", task, False)
    assert problem_task(problem, tmp_path / "tsp", "triton", False).task_file == task
    shared = problem_task(problem, tmp_path / "tsp", "triton", True)
    assert shared.task_file == tmp_path / "tsp" / "task.yaml" and shared.task_name == "tsp_anneal"
    copied, original = load_task(shared.task_file), load_task(task)
    assert copied.learning.knowledge.enabled and not original.learning.knowledge.enabled
    assert copied.program == original.program and copied.evaluator == original.evaluator
    assert yaml.safe_load(shared.task_file.read_text())["budget"] == original.budget.model_dump(mode="json")


def test_a_reference_that_fails_gives_one_line_and_no_task(tmp_path):
    problem = collect([PROBLEMS / "broken_reference.py"]).problems[0]
    with pytest.raises(ConfigError, match="this reference is broken on purpose"):
        problem_task(problem, tmp_path / "broken", "triton", False)
    assert not (tmp_path / "broken" / "task.yaml").exists()
