"""Modules evoforge lends to user evaluators: this folder goes on the end of their `sys.path`.

`openevolve/` is a stand-in for OpenEvolve's `openevolve.evaluation_result` (see README.md);
a real installed `openevolve` comes first on the path and wins.
"""

from pathlib import Path

SHIM_ROOT = str(Path(__file__).resolve().parent)
"""The folder the harness appends to `sys.path` (it holds the `openevolve` stand-in)."""
