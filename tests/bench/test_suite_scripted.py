"""bench/suite_scripted.py: the scripted server answers each problem with its own kernel, and
end to end on the CPU (tiny sizes, Triton's interpreter) `agent suite run` over two ops ends
with both problems correct in the report it writes."""

from __future__ import annotations

import json

import pytest

from bench import suite_scripted
from bench.ops.catalog import by_name


def _request(text: str) -> dict:
    return {"messages": [{"role": "system", "content": "You write kernels."}, {"role": "user", "content": text}]}


def test_a_request_is_answered_for_the_problem_its_task_names() -> None:
    answers = suite_scripted.ScriptedAnswers([by_name("softmax"), by_name("log_softmax")])
    first = answers(_request("# Task: log_softmax_triton\nMake it faster.")).text
    assert "_log_softmax_kernel" in first and "num_warps=warps" in first  # the op's own candidate first
    second = answers(_request("# Task: log_softmax_triton\n")).text
    assert "_log_softmax_kernel" in second and "num_warps=4" in second  # then other num_warps
    assert "_softmax_kernel[" in answers(_request("# Task: softmax_triton\n")).text


def test_a_request_without_a_task_line_is_matched_by_name_or_description() -> None:
    answers = suite_scripted.ScriptedAnswers([by_name("softmax"), by_name("log_softmax"), by_name("relu")])
    assert answers.problem_of("a summary of the log_softmax_triton run") == "log_softmax"
    assert answers.problem_of("Description: ReLU activation, elementwise.") == "relu"
    assert answers.problem_of("nothing known here") is None
    answers(_request("nothing known here"))
    assert answers.unmatched == 1


def test_tiny_sizes_replace_the_references_size_constants() -> None:
    op = by_name("column_mean")
    source = suite_scripted.with_sizes(op.reference.read_text(), op.tiny)
    assert "\nrows = 300\n" in source and "\ncols = 77\n" in source and "reduce_dim = 0" in source
    with pytest.raises(ValueError, match="'batch'"):
        suite_scripted.with_sizes(source, {"batch": 3})


def test_the_scripted_suite_runs_on_the_cpu_and_reports_every_problem_correct(tmp_path) -> None:
    pytest.importorskip("triton")
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["--device", "cpu", "--ops", "relu,column_mean", "--evaluations", "2", "--parallel", "2",
            "--workers", "1", "--work", str(work), "--out", str(out)]
    assert suite_scripted.main(args) == 0
    report = json.loads((out / "cpu-suite.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert sorted(rows) == ["column_mean", "relu"]
    assert all(r["correct"] and r["status"] == "finished" for r in rows.values()), rows
    bench = report["bench"]
    assert (bench["exit_code"], bench["sessions"], bench["unmatched_requests"]) == (0, 1, 0)
    assert bench["llm_requests"] >= 2  # one answer per problem at least (the first evaluation is the start)

    assert suite_scripted.main([*args, "--resume"]) == 0  # finished problems are not run again
    again = json.loads((out / "cpu-suite.json").read_text())
    assert again["rows"] == report["rows"]
    assert (again["bench"]["sessions"], again["bench"]["llm_requests"]) == (2, bench["llm_requests"])
    markdown = (out / "cpu-suite.md").read_text()
    assert markdown.startswith("# A suite with scripted LLM answers on the CPU") and "not a model" in markdown
    assert "column_mean" in markdown and "relu" in markdown
