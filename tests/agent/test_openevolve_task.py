"""Importing OpenEvolve configs: two of its real example configs, and the rules case by case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.config import ConfigError, load_task
from agent.openevolve_task import import_openevolve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openevolve"


def _example(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(FIXTURES / name / "config.yaml", folder / "config.yaml")
    (folder / "initial_program.py").write_text("VALUE = 1\n")
    (folder / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 1.0}\n")
    return folder / "config.yaml"


def _skipped_keys(made) -> list[str]:
    return [line.split(": ", 1)[0] for line in made.not_carried]


def test_function_minimization_example(tmp_path):
    config = _example(tmp_path, "function_minimization")
    (config.parent / "requirements.txt").write_text("pyyaml\n")
    made = import_openevolve(config)
    task = load_task(made.task_yaml)
    assert made.task_yaml == config.parent / "task.yaml"
    assert task.name == "function_minimization" and task.kind == "program" and task.language == "python"
    assert task.budget.evaluations == 11  # max_iterations 10 + the initial program
    assert [(m.name, m.weight) for m in task.llm.models] == [("openai/gemini-2.5-flash-lite", 0.8),
                                                             ("openai/gemini-2.5-flash", 0.2)]
    assert {m.api_base for m in task.llm.models} == {"https://generativelanguage.googleapis.com/v1beta/openai/"}
    assert (task.llm.temperature, task.llm.max_tokens, task.llm.timeout_seconds) == (0.7, 16000, 120)
    assert task.llm.edit_format == "diff"
    assert task.prompt.system.startswith("You are an expert programmer specializing in optimization")
    assert (task.evaluate.timeout_seconds, task.evaluate.cascade_thresholds, task.evaluate.workers) == (60, (1.3,), 3)
    assert task.evaluate.requirements == config.parent / "requirements.txt"
    assert task.search.map_elites.islands == 3 and task.search.map_elites.exploit_ratio == 0.7
    assert [d.name for d in task.search.map_elites.descriptors] == ["lines", "diversity"]
    assert set(_skipped_keys(made)) == {"checkpoint_interval", "max_code_length", "database.population_size",
                                        "database.archive_size", "database.elite_selection_ratio"}
    assert made.uses == ("initial_program.py", "evaluator.py", "requirements.txt")


def test_circle_packing_with_artifacts_example(tmp_path):
    made = import_openevolve(_example(tmp_path, "circle_packing_with_artifacts"), out=tmp_path / "out")
    task = load_task(made.task_yaml)
    assert made.task_yaml == tmp_path / "out" / "task.yaml"
    assert [m.name for m in task.llm.models] == ["openai/google/gemini-2.5-flash-lite", "openai/google/gemini-2.5-flash"]
    assert {m.api_base for m in task.llm.models} == {"https://openrouter.ai/api/v1"}
    assert task.llm.edit_format == "full" and task.llm.retries == 3 and task.search.seed == 42
    assert task.evaluate.timeout_seconds == 600 and task.evaluate.cascade_thresholds == (0.5, 0.8)
    assert [(d.name, d.bins) for d in task.search.map_elites.descriptors] == [("radius_variance", 10),
                                                                              ("spatial_spread", 10)]
    grid = task.search.map_elites
    assert (grid.islands, grid.migration_interval, grid.exploit_ratio, grid.inspirations) == (4, 10, 0.5, 5)
    skipped = _skipped_keys(made)
    for key in ("novelty", "llm.top_p", "database.migration_rate", "evaluator.max_retries",
                "prompt.include_artifacts", "evaluator.enable_artifacts"):
        assert key in skipped, (key, made.not_carried)
    assert "not an OpenEvolve 0.3.2 setting" in next(ln for ln in made.not_carried if ln.startswith("novelty:"))


def _config(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "oe"
    folder.mkdir(exist_ok=True)
    (folder / "config.yaml").write_text(text)
    (folder / "initial_program.py").write_text("VALUE = 1\n")
    (folder / "evaluator.py").write_text("def evaluate(path):\n    return {'combined_score': 1.0}\n")
    return folder / "config.yaml"


def test_an_empty_config_gets_openevolves_defaults_where_they_shape_the_run(tmp_path):
    made = import_openevolve(_config(tmp_path, ""))
    task = load_task(made.task_yaml)
    assert task.evaluate.timeout_seconds == 300 and task.evaluate.cascade_thresholds == (0.5, 0.75, 0.9)
    assert task.evaluate.cascade_evaluation is True and task.llm.edit_format == "diff"
    assert task.search.map_elites.islands == 5 and task.llm.temperature == 0.7 and task.llm.models == ()
    assert made.not_carried == ()


def test_cascade_off_literal_keys_bad_values_and_typos(tmp_path):
    made = import_openevolve(_config(tmp_path, """\
llm:
  models:
    - {name: a, weight: 2, api_key: sk-secret-literal, temperature: 0.1, max_tokens: 10}
    - {name: b, weight: 0}
  temprature: 0.3
evaluator: {cascade_evaluation: false, timeout: "soon"}
database: {feature_dimensions: [score, diversity], feature_bins: 3, num_islands: 100}
language: rust
"""))
    task = load_task(made.task_yaml)
    assert task.evaluate.cascade_evaluation is False and task.evaluate.cascade_thresholds == ()
    assert [(m.name, m.weight, m.temperature, m.api_key_env) for m in task.llm.models] == [("openai/a", 2.0, 0.1, None)]
    assert "sk-secret-literal" not in made.task_yaml.read_text()
    assert task.evaluate.timeout_seconds == 300  # "soon" is not a number: evoforge's program default stays
    assert task.language == "rust" and task.search.map_elites.islands == 1
    assert [(d.name, d.bins) for d in task.search.map_elites.descriptors] == [("combined_score", 3), ("diversity", 3)]
    lines = "\n".join(made.not_carried)
    assert "llm.temprature: not an OpenEvolve 0.3.2 setting (OpenEvolve ignores it too); did you mean temperature?" in lines
    assert "llm model a: api_key: a literal key is not written into the task" in lines
    assert "llm model a: max_tokens: evoforge sets max_tokens for the whole ensemble" in lines
    assert "llm model b: weight 0" in lines
    assert "evaluator.timeout: expected a number, got 'soon'" in lines
    assert "database.num_islands: 100 is outside evoforge's range (1 to 64)" in lines


def test_mistakes_raise_one_line_config_errors(tmp_path):
    config = _config(tmp_path, "max_iterations: 3\n")
    (config.parent / "initial_program.rs").write_text("fn main() {}\n")
    with pytest.raises(ConfigError, match=r"several initial programs beside it \(initial_program.py, initial_program.rs\)"):
        import_openevolve(config)
    with pytest.raises(ConfigError, match="--program: no such file: "):
        import_openevolve(config, program=tmp_path / "absent.py")
    with pytest.raises(ConfigError, match="is a folder"):
        import_openevolve(config.parent)
