"""bench/evolve_scripted.py end to end on the CPU: agent evolve against the scripted fake LLM,
kernels checked in Triton's interpreter, and the report read back from the store."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("triton")

from bench import evolve_scripted  # noqa: E402


def test_the_scripted_run_judges_honest_and_hostile_answers_and_reports_them(tmp_path):
    assert evolve_scripted.main(["--evaluations", "3", "--workers", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "cpu-evolve.json").read_text())
    statuses = [p["status"] for p in result["programs"]]
    assert statuses[:3] == ["correct", "correct", "wrong"]  # initial, NUM_WARPS = 4, hostile no_compute
    assert result["programs"][1]["num_warps"] == 4
    assert "correctness: trial 1" in result["programs"][2]["error"]
    table = (tmp_path / "cpu-evolve.md").read_text()
    assert "| 3 | wrong |" in table and "exit code 0" in table
