"""A whole `agent evolve` run whose evaluator returns a profile: the prompts state the diagnosis.

The evaluator of the quadratic task is extended to report `profile_parse` and `profile_solve`
(seconds spent in each part, a program profile as docs/learning.md defines it). The
LLM, served over real HTTP, must see "Diagnosis: `solve` takes ..." next to the metrics of every
correct parent, and no such line with `learning.diagnosis: false`.
"""

from __future__ import annotations

import itertools
import re

import pytest

from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PROFILED = '''
import subprocess
import sys


def evaluate(program_path):
    proc = subprocess.run([sys.executable, program_path], capture_output=True, text=True, timeout=10)
    x = float(proc.stdout.strip().splitlines()[-1])
    return {"combined_score": -((x - 3.0) ** 2), "profile_parse": 1.0, "profile_solve": 3.0 + abs(x)}
'''


def _answerer():
    counter = itertools.count(1)

    def respond(request: dict) -> Reply:
        user = request["messages"][-1]["content"]
        x = float(re.search(r"^X = (\S+)$", user.split("# Current program", 1)[1], re.M).group(1))
        new = x + 0.5 + 1e-4 * next(counter)
        return Reply(f"<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")

    return respond


@pytest.mark.parametrize("diagnosis", [True, False])
def test_the_prompt_states_the_profile_diagnosis_next_to_the_metrics_unless_switched_off(tmp_path, diagnosis):
    task = copy_task(tmp_path)
    (task.parent / "evaluator.py").write_text(PROFILED)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(_answerer())
        with task.open("a", encoding="utf-8") as out:
            out.write(f'\nllm:\n  models:\n    - {{name: openai/fake, api_base: "{server.url}"}}\n'
                      f"learning:\n  diagnosis: {str(diagnosis).lower()}\n")
        done = run_agent("evolve", str(task), "--store", url, "--evaluations", "4", "-q", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        prompts = [r["messages"][-1]["content"] for r in server.requests]
    assert only_run(url).evaluated == 4 and prompts
    for prompt in prompts:
        x = float(re.search(r"^X = (\S+)$", prompt, re.M).group(1))
        share = (3.0 + abs(x)) / (4.0 + abs(x))
        line = f"Diagnosis: `solve` takes {share:.0%} of the profiled time (of 2 parts; next: parse {1 - share:.0%})"
        if diagnosis:
            metrics, after = prompt.split("Metrics: ", 1)[1].split("\n", 1)
            assert "profile_solve" in metrics and after.startswith(line)
        else:
            assert "Diagnosis:" not in prompt
