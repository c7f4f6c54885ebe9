"""Knowledge entries as JSON lines, for `agent knowledge export` and `import`.

One entry per line, an object with the fields of `KnowledgeEntry` (archives/records.py).
Reading checks every line before anything is used: a line that is not JSON, not an object, has
an unknown key or a value of the wrong type is a `ConfigError` naming the file and line. Only
"transformation" is required; a missing "id" gets a new one, other fields their defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.config import ConfigError
from archives.records import KnowledgeEntry

__all__ = ["entry_json", "read_entries", "same_entry", "write_entries"]

_FIELDS = {f.name for f in dataclasses.fields(KnowledgeEntry)}


def entry_json(entry: KnowledgeEntry) -> str:
    """One line of JSON for `entry`."""
    return json.dumps(dataclasses.asdict(entry), ensure_ascii=False)


def write_entries(entries: Iterable[KnowledgeEntry], path: Path) -> int:
    """Write `entries` to `path` as JSON lines; returns how many."""
    count = 0
    try:
        with path.open("w", encoding="utf-8") as fh:
            for entry in entries:
                fh.write(entry_json(entry) + "\n")
                count += 1
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return count


def same_entry(a: KnowledgeEntry, b: KnowledgeEntry) -> bool:
    """The same entry: the same id, or the same transformation in the same context."""
    return a.id == b.id or (a.transformation.strip() == b.transformation.strip() and a.context == b.context)


def _text(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key!r} must be a string, not {type(value).__name__}")
    return value


def _count(where: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key!r} must be a whole number >= 0, not {value!r}")
    return value


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key!r} must be a finite number, not {value!r}")
    return float(value)


def _entry(where: str, data: Any) -> KnowledgeEntry:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object, found {type(data).__name__}")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (a knowledge entry has {', '.join(sorted(_FIELDS))})")
    if not str(data.get("transformation") or "").strip():
        raise ConfigError(f"{where}: 'transformation' is missing or empty")
    context = data.get("context", {})
    if not isinstance(context, dict) or not all(isinstance(v, str) for v in context.values()):
        raise ConfigError(f"{where}: 'context' must be an object of strings (kind, language, op, gpu)")
    program_ids = data.get("program_ids", [])
    if not isinstance(program_ids, list) or not all(isinstance(p, str) for p in program_ids):
        raise ConfigError(f"{where}: 'program_ids' must be a list of strings")
    demoted = data.get("demoted", False)
    if not isinstance(demoted, bool):
        raise ConfigError(f"{where}: 'demoted' must be true or false, not {demoted!r}")
    return KnowledgeEntry(
        id=_text(where, "id", data.get("id") or uuid.uuid4().hex),
        transformation=_text(where, "transformation", data["transformation"]),
        context=dict(context),
        gain=_number(where, "gain", data.get("gain", 0.0)),
        avoid=_text(where, "avoid", data.get("avoid", "")),
        run_id=_text(where, "run_id", data.get("run_id", "")),
        program_ids=tuple(program_ids),
        reference_excerpt=_text(where, "reference_excerpt", data.get("reference_excerpt", "")),
        uses=_count(where, "uses", data.get("uses", 0)),
        wins=_count(where, "wins", data.get("wins", 0)),
        demoted=demoted,
        created_at=_number(where, "created_at", data.get("created_at", 0.0)),
    )


def read_entries(path: Path) -> list[KnowledgeEntry]:
    """The entries of a JSON-lines file (blank lines skipped); `ConfigError` for the first bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        entries.append(_entry(where, data))
    return entries
