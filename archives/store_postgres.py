"""The store on PostgreSQL: the driver, read-only sessions, and a lock around schema changes.

A plain `postgresql://user@host/db` URL names SQLAlchemy's default driver, psycopg2; where only
psycopg 3 is installed (`pip install 'evoforge[postgres]'`) the URL is pointed at it. Several
controllers may open one database at once: creating and upgrading the schema happens under a
PostgreSQL advisory lock, so two of them never race to create the same tables. PostgreSQL text
cannot hold NUL characters; a NUL in a value written (a candidate's output, say) is stored as
U+FFFD instead of failing the write.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine

from archives.store_models import StoreError

# The advisory lock's key, fixed for every evoforge store ("evoforge" as 8 bytes, as an integer).
_SCHEMA_LOCK_KEY = int.from_bytes(b"evoforge", "big") & 0x7FFF_FFFF_FFFF_FFFF
_INSTALL = "pip install 'evoforge[postgres]' (psycopg 3)"


def is_postgres(url: URL) -> bool:
    return url.get_backend_name() == "postgresql"


def with_driver(url: URL) -> URL:
    """`url` with a driver that is installed: psycopg2 (SQLAlchemy's default) when present,
    else psycopg 3. A URL that names its driver keeps it. StoreError when none is installed."""
    if url.drivername != "postgresql":
        return url
    for module in ("psycopg2", "psycopg"):
        if importlib.util.find_spec(module) is not None:
            return url.set(drivername=f"postgresql+{module}")
    raise StoreError(f"the store {url.render_as_string(hide_password=True)} needs a PostgreSQL driver: {_INSTALL}")


def postgres_engine(url: URL, *, read_only: bool) -> Engine:
    """An engine for a PostgreSQL store; `read_only`: every transaction is read-only."""
    url = with_driver(url)
    connect_args: dict[str, Any] = {}
    if read_only:
        options = str(url.query.get("options", ""))
        connect_args["options"] = f"{options} -c default_transaction_read_only=on".strip()
    try:
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except ImportError as exc:
        raise StoreError(
            f"the store {url.render_as_string(hide_password=True)} names a driver that is not installed "
            f"({exc}): install it, or use a plain postgresql:// URL after {_INSTALL}"
        ) from None
    event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
    return engine


def _without_nul(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> tuple:
    return statement, _replace_nul(parameters)


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {k: _replace_nul(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_replace_nul(v) for v in value)
    return value


@contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Hold PostgreSQL's advisory lock for evoforge's schema while the body runs (other
    databases: no lock). The lock belongs to one connection, kept open until the body ends."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _SCHEMA_LOCK_KEY})
