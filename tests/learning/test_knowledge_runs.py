"""The knowledge base from run to run: `agent evolve` processes against a fake OpenAI server over
HTTP share one SQLite store; what the first run distils, the next run of a similar task reads,
and a run of an unrelated task does not."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest

from archives.store import Store
from tests.e2e.helpers import QUADRATIC, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

TRANSFORMATION = "Move the constant halfway to its best value in each step."
SECTION = "# What worked before on similar tasks"
LEARNING = "learning:\n  knowledge: {enabled: true, distil_every: 2}\n"
GEOMETRIC = """# EVOLVE-BLOCK-START
RATIO = 0.1
TERMS = 3
# EVOLVE-BLOCK-END


def partial_sum(ratio, terms):
    return sum(ratio ** power for power in range(terms))


if __name__ == "__main__":
    print(partial_sum(RATIO, TERMS))
"""


def task(tmp_path: Path, name: str, program: str | None = None) -> Path:
    """A copy of the quadratic task named `name` with the knowledge base on (and `program`)."""
    folder = tmp_path / name
    shutil.copytree(QUADRATIC, folder)
    if program is not None:
        (folder / "initial.py").write_text(program)
    text = (folder / "task.yaml").read_text().replace("name: quadratic", f"name: {name}")
    text = text.replace("evaluations: 24", "evaluations: 8")
    if program is not None:
        text = text.replace("X: {low: -10, high: 10}", "RATIO: {low: 0, high: 1}")
    (folder / "task.yaml").write_text(text + LEARNING)
    return folder / "task.yaml"


_steps = itertools.count()


def respond(request: dict) -> Reply:
    """Distillations: one entry per pair; proposals: one step of the program's constant, never
    the same twice (a duplicate child would count as a use without a win and demote the entry)."""
    step = next(_steps)
    user = request["messages"][-1]["content"]
    if "# What worked in this run" in user:
        pairs = sorted({int(n) for n in re.findall(r"^## Pair (\d+):", user, re.M)})
        entries = [{"pairs": pairs, "transformation": TRANSFORMATION, "avoid": ""}]
        return Reply("```json\n" + json.dumps(entries) + "\n```")
    current = user.split("# Current program", 1)[1]
    x = re.search(r"^X = (\S+)$", current, re.M)
    if x:
        old = float(x.group(1))
        new = round(old + (3.0 - old) * (0.5 + step % 7 / 100), 6)
        return Reply(f"<<<<<<< SEARCH\nX = {old!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")
    ratio = float(re.search(r"^RATIO = (\S+)$", current, re.M).group(1))
    new = round(ratio + (1.0 - ratio) * (0.2 + step % 7 / 100), 6)
    return Reply(f"<<<<<<< SEARCH\nRATIO = {ratio!r}\n=======\nRATIO = {new!r}\n>>>>>>> REPLACE\n")


def evolve(server: FakeOpenAIServer, task_file: Path, url: str, cwd: Path) -> str:
    proc = run_agent("evolve", str(task_file), "--model", "openai/fake", "--api-base", server.url, "--store", url, "-q",
                     cwd=cwd, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with Store(url) as store:
        return store.latest_run(task_file.parent.name).id


def first_prompt(store: Store, run_id: str) -> str:
    proposals = [c for c in store.llm_calls(run_id) if c.role in ("draft", "fix")]
    return json.loads(proposals[0].prompt)[-1]["content"]


def shown(store: Store, run_id: str) -> set[str]:
    return {k for p in store.programs(run_id) for k in p.proposal.get("knowledge_ids", ())}


@pytest.mark.timeout(900)  # three whole runs, on a loaded machine
def test_what_one_run_distils_the_next_run_of_a_similar_task_reads_and_an_unrelated_one_does_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        first = evolve(server, task(tmp_path, "quadratic"), url, tmp_path)
        with Store(url) as store:
            written = {e.id for e in store.knowledge(include_demoted=True) if e.run_id == first}
            distils = [c for c in store.llm_calls(first) if c.role == "distil"]
            first_programs = {p.id for p in store.programs(first)}
            entries = store.knowledge(include_demoted=True)
        assert written and distils and all(c.error is None for c in distils)
        assert all(set(e.program_ids) <= first_programs and e.gain > 0 for e in entries)

        similar = evolve(server, task(tmp_path, "quadratic_again"), url, tmp_path)
        unrelated = evolve(server, task(tmp_path, "geometric_series", GEOMETRIC), url, tmp_path)
    with Store(url) as store:
        # The similar task's very first proposal (before it distilled anything) shows the entry.
        prompt = first_prompt(store, similar)
        assert SECTION in prompt and TRANSFORMATION in prompt
        assert shown(store, similar) & written
        # The unrelated task never is shown the first run's entries.
        assert SECTION not in first_prompt(store, unrelated)
        assert not shown(store, unrelated) & written
