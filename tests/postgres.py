"""A PostgreSQL server for the store's tests, from EVOFORGE_TEST_POSTGRES (a database URL, e.g.
postgresql://postgres@127.0.0.1/evoforge_test; .ci/start_postgres.sh starts one and sets it).

Each test gets a schema of its own in that database (named in the URL's search_path and dropped
afterwards), so tests on several pytest-xdist workers never see each other's tables. Without
the variable the PostgreSQL tests are skipped, unless EVOFORGE_REQUIRE_POSTGRES=1: then they fail.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import pytest


def server_url() -> str:
    """The test database's URL; skips the test (fails it under EVOFORGE_REQUIRE_POSTGRES=1)
    when none is configured or the server does not answer."""
    url = os.environ.get("EVOFORGE_TEST_POSTGRES", "")
    required = os.environ.get("EVOFORGE_REQUIRE_POSTGRES") == "1"
    if not url:
        if required:
            pytest.fail("EVOFORGE_REQUIRE_POSTGRES=1 but EVOFORGE_TEST_POSTGRES names no server")
        pytest.skip("no PostgreSQL server: set EVOFORGE_TEST_POSTGRES (see .ci/start_postgres.sh)")
    return url


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A store URL whose tables live in a new, empty schema; the schema is dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from archives.store_postgres import with_driver

    base = with_driver(make_url(server_url()))
    schema = f"evoforge_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE SCHEMA {schema}"))
        except Exception as exc:  # the server is configured but does not answer: say which
            pytest.fail(f"PostgreSQL at {base.render_as_string()} cannot be used: {exc}".splitlines()[0])
        url = make_url(server_url()).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    finally:
        admin.dispose()
