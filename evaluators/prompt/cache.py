"""The answer cache of prompt tasks: a SQLite file beside the store (`RunContext.store_dir`).

A target model's answer (or a judge's verdict) is kept under a key that hashes everything the
answer depends on: the chat messages sent (the prompt's text and the example's input), the
model, its server and its parameters, and the example's id. Scoring the same prompt on the
same example again costs nothing, in this run, in a resumed run, and in another run of the
same task. Only successful answers are kept.

The file holds one table, `answers(key TEXT PRIMARY KEY, model TEXT, text TEXT, cost REAL,
created_at REAL)`; deleting the file empties the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

CACHE_FILE = "prompt_answers.sqlite"


def cache_key(**parts: Any) -> str:
    """A stable hash of `parts` (JSON-encoded with sorted keys)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """Answers by key, in one SQLite file; safe to use from several threads."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS answers "
            "(key TEXT PRIMARY KEY, model TEXT, text TEXT, cost REAL, created_at REAL)"
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT text FROM answers WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            return str(row[0])

    def put(self, key: str, model: str, text: str, cost: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO answers (key, model, text, cost, created_at) VALUES (?, ?, ?, ?, ?)",
                (key, model, text, float(cost), time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
