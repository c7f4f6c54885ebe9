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
    programs = result["programs"]
    assert programs[0]["status"] == "correct" and programs[0]["num_warps"] == 8  # the initial program
    # The two scripted answers (NUM_WARPS = 4, then the hostile no_compute) may be stored in
    # either order: several proposal workers ask the LLM at once.
    by_status = {p["status"]: p for p in programs[1:3]}
    assert sorted(by_status) == ["correct", "wrong"], programs
    assert by_status["correct"]["num_warps"] == 4
    assert "correctness: trial 1" in by_status["wrong"]["error"]
    table = (tmp_path / "cpu-evolve.md").read_text()
    assert f"| {by_status['wrong']['seq']} | wrong |" in table and "exit code 0" in table
