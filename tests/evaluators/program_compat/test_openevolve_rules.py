"""OpenEvolve's threshold, merge and fallback rules at their edges (numbers worked out from
OpenEvolve 0.3.2's `_passes_threshold`, cascade merge and `get_fitness_score`)."""

from __future__ import annotations

import math

import pytest

from agent.config import PROGRAM_TIMEOUT_SECONDS, TaskConfig
from evaluators.program.openevolve_rules import fallback_fitness, merge_stages, passes_threshold


@pytest.mark.parametrize("metrics, threshold, passed, score", [
    ({}, 0.0, False, None),  # nothing to compare: fails, even a threshold of 0
    ({"error": 1.0, "note": "x"}, 0.0, False, None),  # error and text are not compared
    ({"combined_score": 0.5, "other": 100.0}, 0.5, True, 0.5),  # combined_score alone counts, >= passes
    ({"combined_score": 0.49, "other": 100.0}, 0.5, False, 0.49),
    ({"combined_score": True}, 1.0, True, 1.0),  # a bool combined_score is 0/1
    ({"combined_score": "0.9", "a": 0.2}, 0.5, False, 0.2),  # text is no combined_score: the mean decides
    ({"a": 0.2, "ok": True, "error": 0.0}, 0.6, True, 0.6),  # bools count as 0/1 in the mean, error does not
    ({"a": 0.2, "ok": False}, 0.1, True, 0.1),
    ({"a": math.nan}, 0.0, False, None),
])
def test_a_stage_passes_its_threshold_as_in_openevolve(metrics, threshold, passed, score):
    verdict = passes_threshold(metrics, threshold)
    assert verdict.passed is passed
    if score is None:
        assert verdict.score is None or math.isnan(verdict.score)
    else:
        assert verdict.score == pytest.approx(score)


def test_merging_keeps_numbers_of_every_stage_and_drops_error_and_text():
    merged = merge_stages([{"runs": True, "score": 0.1, "error": 0.0, "log": "x"}, {"score": 0.7, "speed": 3}])
    assert merged == {"runs": 1.0, "score": 0.7, "speed": 3.0}
    assert all(type(v) is float for v in merged.values())


@pytest.mark.parametrize("metrics, features, fitness, names", [
    ({}, (), 0.0, ()),
    ({"note": "x", "flag": True}, (), 0.0, ()),  # bools are flags, not scores
    ({"a": 1.0, "b": 2.0, "error": 0.0}, (), 1.0, ("a", "b", "error")),  # a numeric error is averaged
    ({"a": 1.0, "b": 2.0, "loc": 30.0}, ("loc",), 1.5, ("a", "b")),  # feature dimensions are left out
    ({"loc": 30.0, "size": 10.0}, ("loc", "size"), 20.0, ("loc", "size")),  # ... unless nothing else is left
    ({"a": 1.0, "b": math.nan}, (), 1.0, ("a",)),  # NaN is skipped
])
def test_the_fallback_fitness_is_openevolves_mean(metrics, features, fitness, names):
    got = fallback_fitness(metrics, features)
    assert (got.fitness, got.names) == (pytest.approx(fitness), names)


def test_program_tasks_default_to_openevolves_300_second_timeout_and_keep_their_own():
    base = {"name": "t", "program": "p.py"}
    program = {**base, "kind": "program", "evaluator": "e.py"}
    assert TaskConfig.model_validate(program).evaluate.timeout_seconds == PROGRAM_TIMEOUT_SECONDS == 300.0
    assert TaskConfig.model_validate({**program, "evaluate": {"workers": 3}}).evaluate.timeout_seconds == 300.0
    assert TaskConfig.model_validate({**program, "evaluate": {"timeout_seconds": 20}}).evaluate.timeout_seconds == 20.0
    kernel = {**base, "kind": "kernel", "reference": "r.py", "language": "triton"}
    assert TaskConfig.model_validate(kernel).evaluate.timeout_seconds == 60.0


def test_a_scorer_and_a_fitness_metric_together_are_refused():
    with pytest.raises(ValueError, match="give scorer or evaluate.fitness_metric, not both"):
        TaskConfig.model_validate({"name": "t", "kind": "program", "program": "p.py", "evaluator": "e.py",
                                   "scorer": "s.py:f", "evaluate": {"fitness_metric": "speed"}})
