"""Fixtures of the viewer's tests: a store filled by a real run, the viewer serving it as a
real process, and headless Chromium (Debian's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.viewer.run_fixture import FilledStore, fill_store

CHROMIUM = os.environ.get("EVOFORGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    """Two runs of the quadratic task in one store: a 30-evaluation run and a short one."""
    folder = tmp_path_factory.mktemp("viewer")
    fill_store(folder, evaluations=6)
    return fill_store(folder)


class ViewerProcess:
    """`agent view` as a subprocess on a free port."""

    def __init__(self, url: str, cwd: Path):
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "view", "--db", url, "--port", "0"],
            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        line = self.proc.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not found:
            self.stop()
            raise RuntimeError(f"agent view printed {line!r}; stderr: {self.proc.stderr.read()}")
        self.url = found.group(0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def viewer(filled: FilledStore) -> Iterator[ViewerProcess]:
    server = ViewerProcess(filled.url, filled.folder)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium through Playwright's sync API, per test file: while it is open, the main
    thread holds Playwright's running event loop, so under `pytest -n 2` a session-wide browser
    made every later `asyncio.run` of the same worker fail ("cannot be called from a running
    event loop")."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests leave screenshots (EVOFORGE_SCREENSHOTS, else a tmp folder)."""
    folder = os.environ.get("EVOFORGE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


TIMEOUT_MS = 15_000


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.base = base

    def open(self, fragment: str) -> None:
        self.page.goto(self.base + fragment)


def api_client(url: str) -> Iterator[object]:
    """A FastAPI test client of the viewer over the store at `url` (for module fixtures: `yield from`)."""
    from starlette.testclient import TestClient

    from agent.viewer.app import create_app
    from agent.viewer.catalog import Catalog

    catalog = Catalog([url])
    with TestClient(create_app(catalog), base_url="http://127.0.0.1:8765") as client:
        yield client
    catalog.close()


def get_json(client, path: str, status: int = 200) -> dict:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()
