"""What a suite runs with: the options of `agent suite run`, merged with what its suite row
recorded when it was first run.

A suite runs every problem with the same settings, so a second `agent suite run` under the
same name resumes it with the stored ones: an option left out takes the stored value, and an
option given with another value for what decides the results (problems, language, budget,
model, strategy, knowledge sharing) is a ConfigError saying what differs. How the suite is run
(--parallel, --workers, --api-base: a local server may have moved) may change on a resume.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from agent.config import ConfigError

DEFAULT_EVALUATIONS = 20
DEFAULT_STORE = "sqlite:///runs/suites.db"

_FIXED = ("paths", "language", "evaluations", "dollars", "model", "strategy", "share_knowledge")
"""Settings a resumed suite must keep: its results are comparable only if they stay."""


@dataclass(frozen=True)
class SuiteSettings:
    """A suite's settings, as `Suite.config` stores them (paths absolute)."""

    paths: tuple[str, ...]
    language: str = "triton"
    evaluations: int | None = DEFAULT_EVALUATIONS
    dollars: float | None = None
    parallel: int = 1
    model: str | None = None
    api_base: str | None = None
    strategy: str | None = None
    workers: int | None = None
    share_knowledge: bool = False
    dir: str = ""  # the folder of the suite's task folders

    def to_config(self) -> dict[str, Any]:
        config = asdict(self)
        config["paths"] = list(self.paths)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SuiteSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in config.items() if k in known}
        values["paths"] = tuple(values.get("paths", ()))
        return cls(**values)


def default_name(paths: tuple[Path, ...]) -> str:
    """The first PATH's folder name (a folder or a task.yaml) or stem (a file)."""
    if not paths:
        raise ConfigError("suite run: give PATH... (problems to run) or --name of a suite to resume")
    first = paths[0].resolve()
    if first.is_dir():
        return first.name
    if first.suffix.lower() in (".yaml", ".yml"):
        return first.parent.name
    return first.stem


def new_settings(name: str, paths: tuple[Path, ...], options: dict[str, Any]) -> SuiteSettings:
    """Settings of a suite run for the first time: the options given, defaults for the rest."""
    if not paths:
        raise ConfigError(f"suite {name!r}: no such suite yet; give PATH... to run one")
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("evaluations") is None and given.get("dollars") is None:
        given["evaluations"] = DEFAULT_EVALUATIONS
    else:
        given.setdefault("evaluations", None)
    given["dir"] = str(Path(given.get("dir") or Path("suites") / name).resolve())
    return SuiteSettings(paths=_resolved(paths), **given)


def resumed_settings(name: str, stored: dict[str, Any], paths: tuple[Path, ...], options: dict[str, Any]) -> SuiteSettings:
    """The stored settings with the options given on top; ConfigError when a fixed one differs."""
    settings = SuiteSettings.from_config(stored)
    given = {k: v for k, v in options.items() if v is not None}
    if paths:
        given["paths"] = _resolved(paths)
    if "dir" in given:
        given["dir"] = str(Path(given["dir"]).resolve())
    differs = [
        f"{_option(key)} {_shown(getattr(settings, key))} (this command: {_shown(given[key])})"
        for key in (*_FIXED, "dir")
        if key in given and given[key] != getattr(settings, key)
    ]
    if differs:
        raise ConfigError(f"suite {name!r} was run with {'; '.join(differs)}: leave these options out to resume it, "
                          "or give another --name")
    return replace(settings, **{k: v for k, v in given.items() if k not in _FIXED and k != "dir"})


def _resolved(paths: tuple[Path, ...]) -> tuple[str, ...]:
    return tuple(str(Path(p).resolve()) for p in paths)


def _option(key: str) -> str:
    return "PATH" if key == "paths" else "--" + key.replace("_", "-")


def _shown(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "(not set)" if value is None else str(value)
