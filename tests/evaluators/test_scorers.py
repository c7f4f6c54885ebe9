"""Scorer plugins: loading by file path, by module path and by entry point; validation."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evaluators.scorers import (
    ENTRY_POINT_GROUP,
    Score,
    ScorerError,
    installed_scorers,
    load_scorer,
    to_score,
    validated,
)


def test_a_number_a_score_and_a_mapping_all_become_a_score():
    assert to_score(3) == Score(3.0, {})
    assert to_score(Score(1.5, {"size": 2.0})) == Score(1.5, {"size": 2.0})
    assert to_score({"fitness": 2, "descriptors": {"a": 1}}) == Score(2.0, {"a": 1.0})


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (math.nan, "fitness nan"),
        (math.inf, "fitness inf"),
        (True, "finite number"),
        ("1.0", "finite number"),
        ({"score": 1.0}, "without 'fitness'"),
        ({"fitness": 1.0, "descriptors": {"x": math.nan}}, "descriptor 'x'"),
        ({"fitness": 1.0, "descriptors": [1, 2]}, "descriptors as list"),
        (None, "finite number"),
    ],
)
def test_unusable_scorer_results_raise_one_readable_line(returned, message):
    with pytest.raises(ScorerError, match=message.replace("(", r"\(")) as info:
        validated(lambda metrics: returned, "mine")({"combined_score": 1.0})
    assert "\n" not in str(info.value)


def test_scorer_exceptions_become_scorer_errors():
    def broken(metrics):
        return metrics["missing"]

    with pytest.raises(ScorerError, match="scorer broken raised KeyError: 'missing'"):
        validated(broken)({})


def test_scorer_gets_a_copy_of_the_metrics():
    metrics = {"combined_score": 1.0}
    validated(lambda m: m.pop("combined_score"))(metrics)
    assert metrics == {"combined_score": 1.0}


def test_load_scorer_by_path_relative_to_the_task_folder(tmp_path):
    (tmp_path / "scoring").mkdir()
    (tmp_path / "scoring" / "rules.py").write_text(
        "def fast_and_small(m):\n"
        "    return {'fitness': m['speed'] - m['lines'] / 100, 'descriptors': {'lines': m['lines']}}\n"
    )
    scorer = load_scorer("scoring/rules.py:fast_and_small", tmp_path)
    assert scorer({"speed": 3.0, "lines": 50.0}) == Score(2.5, {"lines": 50.0})


def test_errors_of_a_loaded_scorer_name_it_as_the_user_would(tmp_path, monkeypatch):
    (tmp_path / "tasks" / "x").mkdir(parents=True)
    (tmp_path / "tasks" / "x" / "scorer.py").write_text("def score(m):\n    return m['length'] / m['cities']\n")
    task_dir = tmp_path / "tasks" / "x"
    monkeypatch.chdir(tmp_path)  # inside the working folder: a relative name
    scorer = load_scorer(f"{task_dir / 'scorer.py'}:score", task_dir)
    with pytest.raises(ScorerError) as info:
        scorer({"length": 1.0, "cities": 0.0})
    assert str(info.value) == "scorer tasks/x/scorer.py:score raised ZeroDivisionError: float division by zero"
    with pytest.raises(ScorerError, match=r"^scorer tasks/x/scorer.py:score raised KeyError: 'length'$"):
        load_scorer("scorer.py:score", task_dir)({"cities": 2.0})
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # outside the working folder: the absolute path
    with pytest.raises(ScorerError, match=rf"^scorer {task_dir / 'scorer.py'}:score returned fitness inf"):
        load_scorer("scorer.py:score", task_dir)({"length": float("inf"), "cities": 1.0})


def test_load_scorer_by_absolute_path(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("def f(m):\n    return 7\n")
    assert load_scorer(f"{path}:f", Path("/nonexistent"))({}).fitness == 7.0


def test_load_scorer_errors_name_what_is_missing(tmp_path):
    with pytest.raises(ScorerError, match="file not found: .*nope.py"):
        load_scorer("nope.py:f", tmp_path)
    (tmp_path / "s.py").write_text("def f(m):\n    return 1\n")
    with pytest.raises(ScorerError, match="has no function 'g'"):
        load_scorer("s.py:g", tmp_path)
    (tmp_path / "bad.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ScorerError, match="loading .*bad.py failed: RuntimeError: boom"):
        load_scorer("bad.py:f", tmp_path)


def test_load_scorer_by_module_path(tmp_path, monkeypatch):
    (tmp_path / "my_scoring_mod.py").write_text("def double(m):\n    return 2 * m['combined_score']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_scorer("my_scoring_mod:double", Path("."))({"combined_score": 4.0}).fitness == 8.0


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A real distribution on sys.path that registers two `evoforge.scorers` entry points."""
    (tmp_path / "evoforge_demo_scorers.py").write_text(
        "from evaluators.scorers import Score\n"
        "def speed(m):\n    return Score(m['speed'], {'speed': m['speed']})\n"
        "NOT_A_FUNCTION = 3\n"
    )
    dist = tmp_path / "evoforge_demo_scorers-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evoforge-demo-scorers\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "demo_speed = evoforge_demo_scorers:speed\n"
        "demo_constant = evoforge_demo_scorers:NOT_A_FUNCTION\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_load_scorer_by_entry_point(installed_plugin):
    assert {"demo_speed", "demo_constant"} <= set(installed_scorers())
    scorer = load_scorer("demo_speed", installed_plugin)
    assert scorer({"speed": 1.25}) == Score(1.25, {"speed": 1.25})


def test_unknown_entry_point_lists_the_installed_ones(installed_plugin):
    expected = r"no entry point named 'fastest' in group evoforge.scorers \(installed: .*demo_speed"
    with pytest.raises(ScorerError, match=expected):
        load_scorer("fastest", installed_plugin)
    with pytest.raises(ScorerError, match=r"is not callable \(int\)"):
        load_scorer("demo_constant", installed_plugin)

