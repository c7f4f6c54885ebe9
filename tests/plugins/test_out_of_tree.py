"""An out-of-tree plugin package, installed by pip into a fresh virtual environment, runs through
`agent evolve`: its task kind and its strategy come from entry points alone.

The package (target_sum_plugin/ beside this file) registers the `target_sum` kind (a text file
scored by how close its numbers sum to `target_sum.target`) and the `tagged_greedy` strategy
(with its own option `search.options.tag`). The venv sees evoforge and its dependencies
through a .pth file, so nothing is downloaded; no LLM is used (the built-in tuner proposes).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from archives.store import Store

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = Path(__file__).resolve().parent / "target_sum_plugin"

TASK = """\
name: target-sum
kind: {kind}
program: initial.txt
language: text
target_sum:
  target: {target}
search:
  strategy: {strategy}
  options: {options}
budget:
  evaluations: 8
evaluate:
  workers: 1
sandbox:
  backend: process
store: sqlite:///{store}
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with the plugin pip-installed; evoforge and its packages visible through a .pth."""
    where = tmp_path_factory.mktemp("plugin")
    package = where / "package"
    shutil.copytree(PLUGIN, package, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env_dir = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
                   check=True, timeout=600)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True, timeout=120).stdout.strip()
    # evoforge's own environment (its packages, pip, setuptools, evoforge itself) goes first on
    # sys.path, before the base interpreter's older setuptools.
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "evoforge_under_test.pth").write_text(
        f"import site, sys; n = len(sys.path); sys.path.append({str(ROOT)!r}); site.addsitedir({ours!r}); "
        "sys.path[:] = sys.path[n:] + sys.path[:n]\n"
    )
    pip = [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet"]
    install = subprocess.run([*pip, str(package)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    return python


def _task(tmp_path: Path, *, kind: str = "target_sum", strategy: str = "tagged_greedy",
          options: str = "{tag: from-the-task-file}", target: str = "17") -> Path:
    (tmp_path / "initial.txt").write_text("COUNT = 3  # evoforge: tune low=1 high=40 int\nplus 2\n")
    path = tmp_path / "task.yaml"
    store = tmp_path / "runs" / "t.db"
    path.write_text(TASK.format(kind=kind, strategy=strategy, options=options, target=target, store=store))
    return path


def _evolve(python: Path, task: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "agent.cli", "evolve", str(task), "--quiet"], cwd=task.parent,
                          capture_output=True, text=True, timeout=600)


def test_a_pip_installed_kind_and_strategy_run_through_agent_evolve(venv, tmp_path):
    task = _task(tmp_path)
    done = _evolve(venv, task)
    assert done.returncode == 0, done.stderr[-3000:]

    store = Store(f"sqlite:///{tmp_path / 'runs' / 't.db'}", create=False)
    try:
        run = store.latest_run("target-sum")
        assert run is not None and run.status == "finished" and run.strategy == "tagged_greedy"
        snapshot = store.strategy_state(run.id)
        assert snapshot["kind"] == "tagged_greedy" and snapshot["tag"] == "from-the-task-file"
        assert store.run_summary(run.id).evaluated == 8
        programs = store.programs(run.id)
        initial = next(p for p in programs if p.parent_id is None)
        assert initial.metrics == {"sum": 5.0} and initial.fitness == -12.0  # 3 + 2 against 17
        assert {p.backend for p in programs if p.status == "correct"} == {"in-process"}
        assert all(p.proposer == "tuner" for p in programs if p.parent_id is not None)
    finally:
        store.close()


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"kind": "nonesuch"}, "kind: unknown task kind 'nonesuch': known are kernel, program, prompt, target_sum"),
        ({"strategy": "nonesuch"}, "search.strategy: unknown strategy 'nonesuch': known are"),
        ({"options": "{tag: x, tagg: y}"}, "search.options.tagg: unknown key"),
        ({"target": "many"}, "task.yaml: target_sum.target: Input should be a valid integer"),
    ],
)
def test_a_bad_plugin_name_or_option_is_one_line_and_a_failing_exit(venv, tmp_path, change, expected):
    done = _evolve(venv, _task(tmp_path, **change))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr[-2000:]
