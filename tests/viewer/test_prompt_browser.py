"""A prompt program's page in headless Chromium, served by a real `agent view` over a store of
prompt programs (tests/viewer/prompt_fixture.py): the prompt shows as plain text, the example
table lists what the child fixed and broke against its parent, broke first, long texts expand,
and markup in the model's answers and the inputs stays text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.viewer.conftest import Page, ViewerProcess
from tests.viewer.prompt_fixture import INPUT_MARKUP, LONG_INPUT, OUTPUT_MARKUP, PromptStore, fill_prompt_store


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> PromptStore:
    return fill_prompt_store(tmp_path_factory.mktemp("prompt_view"))


@pytest.fixture(scope="module")
def prompt_viewer(prompts: PromptStore) -> Iterator[ViewerProcess]:
    folder = prompts.url.removeprefix("sqlite:///").rsplit("/runs/", 1)[0]
    server = ViewerProcess(prompts.url, folder)
    yield server
    server.stop()


@pytest.fixture
def page(browser, prompt_viewer) -> Iterator[Page]:
    p = Page(browser, prompt_viewer.url)
    yield p
    p.context.close()
    assert p.errors == [], p.errors


def test_a_prompt_program_shows_its_examples_against_its_parent_as_text(page, prompts, screenshots):
    page.open(f"#/run/{prompts.run_id}/program/{prompts.child_id}")
    rows = page.page.locator(".examples-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 30
    assert page.page.locator(".examples-summary").inner_text().startswith("fixed 3, broke 1 of 30 against its parent")
    assert page.page.locator(".examples-table tr.ex-broke").count() == 1
    assert page.page.locator(".examples-table tr.ex-fixed").count() == 3
    firsts = [rows.nth(i).get_attribute("data-example") for i in range(4)]
    assert firsts == ["ex5", "ex21", "ex22", "ex23"]
    assert rows.nth(0).locator(".ex-mark").inner_text() == "▼ broke"
    assert [t.strip() for t in rows.nth(0).locator("td").all_inner_texts()[:4]] == ["ex5", "validation", "0", "1"]

    # Markup in the model's answer and in an input is shown literally and never runs.
    assert rows.nth(0).locator(".ex-output").inner_text() == OUTPUT_MARKUP
    assert page.page.locator('.examples-table tr[data-example="ex21"] .ex-input').inner_text() == INPUT_MARKUP
    assert page.page.evaluate("window.__pwned") is None
    assert page.page.locator("#app img, #app b, #app script").count() == 0

    # A long input shows its start; a click shows all of it.
    long_cell = page.page.locator('.examples-table tr[data-example="ex1"] .ex-input')
    assert long_cell.locator("pre.text").is_hidden()
    assert LONG_INPUT[:100] in long_cell.locator("summary").inner_text()
    long_cell.locator("summary").click()
    assert long_cell.locator("pre.text").inner_text() == LONG_INPUT

    # The prompt is plain text: no Python highlighting.
    source = page.page.locator(".code .src code")
    assert "def looks_like_python" in source.inner_text()
    assert source.get_attribute("class").split()[0] == "language-plaintext"
    assert source.locator("span").count() == 0
    page.page.screenshot(path=screenshots / "prompt_program.png", full_page=True)


def test_a_prompt_program_without_examples_has_no_example_table(page, prompts):
    page.open(f"#/run/{prompts.run_id}/program/{prompts.failed_id}")
    page.page.locator(".tabs").wait_for()
    assert page.page.locator(".examples-table").count() == 0
