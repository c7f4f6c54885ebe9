"""JSON files the kernel evaluator keeps between runs (device ceilings, reference baselines):
one object of entries, read leniently and written whole.

`read` gives {} for a file that is missing, unreadable or not a JSON object. `put` merges one
entry under a lock file and replaces the file by renaming a complete temporary one, so two runs
writing at once neither corrupt it nor lose each other's entries. Controller side; standard
library only.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def put(path: Path, key: str, entry: Any) -> bool:
    """Add or replace `key`'s entry; False when the file could not be written (a read-only place)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
            entries = read(path)
            entries[key] = entry
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(entries, fh, indent=1)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
    except OSError:
        return False
    return True
