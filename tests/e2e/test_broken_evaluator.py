"""A broken evaluator stops a new run before any LLM call; a merely wrong initial program does not."""

from __future__ import annotations

import itertools
import json

import pytest

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

# The marker every prompt that shows the program carries: a request with it is a proposal.
PROGRAM_MARKER = "EVOLVE-BLOCK-START"

FIXED_PROGRAM = """Set X closer to 3.
```python
# EVOLVE-BLOCK-START
X = {x!r}
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
```
"""


def fixing_responder():
    """Answers every request with a working program, a new one each time: X = 2.5, 2.6, 2.7, ..."""
    count = itertools.count()

    def respond(request: dict) -> Reply:
        return Reply(FIXED_PROGRAM.format(x=round(2.5 + 0.1 * next(count), 3)))

    return respond


BROKEN = {
    # name: (how to break the evaluator, the error line agent must print after its prefix)
    "raises": ("prelude", "raise KeyError('expected_output')",
               "the evaluator raised KeyError: 'expected_output' (evaluator.py line 13)"),
    "returns_a_float": ("prelude", "return 0.75",
                        "the evaluator's evaluate() returned float 0.75, expected a dict of metrics"),
    "syntax_error": ("file", "def evaluate(program_path)\n    return {'combined_score': 1.0}\n",
                     "could not load the evaluator: SyntaxError: expected ':' (evaluator.py, line 1)"),
    "no_evaluate": ("file", "def score(program_path):\n    return {'combined_score': 1.0}\n",
                    "could not load the evaluator: the evaluator defines no evaluate(program_path) function"),
    "cannot_import": ("file", "import numpy_that_is_not_installed\n",
                      "could not load the evaluator: ModuleNotFoundError: "
                      "No module named 'numpy_that_is_not_installed'"),
    # (A result without combined_score is no longer an error: its fitness is the mean of its metrics.)
    "bad_evaluation_result": ("file", "from openevolve.evaluation_result import EvaluationResult\n"
                              "def evaluate(program_path):\n"
                              "    return EvaluationResult(metrics=[('combined_score', 1.0)])\n",
                              "the evaluator's evaluate() returned an EvaluationResult whose metrics is list, "
                              "expected a dict"),
}


def broken_task(tmp_path, kind: str):
    how, text, _ = BROKEN[kind]
    if how == "prelude":
        return copy_task(tmp_path, evaluator_prelude=text)
    task = copy_task(tmp_path)
    (task.parent / "evaluator.py").write_text(text)
    return task


def proposals(server: FakeOpenAIServer) -> list[dict]:
    """The requests that asked for a rewrite of a program (a preflight's probe shows none)."""
    return [r for r in server.requests if PROGRAM_MARKER in json.dumps(r.get("messages", []))]


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_evaluator_stops_the_run_before_any_llm_call(tmp_path, kind):
    task = broken_task(tmp_path, kind)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(fixing_responder())
        proc = run_agent("evolve", str(task), "--model", "openai/fake-coder", "--api-base", server.url,
                         "--store", url, "--evaluations", "10", "-q", cwd=tmp_path)
        asked, requests = proposals(server), server.requests
    expected = f"error: the evaluator failed on the initial program: {BROKEN[kind][2]}"
    assert (proc.returncode, proc.stderr.strip().splitlines()) == (1, [expected]), proc.stderr
    assert asked == [] and len(requests) <= 1  # at most the preflight's probe, never a proposal
    summary = only_run(url)
    assert summary.run.status == "failed"
    assert summary.evaluated == 1  # the initial program, recorded with its error
    with Store(url) as store:
        (initial,) = store.programs(summary.run.id)
    assert initial.status == Status.ERROR and initial.error == BROKEN[kind][2]


WRONG_PROGRAM = """# EVOLVE-BLOCK-START
X = -4.0
{failure}
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
"""


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        ("raise SystemExit('not written yet')", "the program exits with an error: the evaluator says so"),
        # The evaluator execs a HOSTILE program in its own process: the exception passes
        # through the candidate's code, so it is the candidate's failure, not the evaluator's.
        ("HOSTILE = 'no'\nraise NotImplementedError('not written yet')", "the program raises inside evaluate()"),
    ],
)
def test_a_merely_wrong_initial_program_is_left_to_the_llm(tmp_path, failure, why):
    task = copy_task(tmp_path)
    (task.parent / "initial.py").write_text(WRONG_PROGRAM.format(failure=failure))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(fixing_responder())
        proc = run_agent("evolve", str(task), "--model", "openai/fake-coder", "--api-base", server.url,
                         "--store", url, "--evaluations", "4", cwd=tmp_path)
        asked = proposals(server)
    assert proc.returncode == 0, proc.stderr
    assert "the initial program did not pass" in proc.stderr, why
    assert len(asked) >= 3, "the LLM was asked to fix the program"
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 4
    with Store(url) as store:
        programs = store.programs(summary.run.id)
        best = store.best_programs(summary.run.id, 1)
    assert programs[0].status in (Status.WRONG, Status.ERROR) and "not written yet" in programs[0].error
    assert best and best[0].fitness >= -0.25 and best[0].proposer == "llm:openai/fake-coder"


def test_the_tuner_alone_cannot_repair_a_failing_initial_program_so_the_run_stops(tmp_path):
    task = copy_task(tmp_path)
    (task.parent / "initial.py").write_text(WRONG_PROGRAM.format(failure="raise SystemExit('not written yet')"))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = run_agent("evolve", str(task), "--store", url, "--evaluations", "10", "-q", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: the initial program did not pass (program failed: ")
    assert "no LLM is configured" in lines[0] and "--model" in lines[0]
    summary = only_run(url)
    assert summary.run.status == "failed" and summary.evaluated == 1
