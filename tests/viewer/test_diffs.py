"""Server-side line diffs: hunks, line numbers and counts match what changed."""

from __future__ import annotations

import difflib

from agent.viewer.diffs import line_diff

OLD = "".join(f"line {i}\n" for i in range(1, 21))


def test_identical_sources_have_no_hunks():
    assert line_diff(OLD, OLD) == {"identical": True, "added": 0, "removed": 0, "too_large": False, "hunks": []}


def test_a_changed_line_is_one_hunk_with_both_line_numbers_and_context():
    new = OLD.replace("line 10\n", "line ten\n")
    diff = line_diff(OLD, new)
    assert (diff["added"], diff["removed"], len(diff["hunks"])) == (1, 1, 1)
    (hunk,) = diff["hunks"]
    assert hunk["header"] == "@@ -7,7 +7,7 @@"
    changed = [(ln["op"], ln["old"], ln["new"], ln["text"]) for ln in hunk["lines"] if ln["op"] != " "]
    assert changed == [("-", 10, None, "line 10"), ("+", None, 10, "line ten")]
    context = [ln for ln in hunk["lines"] if ln["op"] == " "]
    assert len(context) == 6 and all(ln["old"] == ln["new"] and ln["text"] == f"line {ln['old']}" for ln in context)


def test_hunks_match_difflib_unified_headers_for_far_apart_changes_and_insertions():
    new = OLD.replace("line 2\n", "").replace("line 18\n", "line 18\nextra a\nextra b\n")
    diff = line_diff(OLD, new)
    expected = [h for h in difflib.unified_diff(OLD.splitlines(), new.splitlines(), lineterm="") if h.startswith("@@")]
    assert [h["header"] for h in diff["hunks"]] == expected
    assert (diff["added"], diff["removed"]) == (2, 1)


def test_from_nothing_every_line_is_added():
    diff = line_diff("", "a\nb\n")
    assert diff["added"] == 2 and diff["hunks"][0]["header"] == "@@ -0,0 +1,2 @@"
