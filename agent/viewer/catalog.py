"""The stores the viewer reads: given URLs, or every `runs/*.db` of a folder (found anew)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from archives.store import RunInfo, Store, StoreDamaged, StoreError


class NotFound(LookupError):
    """A run or program the request named is not in any store; the message says which."""


class Catalog:
    """Read-only stores by URL. With no URLs, every `*.db` in `folder` is a store, and files
    that appear later (a run of a new task) are picked up when runs are listed."""

    def __init__(self, urls: list[str] | None = None, folder: Path | None = None):
        if not urls and folder is None:
            raise ValueError("a catalog needs store URLs or a folder to search")
        self._fixed = list(urls or [])
        self._folder = folder
        self._stores: dict[str, Store] = {}
        self._watchers: dict[str, sqlite3.Connection | None] = {}
        self._lock = threading.Lock()
        for url in self._fixed:
            self._open(url)  # a store named by the user must open, or the viewer does not start

    def _open(self, url: str) -> Store:
        with self._lock:
            store = self._stores.get(url)
            if store is None:
                store = self._stores[url] = Store(url, read_only=True)
            return store

    def stores(self) -> list[Store]:
        """Every store, opening those that appeared in the folder since the last call."""
        if self._folder is not None:
            for path in sorted(self._folder.glob("*.db")):
                url = f"sqlite:///{path}"
                if url not in self._stores:
                    try:
                        self._open(url)
                    except StoreError:
                        continue  # not a store of ours (or not yet written): skip it
        with self._lock:
            return list(self._stores.values())

    def find_run(self, ref: str) -> tuple[Store, RunInfo]:
        """The store holding the run with this id or unique id prefix."""
        problems = []
        damaged = None
        for store in self.stores():
            try:
                return store, store.get_run(ref)
            except StoreDamaged as exc:
                damaged = damaged or exc
            except StoreError as exc:
                problems.append(str(exc))
        if damaged is not None:  # not "no such run": the run may be in the damaged store
            raise damaged
        ambiguous = [p for p in problems if "ambiguous" in p]
        raise NotFound(ambiguous[0] if ambiguous else f"no run {ref!r} in the store")

    def version(self, store: Store) -> int | None:
        """A number that changes whenever another connection commits to `store`'s SQLite
        file (SQLite's `PRAGMA data_version`), so answers can be cached until then; None for
        other databases (nothing is cached)."""
        with self._lock:
            if store.url not in self._watchers:
                self._watchers[store.url] = _watcher(store.url)
            watcher = self._watchers[store.url]
            if watcher is None:
                return None
            try:
                return int(watcher.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:  # a damaged file: no caching; the store's own reads say why
                return None

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            for watcher in self._watchers.values():
                if watcher is not None:
                    watcher.close()
            self._stores.clear()
            self._watchers.clear()


def _watcher(url: str) -> sqlite3.Connection | None:
    """A read-only connection to a SQLite file, kept open to read its data_version."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or not database or database.startswith("file:") or database == ":memory:":
        return None
    try:
        return sqlite3.connect(f"{Path(database).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None
