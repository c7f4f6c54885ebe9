"""Task file validation: every mistake is one line naming the file, the key and what was expected."""

import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, load_task


def write_task(folder: Path, text: str) -> Path:
    (folder / "initial.py").write_text("X = 1  # evoforge: tune low=0 high=5\n")
    (folder / "evaluator.py").write_text("def evaluate(p):\n    return {'combined_score': 1.0}\n")
    path = folder / "task.yaml"
    path.write_text(text)
    return path


MINIMAL = "name: demo\nkind: program\nprogram: initial.py\nevaluator: evaluator.py\n"


def test_minimal_task_loads_with_defaults_and_resolves_paths(tmp_path):
    task = load_task(write_task(tmp_path, MINIMAL))
    assert task.program == tmp_path / "initial.py"
    assert task.evaluator == tmp_path / "evaluator.py"
    assert task.budget.evaluations == 50
    assert task.search.strategy == "pq"
    assert task.store_url == "sqlite:///runs/demo.db"
    assert task.llm.models == ()


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("budgt:\n  evaluations: 3\n", "budgt: unknown key"),
        ("budget:\n  evaluations: many\n", "budget.evaluations: Input should be a valid integer"),
        ("budget:\n  evaluations: 0\n", "budget.evaluations: Input should be greater than or equal to 1"),
        ("search:\n  strategyy: pq\n", "search.strategyy: unknown key"),
        ("sandbox:\n  backend: vm\n", "sandbox.backend: Input should be 'auto', 'docker' or 'process'"),
        ("tunables:\n  X: {low: 5, high: 1}\n", "tunables.X: low must be below high"),
        ("llm:\n  models: [{name: m, weight: -1}]\n", "llm.models.0.weight: Input should be greater than 0"),
    ],
)
def test_wrong_key_or_value_names_the_key(tmp_path, extra, expected):
    path = write_task(tmp_path, MINIMAL + extra)
    with pytest.raises(ConfigError) as err:
        load_task(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_missing_required_key(tmp_path):
    path = write_task(tmp_path, "name: demo\nkind: program\nprogram: initial.py\n")
    with pytest.raises(ConfigError, match="evaluator: required key is missing"):
        load_task(path)


def test_missing_program_file_names_the_full_path(tmp_path):
    path = write_task(tmp_path, MINIMAL.replace("initial.py", "nope.py"))
    with pytest.raises(ConfigError, match=r"program: file not found: .*nope\.py"):
        load_task(path)


def test_bad_yaml_reports_the_line(tmp_path):
    path = write_task(tmp_path, MINIMAL + "budget: [unclosed\n")
    with pytest.raises(ConfigError, match=r"line \d+\): not valid YAML"):
        load_task(path)


def test_missing_task_file(tmp_path):
    with pytest.raises(ConfigError, match="no such task file"):
        load_task(tmp_path / "absent.yaml")


def test_model_strings_become_model_specs(tmp_path):
    task = load_task(write_task(tmp_path, MINIMAL + "llm:\n  models: [openai/gpt-4o-mini, {name: x/y, weight: 2}]\n"))
    assert [m.name for m in task.llm.models] == ["openai/gpt-4o-mini", "x/y"]
    assert task.llm.models[1].weight == 2


def test_command_line_overrides_replace_task_values(tmp_path):
    path = write_task(tmp_path, MINIMAL + "budget:\n  evaluations: 7\n")
    task = load_task(
        path,
        {"evaluations": 3, "strategy": "greedy", "seed": 9, "model": "openai/m", "api_base": "http://127.0.0.1:1/v1",
         "store": "sqlite://", "workers": 4, "dollars": None},
    )
    assert task.budget.evaluations == 3
    assert task.search.strategy == "greedy" and task.search.seed == 9
    assert task.llm.models[0].name == "openai/m"
    assert task.llm.models[0].api_base == "http://127.0.0.1:1/v1"
    assert task.store_url == "sqlite://" and task.evaluate.workers == 4


def test_api_base_without_any_model_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="--api-base needs a model"):
        load_task(write_task(tmp_path, MINIMAL), {"api_base": "http://127.0.0.1:1/v1"})


def test_cli_reports_config_errors_in_one_line_with_exit_code_2(tmp_path):
    path = write_task(tmp_path, MINIMAL + "budget:\n  evaluations: lots\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "evolve", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "budget.evaluations" in lines[0]
    assert "Traceback" not in proc.stderr
