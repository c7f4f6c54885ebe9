"""Shared pieces of the end-to-end tests: run `agent` as a real process, read its store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from archives.store import Store

QUADRATIC = Path(__file__).parent / "quadratic"


def copy_task(tmp_path: Path, evaluator_prelude: str = "") -> Path:
    """A private copy of the quadratic task; `evaluator_prelude` is inserted into evaluate()."""
    folder = tmp_path / "quadratic"
    shutil.copytree(QUADRATIC, folder)
    if evaluator_prelude:
        evaluator = folder / "evaluator.py"
        text = evaluator.read_text()
        text = text.replace("    source = open(program_path).read()\n", f"    {evaluator_prelude}\n    source = open(program_path).read()\n")
        evaluator.write_text(text)
    return folder / "task.yaml"


def agent_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent.cli", *args]


def run_agent(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(agent_command(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=_env())


def start_agent(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        agent_command(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


def only_run(url: str):
    with Store(url) as store:
        runs = store.list_runs()
        assert len(runs) == 1, runs
        return runs[0]


def assert_lineage_is_whole(url: str, run_id: str) -> None:
    """Every parent exists, no program is pending, seq is 1..n, no source was evaluated twice."""
    from archives.records import Status

    with Store(url) as store:
        programs = store.programs(run_id)
    ids = {p.id for p in programs}
    assert [p.seq for p in programs] == list(range(1, len(programs) + 1))
    assert all(p.parent_id is None or p.parent_id in ids for p in programs)
    assert not [p for p in programs if p.status == Status.PENDING]
    evaluated = [p.source for p in programs if p.status in Status.EVALUATED]
    assert len(evaluated) == len(set(evaluated)), "a source was evaluated twice"
