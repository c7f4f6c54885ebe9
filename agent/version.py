"""evoforge's version, as `agent --version` prints it.

The installed package's metadata is the truth. Run from a source tree that was never installed
(e.g. `PYTHONPATH=. python -m agent.cli`), the version comes from the tree's pyproject.toml.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "evoforge"
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def evoforge_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    found = _pyproject_version(_PYPROJECT)
    if found is not None:
        return f"{found} (source tree, not installed)"
    return "unknown (not installed, no pyproject.toml)"


def _pyproject_version(path: Path) -> str | None:
    """The `version = "..."` of the [project] table, read without a TOML parser (Python 3.10)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    if project is None:
        return None
    version = re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.MULTILINE)
    return version.group(1) if version else None
