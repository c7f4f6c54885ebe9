"""`agent --version` prints the installed package's version."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from agent import version

ROOT = Path(__file__).resolve().parents[2]


def test_agent_version_prints_the_package_version() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--version"], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"agent (evoforge) {metadata.version('evoforge')}\n"


def test_an_uninstalled_source_tree_reads_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version.metadata, "version", not_installed)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = next(line.split('"')[1] for line in text.splitlines() if line.startswith("version = "))
    assert version.evoforge_version() == f"{declared} (source tree, not installed)"


def test_pyproject_version_is_read_from_the_project_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.other]\nversion = "9.9"\n\n[project]\nname = "x"\nversion = "1.2.3"\n')
    assert version._pyproject_version(path) == "1.2.3"
    path.write_text('[tool.other]\nversion = "9.9"\n')
    assert version._pyproject_version(path) is None
    assert version._pyproject_version(tmp_path / "missing.toml") is None
