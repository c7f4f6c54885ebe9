"""The plugin registry: task kinds, strategies, sandbox backends and scorers, found by name.

Every extension point of evoforge is a group here. A name given in a task file is resolved,
in this order, as

1. a short name of the group's built-in table (one line per built-in, below or beside its
   group: strategies in archives/registry.py STRATEGIES, sandbox backends in sandbox.BACKENDS);
2. a dotted path "package.module:Object" (any importable object);
3. the name of an installed entry point of the group `evoforge.<group>`, e.g. in a plugin's
   pyproject.toml:

       [project.entry-points."evoforge.kinds"]
       wordcount = "wordcount_kind:WordCountKind"

An unknown name raises `PluginError` with one line naming the group and the names it knows.
docs/writing-a-plugin.md says what each group's objects must provide.

This module imports only the standard library: archives, evaluators and sandbox may use it
without depending on the rest of `agent`. A table given as "module:NAME" is read when first
needed, so nothing is imported before a name is resolved.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any

__all__ = [
    "GROUPS", "KINDS", "PluginError", "builtin_names", "entry_point_group", "import_object", "installed",
    "known_names", "resolve",
]


class PluginError(Exception):
    """A plugin name that cannot be resolved or loaded; the message is one readable line."""


KINDS: dict[str, str] = {
    "program": "evaluators.program.kind:ProgramKind",
    "kernel": "evaluators.kernel.kind:KernelKind",
    "prompt": "evaluators.prompt.kind:PromptKind",
}

# Each group's built-in table: a dict, or "module:NAME" of a dict kept beside its group.
GROUPS: dict[str, dict[str, str] | str] = {
    "kinds": KINDS,
    "strategies": "archives.registry:STRATEGIES",
    "sandboxes": "sandbox:BACKENDS",
    "scorers": {},
}

_WHAT = {"kinds": "task kind", "strategies": "strategy", "sandboxes": "sandbox backend", "scorers": "scorer"}


def entry_point_group(group: str) -> str:
    return f"evoforge.{group}"


def builtin_names(group: str) -> dict[str, str]:
    """The group's built-in table: short name -> dotted path."""
    table = GROUPS[_checked(group)]
    if isinstance(table, str):
        module, _, attr = table.partition(":")
        table = getattr(importlib.import_module(module), attr)
    return dict(table)


def installed(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The installed entry points of `evoforge.<group>`, by name."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=entry_point_group(_checked(group)))}


def known_names(group: str) -> list[str]:
    """Built-in and installed names of a group, sorted."""
    return sorted({*builtin_names(group), *installed(group)})


def resolve(group: str, name: str) -> Any:
    """The object `name` stands for in `group` (see the module docstring); PluginError if none."""
    what = _WHAT[_checked(group)]
    name = name.strip()
    table = builtin_names(group)
    if name in table:
        return import_object(table[name], what=f"{what} {name!r}")
    if ":" in name:
        return import_object(name, what=what)
    found = installed(group)
    if name in found:
        try:
            return found[name].load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin: one line
            raise PluginError(f"{what} {name!r} (entry point {found[name].value!r}) failed to load: "
                              f"{_one_line(exc)}") from None
    names = ", ".join(sorted({*table, *found}))
    raise PluginError(f"unknown {what} {name!r}: known are {names}; or give a dotted path 'package.module:Object' "
                      f"or install an entry point of group {entry_point_group(group)}")


def import_object(target: str, *, what: str = "plugin") -> Any:
    """The object at "package.module:Name" (a dotted attribute path after the colon)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise PluginError(f"{what} {target!r}: expected 'package.module:Object'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"{what} {target!r}: cannot import {module_name!r}: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - the module raised while loading: one line
        raise PluginError(f"{what} {target!r}: importing {module_name!r} failed: {_one_line(exc)}") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{what} {target!r}: {module_name!r} has no {attr!r}") from None
    return obj


def _checked(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}; expected one of: {', '.join(GROUPS)}")
    return group


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__
