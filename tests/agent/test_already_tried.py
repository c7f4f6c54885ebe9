"""The "# Already tried from this program" section (issue 20): a parent's recent children as short diffs."""

from __future__ import annotations

import pytest

from agent.already_tried import short_diff, tried_children
from agent.edits import unified_diff
from agent.prompts import template_environment
from archives.records import EvalResult, Program, Status
from archives.store import Store

PARENT = "def f(x):\n    y = x + 1\n    return y\n"


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    yield store
    store.close()


def add(store: Store, run_id: str, parent: Program, source: str, status: str = Status.PENDING,
        error: str | None = None) -> Program:  # fmt: skip
    child = Program(
        id=f"{parent.id}-{len(store.children(parent.id))}", run_id=run_id, source=source, parent_id=parent.id,
        status=status, error=error, diff=unified_diff(parent.source, source) if source else None,
        proposer="llm:openai/a",
    )  # fmt: skip
    return store.add_program(child)


def test_children_are_listed_duplicates_first_then_newest_with_what_they_came_to(store):
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    parent = store.add_program(Program(id="p", run_id=run.id, source=PARENT, proposer="initial"))
    first = add(store, run.id, parent, PARENT.replace("x + 1", "x + 2"))
    store.finish_program(first.id, EvalResult(Status.CORRECT, fitness=2.5))
    wrong = add(store, run.id, parent, PARENT.replace("x + 1", "x - 1"))
    store.finish_program(wrong.id, EvalResult(Status.WRONG, error="f(1) returned 0, expected 2"))
    add(store, run.id, parent, "", Status.APPLY_FAILED, "the edit did not apply: no SEARCH/REPLACE block")
    add(store, run.id, parent, PARENT.replace("x + 1", "x + 2"), Status.DUPLICATE, "same source as program p-0")
    add(store, run.id, parent, PARENT.replace("x + 1", "1 + x"))

    texts = tried_children(store, "p")

    assert len(texts) == 3  # the duplicate's change is the first child's: listed once; the unapplied edit has none
    assert texts[0] == "Already exists (proposing it again is wasted):\n-    y = x + 1\n+    y = x + 2"
    assert texts[1] == "Being evaluated now:\n-    y = x + 1\n+    y = 1 + x"
    assert texts[2] == "Tried, wrong (f(1) returned 0, expected 2):\n-    y = x + 1\n+    y = x - 1"
    assert tried_children(store, "p", limit=1) == texts[:1]
    assert tried_children(store, "p", limit=0) == []
    assert tried_children(store, "no-such-parent") == []


def test_a_correct_child_shows_its_fitness(store):
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    parent = store.add_program(Program(id="p", run_id=run.id, source=PARENT, proposer="initial"))
    child = add(store, run.id, parent, PARENT.replace("x + 1", "x + 3"))
    store.finish_program(child.id, EvalResult(Status.CORRECT, fitness=2.5))
    assert tried_children(store, "p") == ["Correct, fitness 2.5:\n-    y = x + 1\n+    y = x + 3"]


def test_short_diffs_keep_a_few_changed_lines_each_cut_short():
    old = "".join(f"a{i} = {i}{'  # ' + 'z' * 200 if i == 1 else ''}\n" for i in range(20))
    new = "".join(f"a{i} = {i * 2}\n" for i in range(20))
    text = short_diff(unified_diff(old, new), max_lines=4)
    lines = text.splitlines()
    assert lines[0].startswith("-a1 = 1  # zzz") and lines[0].endswith("...") and len(lines[0]) == 100
    assert lines[1:4] == ["-a2 = 2", "-a3 = 3", "-a4 = 4"]
    assert lines[-1] == "... (34 more changed lines)"
    assert all(len(line) <= 100 for line in lines)
    assert short_diff("") == ""


def test_the_template_renders_the_section_only_when_something_was_tried():
    template = template_environment().get_template("already_tried.j2")
    assert template.render(already_tried=[], artifact="program").strip() == ""
    entries = ["Already exists (proposing it again is wasted):\n-X = 2.0\n+X = 2.5", "Being evaluated now:\n+    b = 3"]
    text = template.render(already_tried=entries, artifact="program")
    assert "# Already tried from this program" in text and "propose something different" in text
    assert "1. Already exists (proposing it again is wasted):\n```\n-X = 2.0\n+X = 2.5\n```" in text
    assert "2. Being evaluated now:\n```\n+    b = 3\n```" in text


def test_programs_that_exist_near_this_parent_are_listed_as_changes_from_it(store):
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    root = store.add_program(Program(id="p", run_id=run.id, source=PARENT, proposer="initial"))
    other = add(store, run.id, root, PARENT.replace("x + 1", "x + 5"))
    near = PARENT.replace("x + 1", "x + 2")
    far = "".join(f"line{i} = {i}\n" for i in range(30))
    add(store, run.id, other, near, Status.DUPLICATE, "same source as program p-0")
    add(store, run.id, other, far, Status.DUPLICATE, "near-duplicate of program zzzz")
    sibling = add(store, run.id, root, PARENT.replace("x + 1", "x + 7"))

    texts = tried_children(store, sibling.id)

    exists = "Already exists (proposing it again is wasted):\n-    y = x + 7\n+    y = x + {}"
    # its own parent, then the newest programs: a cousin (the near duplicate), a sibling
    assert texts == [exists.format(1), exists.format(2), exists.format(5)]
    own = tried_children(store, other.id)  # its own duplicates, newest first, as their diffs say
    assert own[0].endswith("... (27 more changed lines)") and own[1].endswith("-    y = x + 5\n+    y = x + 2")


def test_the_parents_own_parent_and_siblings_are_listed_as_existing_changes(store):
    run = store.create_run("t", "t.yaml", "map_elites", 0, {})
    root = store.add_program(Program(id="p", run_id=run.id, source=PARENT, proposer="initial"))
    add(store, run.id, root, PARENT.replace("x + 1", "x + 2"))
    second = add(store, run.id, root, PARENT.replace("x + 1", "x + 3"))
    assert tried_children(store, second.id) == [
        "Already exists (proposing it again is wasted):\n-    y = x + 3\n+    y = x + 1",  # back to its parent
        "Already exists (proposing it again is wasted):\n-    y = x + 3\n+    y = x + 2",  # its sibling
    ]
    assert tried_children(store, second.id, limit=1) == tried_children(store, second.id)[:1]
