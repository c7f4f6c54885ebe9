"""A real short run for the viewer's tests: `agent evolve` on the quadratic task against the
fake OpenAI server, answering like an LLM with good edits, edits that do not apply, programs
that do not build, programs that fail, and one program whose source carries HTML and script
tags (it is correct, so it sits in the grid and the tree like any other)."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.openai_server import FakeOpenAIServer, Reply

QUADRATIC = Path(__file__).parents[1] / "e2e" / "quadratic"
EVALUATIONS = 30
MARKUP = '</script><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold</b>'

PROGRAM = """# EVOLVE-BLOCK-START
X = {x!r}
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
"""
MARKED = f"""# EVOLVE-BLOCK-START
X = {{x!r}}
BANNER = {MARKUP!r}
# EVOLVE-BLOCK-END

if __name__ == "__main__":
    print(X)
"""
TASK = """name: quadratic
kind: program
description: Set X so that f(X) = -(X - 3)^2 is as large as possible.
program: initial.py
evaluator: evaluator.py
budget: {{evaluations: {evaluations}}}
search: {{strategy: map_elites}}
evaluate: {{workers: 2, timeout_seconds: 20}}
llm:
  models:
    - {{name: openai/gpt-4o-mini, weight: 3, api_base: "{url}", api_key_env: EVOFORGE_FAKE_KEY}}
    - {{name: openai/gpt-4o, weight: 1, api_base: "{url}", api_key_env: EVOFORGE_FAKE_KEY}}
  concurrency: 2
tunables:
  X: {{low: -10, high: 10}}
"""


@dataclass(frozen=True)
class FilledStore:
    url: str
    run_id: str
    folder: Path


def _current_x(request: dict) -> float:
    user = request["messages"][-1]["content"]
    current = user.split("# Current program", 1)[1]
    return float(re.search(r"^X = (\S+)$", current, re.M).group(1))


def responder():
    """Answers by request number: mostly edits that move X towards 3, and every kind of failure."""
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        k = next(counter)
        x = _current_x(request)
        new = round(x + (3.0 - x) * 0.45 + 0.013 * (k % 5), 6)
        if k == 4:
            return Reply(f"Here is a banner {MARKUP}\n```python\n{MARKED.format(x=new)}```\n")
        if k % 6 == 5:
            return Reply("Rename a variable.\n<<<<<<< SEARCH\nY = 1\n=======\nY = 2\n>>>>>>> REPLACE\n")
        if k % 7 == 3:
            return Reply(f"Try this.\n```python\n{PROGRAM.format(x=new).replace('X = ', 'X = (', 1)}```\n")
        if k % 9 == 7:
            broken = PROGRAM.format(x=new).replace("# EVOLVE-BLOCK-END", "raise RuntimeError('no')\n# EVOLVE-BLOCK-END")
            return Reply(f"Try this.\n```python\n{broken}```\n")
        if k % 4 == 2:
            return Reply(f"Move X towards 3.\n```python\n{PROGRAM.format(x=new)}```\n")
        return Reply(f"Move X towards 3.\n<<<<<<< SEARCH\nX = {x!r}\n=======\nX = {new!r}\n>>>>>>> REPLACE\n")

    return respond


def fill_store(folder: Path, evaluations: int = EVALUATIONS) -> FilledStore:
    """Run `agent evolve` into `folder/runs/quadratic.db` (next to the runs already there);
    returns where the new run is."""
    task_dir = folder / f"quadratic_{evaluations}"
    shutil.copytree(QUADRATIC, task_dir)
    url = f"sqlite:///{folder / 'runs' / 'quadratic.db'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "EVOFORGE_FAKE_KEY": "sk-fake"}
    with FakeOpenAIServer() as server:
        server.set_responder(responder())
        (task_dir / "task.yaml").write_text(TASK.format(url=server.url, evaluations=evaluations))
        proc = subprocess.run(
            [sys.executable, "-m", "agent.cli", "evolve", str(task_dir / "task.yaml"), "--store", url, "-q"],
            cwd=folder, capture_output=True, text=True, timeout=240, env=env,
        )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"agent evolve failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    from archives.store import Store

    with Store(url) as store:
        run_id = store.latest_run().id
    return FilledStore(url=url, run_id=run_id, folder=folder)
