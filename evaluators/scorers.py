"""Scorer plugins: turn an evaluator's metrics into the fitness and the behaviour descriptors.

A scorer is any callable taking the metrics (`dict[str, float]`: every finite numeric value
the evaluator returned, `combined_score` included when present; a copy) and returning the
fitness as a number, a `Score`, or a mapping with "fitness" and optionally "descriptors"
(`{name: number}`). When a task sets a scorer, the scorer supplies the fitness of every program
the evaluator passed, and the evaluator need not return `combined_score`. Users name one in
`task.yaml` as `scorer: path/to/file.py:function` (relative to the task's folder), as
`package.module:function`, or by the name of an installed entry point in the
`evoforge.scorers` group:

    [project.entry-points."evoforge.scorers"]
    speed_and_size = "mypkg.scoring:speed_and_size"

`load_scorer` returns the callable wrapped so that it always gives a validated `Score` (a
finite fitness, finite descriptors) or raises `ScorerError` with one readable line that names
the scorer ("scorer tasks/x/scorer.py:score returned fitness nan; ...").
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENTRY_POINT_GROUP = "evoforge.scorers"


class ScorerError(Exception):
    """A scorer could not be loaded or returned something unusable; the message is one line."""


@dataclass(frozen=True)
class Score:
    fitness: float
    descriptors: dict[str, float] = field(default_factory=dict)


Scorer = Callable[[dict[str, float]], float | Score | Mapping[str, Any]]


def load_scorer(spec: str, task_dir: Path) -> Callable[[dict[str, float]], Score]:
    """The scorer named by `spec`, wrapped by `validated`.

    Raises ScorerError whose one-line message says what is wrong ("file not found: ...",
    "no entry point named ..."); callers add where it came from (e.g. "scorer: ").
    """
    spec = spec.strip()
    if ":" in spec:
        target, _, func_name = spec.rpartition(":")
        if not func_name.isidentifier() or not target:
            raise ScorerError(f"expected 'file.py:function' or an entry point name, got {spec!r}")
        if target.endswith(".py") or "/" in target or "\\" in target:
            module = _load_file(target, task_dir)
            func = getattr(module, func_name, None)
            if not callable(func):
                raise ScorerError(f"{target} has no function {func_name!r}")
            return validated(func, f"{_shown_path(target, task_dir)}:{func_name}")
    return validated(_registered(spec), spec)


def _shown_path(target: str, task_dir: Path) -> str:
    """The scorer file as a user would name it: relative to the working folder when inside it."""
    path = Path(target)
    path = path if path.is_absolute() else Path(task_dir) / path
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _load_file(target: str, task_dir: Path) -> Any:
    path = Path(target)
    path = path if path.is_absolute() else Path(task_dir) / path
    if not path.is_file():
        raise ScorerError(f"file not found: {path}")
    name = f"evoforge_scorer_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ScorerError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file failed: one line
        raise ScorerError(f"loading {path} failed: {_one_line(exc)}") from exc
    sys.modules.setdefault(name, module)
    return module


def installed_scorers() -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of the `evoforge.scorers` group, by name."""
    from agent.plugins import installed  # a standard-library-only module

    return installed("scorers")


def _registered(spec: str) -> Callable[..., Any]:
    """A scorer by dotted path or entry point name, through the plugin registry (agent/plugins.py)."""
    from agent.plugins import PluginError, known_names, resolve

    if ":" not in spec and spec not in known_names("scorers"):
        names = ", ".join(sorted(installed_scorers())) or "none"
        raise ScorerError(f"no entry point named {spec!r} in group {ENTRY_POINT_GROUP} (installed: {names})")
    try:
        func = resolve("scorers", spec)
    except PluginError as exc:
        raise ScorerError(str(exc)) from None
    if not callable(func):
        raise ScorerError(f"scorer {spec!r} is not callable ({type(func).__name__})")
    return func


def validated(func: Scorer, name: str = "") -> Callable[[dict[str, float]], Score]:
    """Wrap a scorer so it returns a checked `Score` or raises ScorerError."""
    label = name or getattr(func, "__name__", repr(func))

    def score(metrics: dict[str, float]) -> Score:
        try:
            value = func(dict(metrics))
        except ScorerError:  # a scorer validated already (wrapped twice) names itself
            raise
        except Exception as exc:  # noqa: BLE001 - the user's scorer failed: one line
            raise ScorerError(f"scorer {label} raised {_one_line(exc)}") from exc
        return to_score(value, label)

    score.__name__ = f"validated_{getattr(func, '__name__', 'scorer')}"
    score.__wrapped__ = func  # type: ignore[attr-defined]
    return score


def to_score(value: Any, label: str = "scorer") -> Score:
    """A `Score` from what a scorer returned; raises ScorerError when it is not usable."""
    if isinstance(value, Score):
        fitness, descriptors = value.fitness, value.descriptors
    elif isinstance(value, Mapping):
        if "fitness" not in value:
            keys = ", ".join(map(str, value))
            raise ScorerError(f"scorer {label} returned a mapping without 'fitness' (keys: {keys})")
        fitness, descriptors = value["fitness"], value.get("descriptors") or {}
    else:
        fitness, descriptors = value, {}
    fitness = _finite(fitness, f"scorer {label} returned fitness")
    if not isinstance(descriptors, Mapping):
        raise ScorerError(f"scorer {label} returned descriptors as {type(descriptors).__name__}, expected a mapping")
    checked = {str(k): _finite(v, f"scorer {label} returned descriptor {k!r} =") for k, v in descriptors.items()}
    return Score(fitness=fitness, descriptors=checked)


def _finite(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if hasattr(value, "item") and callable(value.item) and not isinstance(value, bool):  # numpy scalars
            return _finite(value.item(), what)
        raise ScorerError(f"{what} {value!r} ({type(value).__name__}); expected a finite number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ScorerError(f"{what} {number}; expected a finite number")
    return number


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__
