"""Which problems a suite runs: the PATHs of `agent suite run`, turned into named problems.

A PATH is one of:
- a folder: every `*.py` in it (not in subfolders) that is a KernelBench problem file (it
  defines `Model`, `get_inputs` and `get_init_inputs`); its other `.py` files are skipped, each
  with the reason;
- a list file (`*.txt`): one path per line, relative to the list file, `#` starts a comment;
  each line is a PATH again (a folder, a problem file or a task.yaml);
- a KernelBench problem file (`*.py`);
- a task file (`*.yaml` / `*.yml`), of any kind, run as it is.

A problem is named by its file's stem (a task file: by its folder's name). Two problems with
one name are a ConfigError naming both paths: the name keys the problem in the store.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from agent.config import ConfigError

_KERNELBENCH_NAMES = ("Model", "get_inputs", "get_init_inputs")


@dataclass(frozen=True)
class Problem:
    """One problem: `source` is the file (absolute); `kernelbench` says whether the suite
    makes its task (a KernelBench file) or runs it as given (a task file)."""

    name: str
    source: Path
    kernelbench: bool


@dataclass(frozen=True)
class Collected:
    problems: tuple[Problem, ...]
    skipped: tuple[str, ...]  # "path: why", one per .py file of a folder that is not a problem


def collect(paths: list[Path] | tuple[Path, ...]) -> Collected:
    """The problems of PATHs, in the order given (a folder's files by name). Raises ConfigError."""
    problems: list[Problem] = []
    skipped: list[str] = []
    for path in paths:
        _add_path(Path(path), problems, skipped, listed_in=None)
    if not problems:
        raise ConfigError(f"no problem found in {', '.join(str(p) for p in paths)}"
                          + (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
    _check_unique(problems)
    return Collected(tuple(problems), tuple(skipped))


def _add_path(path: Path, problems: list[Problem], skipped: list[str], listed_in: Path | None) -> None:
    where = f" (listed in {listed_in})" if listed_in is not None else ""
    if path.is_dir():
        for file in sorted(path.glob("*.py")):
            why = not_a_problem(file)
            if why is None:
                problems.append(Problem(file.stem, file.resolve(), True))
            else:
                skipped.append(f"{file}: {why}")
        return
    if not path.exists():
        raise ConfigError(f"{path}: no such file or folder{where}")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        if listed_in is not None:
            raise ConfigError(f"{path}: a list file inside a list file ({listed_in}) is not read")
        for line in _list_lines(path):
            _add_path(path.parent / line, problems, skipped, listed_in=path)
    elif suffix in (".yaml", ".yml"):
        problems.append(Problem(path.resolve().parent.name, path.resolve(), False))
    elif suffix == ".py":
        why = not_a_problem(path)
        if why is not None:
            raise ConfigError(f"{path}: {why}{where}")
        problems.append(Problem(path.stem, path.resolve(), True))
    else:
        raise ConfigError(f"{path}: expected a folder, a list file (.txt), a KernelBench .py file or a task.yaml{where}")


def _list_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line]


def not_a_problem(path: Path) -> str | None:
    """Why `path` is not a KernelBench problem file, or None when it is one."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read: {exc}"
    except SyntaxError as exc:
        return f"not valid Python: {exc.msg} (line {exc.lineno})"
    defined = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    missing = [n for n in _KERNELBENCH_NAMES if n not in defined]
    return f"not a KernelBench problem file: it defines no {', '.join(missing)}" if missing else None


def _check_unique(problems: list[Problem]) -> None:
    seen: dict[str, Problem] = {}
    for problem in problems:
        other = seen.get(problem.name)
        if other is not None:
            if other.source == problem.source:
                raise ConfigError(f"{problem.source}: given twice")
            raise ConfigError(f"two problems named {problem.name!r}: {other.source} and {problem.source} "
                              "(a problem is named by its file's stem; rename one)")
        seen[problem.name] = problem
