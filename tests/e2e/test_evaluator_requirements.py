"""A task declares what its evaluator needs: its Python (a venv), PYTHONPATH folders, requirements.

Everything is offline: the venv is made with `python -m venv --without-pip`, and the package the
evaluator needs is a tiny distribution written into its site-packages (a module and its
dist-info), which importlib.metadata reports like any installed package.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archives.store import Store
from tests.e2e.helpers import run_agent

EVALUATOR = '''\
import os, sys
import fakepkg


def evaluate(program_path):
    helper = 0.0
    try:
        import helper_mod
        helper = float(helper_mod.BONUS)
    except ImportError:
        pass
    return {"combined_score": float(fakepkg.VALUE) + helper, "in_venv": float(sys.prefix == os.environ.get("VIRTUAL_ENV", "-")),
            "prefix": sys.prefix}
'''


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv holding the distribution fakepkg 1.5 (and nothing else)."""
    root = tmp_path_factory.mktemp("venvs") / "evalenv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    site = subprocess.run([str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    info = Path(site) / "fakepkg-1.5.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.5\n")
    (Path(site) / "fakepkg.py").write_text("VALUE = 7\n")
    return root


def _metric(out: str, name: str) -> str | None:
    found = [ln.split() for ln in out.splitlines() if ln.strip().startswith(name + " ")]
    return found[0][1] if found else None


def _task(tmp_path: Path, evaluate: str, backend: str = "auto", requirements: str = "fakepkg>=1.2\n") -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "evaluator.py").write_text(EVALUATOR)
    (folder / "initial.py").write_text("x = 1\n")
    (folder / "requirements.txt").write_text(requirements)
    (folder / "task.yaml").write_text(textwrap.dedent(f"""\
        name: needs
        kind: program
        program: initial.py
        evaluator: evaluator.py
        sandbox: {{backend: {backend}}}
        evaluate:
    """) + textwrap.indent(evaluate, "  "))
    return folder / "task.yaml"


@pytest.mark.parametrize("backend", ["process", "auto"])
def test_the_declared_venv_runs_the_evaluator_with_its_packages(tmp_path, venv, backend):
    task = _task(tmp_path, f"venv: {venv}\nrequirements: requirements.txt\n", backend)
    done = run_agent("check", str(task), cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "fitness: 7" in done.stdout
    assert _metric(done.stdout, "in_venv") == "1"  # VIRTUAL_ENV names the venv the evaluator runs in
    assert f"prefix: {venv}" in done.stdout  # the evaluator's sys.prefix is the venv


def test_an_interpreter_path_and_pythonpath_folders(tmp_path, venv):
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    (helpers / "helper_mod.py").write_text("BONUS = 3\n")
    task = _task(tmp_path, f"python: {venv}/bin/python\npythonpath: [../helpers]\n")
    done = run_agent("check", str(task), cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "fitness: 10" in done.stdout  # fakepkg from the interpreter's venv + the helper from pythonpath


@pytest.mark.parametrize("backend", ["process", "auto"])
def test_a_missing_requirement_stops_check_with_one_line_naming_it_and_the_install_command(tmp_path, venv, backend):
    task = _task(tmp_path, f"venv: {venv}\nrequirements: requirements.txt\n", backend,
                 requirements="# what the evaluator needs\nfakepkg>=2.0\nnot-installed-anywhere==1.0\n"
                              "never-here; python_version < '3'\n")
    done = run_agent("check", str(task), cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert "fakepkg>=2.0 (found 1.5)" in line and "not-installed-anywhere==1.0" in line
    assert "never-here" not in line  # its marker excludes it
    assert f"{venv}/bin/python -m pip install -r {task.parent / 'requirements.txt'}" in line


def test_a_missing_requirement_stops_a_run_before_any_llm_call(tmp_path, venv, fake_llm):
    task = _task(tmp_path, f"venv: {venv}\nrequirements: requirements.txt\n", requirements="not-installed-anywhere\n")
    done = run_agent("evolve", str(task), "--model", "openai/fake", "--api-base", fake_llm.url, "--evaluations", "3",
                     cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "not-installed-anywhere" in done.stderr.strip().splitlines()[-1]
    assert fake_llm.requests == [] and fake_llm.probes == []
    store = tmp_path / "runs" / "needs.db"
    if store.exists():
        with Store(f"sqlite:///{store}") as opened:
            assert opened.list_runs() == []


def test_without_a_declared_interpreter_the_requirements_are_checked_in_evoforges_own(tmp_path):
    task = _task(tmp_path, "requirements: requirements.txt\n", requirements="pyyaml>=5\nnot-installed-anywhere\n")
    done = run_agent("check", str(task), cwd=tmp_path)
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "not-installed-anywhere" in line and "pyyaml" not in line.split(";")[0]
    assert "evoforge's own environment" in line and "evaluate.venv" in line


@pytest.mark.parametrize("evaluate, expected", [
    ("venv: novenv\n", "evaluate.venv: folder not found: "),
    ("venv: empty\n", "is it a virtual environment? it has no bin/python"),
    ("python: no-such-python-3.99\n", "evaluate.python: no-such-python-3.99 is neither a file beside the task nor on PATH"),
    ("python: fake_python\n", "is not a working Python"),
    ("python: /usr/bin/env\nvenv: empty\n", "give evaluate.python or evaluate.venv, not both"),
    ("requirements: nothing.txt\n", "evaluate.requirements: file not found: "),
    ("pythonpath: [nowhere]\n", "evaluate.pythonpath: folder not found: "),
])
def test_unusable_declarations_are_refused_with_exit_code_2(tmp_path, evaluate, expected):
    task = _task(tmp_path, evaluate, "process")
    (task.parent / "empty").mkdir()
    fake = task.parent / "fake_python"
    fake.write_text("#!/bin/sh\necho not python >&2\nexit 3\n")
    fake.chmod(0o755)
    done = run_agent("check", str(task), cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr
