"""The edit applier: SEARCH/REPLACE blocks, fenced programs, EVOLVE-BLOCK enforcement."""

from __future__ import annotations

import pytest

from agent.edits import (
    AppliedEdit,
    EditError,
    apply_answer,
    apply_search_replace,
    evolve_blocks,
    extract_fenced_program,
    parse_search_replace,
    unified_diff,
)

PARENT = """\
import math


def area(r):
    return math.pi * r * r


def total(values):
    result = 0
    for v in values:
        result += v
    return result
"""

EVOLVING = """\
import math

# EVOLVE-BLOCK-START
def area(r):
    return 3.14 * r * r
# EVOLVE-BLOCK-END

print(area(2))
"""


def block(search: str, replace: str, marker: int = 7) -> str:
    return f"{'<' * marker} SEARCH\n{search}\n{'=' * marker}\n{replace}\n{'>' * marker} REPLACE\n"


def test_exact_block_applies_and_reports_a_diff():
    answer = "Use pi squared.\n" + block("    return math.pi * r * r", "    return math.pi * r**2")
    edit = apply_answer(PARENT, answer)
    assert isinstance(edit, AppliedEdit)
    assert edit.kind == "diff" and edit.blocks == 1
    assert "    return math.pi * r**2\n" in edit.source
    assert "math.pi * r * r" not in edit.source
    assert "-    return math.pi * r * r" in edit.diff and "+    return math.pi * r**2" in edit.diff


def test_blocks_in_fences_apply_in_order_each_to_the_previous_result():
    answer = (
        "Two steps.\n```python\n"
        + block("    result = 0", "    result = 1")
        + "```\nand\n```\n"
        + block("    result = 1\n    for v in values:", "    result = 2\n    for v in values:")
        + "```\n"
    )
    edit = apply_answer(PARENT, answer)
    assert edit.blocks == 2
    assert "    result = 2\n" in edit.source


def test_markers_of_other_lengths_and_trailing_spaces_are_accepted():
    answer = "<<<<<  SEARCH  \n    result = 0\n=========   \n    result = 5\n>>>>>>>>> REPLACE \n"
    assert parse_search_replace(answer) == [("    result = 0", "    result = 5")]


def test_trailing_whitespace_differences_still_match():
    parent = PARENT.replace("    result = 0\n", "    result = 0   \n")
    child = apply_search_replace(parent, [("    result = 0\n    for v in values:  ", "    result = 10\n    for v in values:")])
    assert "    result = 10\n    for v in values:\n" in child


def test_uniform_indentation_difference_is_tolerated_and_replacement_reindented():
    search = "for v in values:\n    result += v"
    replace = "for v in values:\n    if v > 0:\n        result += v"
    child = apply_search_replace(PARENT, [(search, replace)])
    assert "    for v in values:\n        if v > 0:\n            result += v\n" in child


def test_over_indented_search_is_dedented():
    parent = "def f():\n    x = 1\n    return x\n"
    child = apply_search_replace(parent, [("        x = 1\n        return x", "        x = 2\n        return x")])
    assert child == "def f():\n    x = 2\n    return x\n"


def test_search_not_found_shows_the_closest_region_with_line_numbers():
    answer = block("    result = 0\n    for value in values:\n        result += v", "    pass")
    with pytest.raises(EditError) as info:
        apply_answer(PARENT, answer)
    message = str(info.value)
    assert "block 1" in message and "not in the program" in message
    assert "lines 9-11" in message
    assert "   10 |     for v in values:" in message
    assert "First difference: SEARCH line 2" in message and "program line 10" in message


def test_failure_of_a_later_block_names_it_and_fails_the_whole_edit():
    answer = block("    result = 0", "    result = 1") + block("    nothing like this", "    x")
    with pytest.raises(EditError, match="block 2 of 2"):
        apply_answer(PARENT, answer)


def test_exact_duplicate_applies_to_the_first_match():
    parent = "a = 1\nb = 2\na = 1\n"
    assert apply_search_replace(parent, [("a = 1", "a = 3")]) == "a = 3\nb = 2\na = 1\n"


def test_inexact_duplicate_is_ambiguous_and_names_the_lines():
    parent = "a = 1  \nb = 2\na = 1 \n"
    with pytest.raises(EditError, match=r"ambiguous.*lines 1, 3"):
        apply_search_replace(parent, [("a = 1", "a = 3")])


def test_empty_search_is_an_error_unless_the_parent_is_empty():
    with pytest.raises(EditError, match="SEARCH part is empty"):
        apply_answer(PARENT, block("", "x = 1"))
    edit = apply_answer("", "<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n")
    assert edit.source == "x = 1\n"


def test_edit_that_changes_nothing_is_rejected():
    with pytest.raises(EditError, match="changes nothing"):
        apply_answer(PARENT, block("    result = 0", "    result = 0"))
    with pytest.raises(EditError, match="changes nothing"):
        apply_answer(PARENT, f"Same.\n```python\n{PARENT}```\n")


def test_unfinished_block_is_an_error_not_skipped():
    with pytest.raises(EditError, match="not finished"):
        apply_answer(PARENT, "<<<<<<< SEARCH\n    result = 0\n=======\n    result = 1\n")
    with pytest.raises(EditError, match="no '======='"):
        parse_search_replace("<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n")


def test_fenced_full_program_with_python_tag():
    new = PARENT.replace("result = 0", "result = 0.0")
    edit = apply_answer(PARENT, f"Use floats.\n```python\n{new}```\n")
    assert edit.kind == "full" and edit.blocks == 0
    assert edit.source == new
    assert "+    result = 0.0" in edit.diff


def test_fenced_full_program_without_tag():
    assert extract_fenced_program("Here:\n```\nx = 1\n```\n") == "x = 1\n"


def test_several_fences_take_the_longest_in_the_language_else_the_last():
    answer = "```bash\npython run.py --fast --really-long-flag\n```\n```python\nx = 1\ny = 2\n```\n```py\nz = 3\n```\n"
    assert extract_fenced_program(answer) == "x = 1\ny = 2\n"
    assert extract_fenced_program("```\na = 1\n```\n```\nb = 2\n```\n") == "b = 2\n"
    assert extract_fenced_program("```cuda\n__global__ void k() {}\n```\n```text\nnote\n```\n", "cuda") == (
        "__global__ void k() {}\n"
    )


def test_answer_with_neither_format_is_an_error():
    with pytest.raises(EditError, match="no SEARCH/REPLACE block and no fenced code block found in the answer"):
        apply_answer(PARENT, "I would use a faster loop.")
    with pytest.raises(EditError, match="cut off"):
        apply_answer(PARENT, "```python\nx = 1\n")
    with pytest.raises(EditError, match="unified diffs are not supported"):
        apply_answer(PARENT, "```diff\n-    result = 0\n+    result = 1\n```\n")


def test_evolve_blocks_finds_marker_lines_in_any_comment_style():
    assert evolve_blocks(EVOLVING) == [(3, 6)]
    c_source = "int a;\n// EVOLVE-BLOCK-START\nint b;\n// EVOLVE-BLOCK-END\n// EVOLVE-BLOCK-START\n// EVOLVE-BLOCK-END\n"
    assert evolve_blocks(c_source) == [(2, 4), (5, 6)]
    assert evolve_blocks(PARENT) == []
    with pytest.raises(EditError, match="without an EVOLVE-BLOCK-END"):
        evolve_blocks("# EVOLVE-BLOCK-START\nx = 1\n")


def test_edit_inside_the_evolve_block_is_accepted():
    edit = apply_answer(EVOLVING, block("    return 3.14 * r * r", "    return math.pi * r * r"))
    assert "    return math.pi * r * r\n" in edit.source


def test_edit_outside_the_evolve_block_is_rejected_naming_the_line():
    with pytest.raises(EditError, match=r"outside the EVOLVE blocks: line 8 \('print\(area\(2\)\)'\)"):
        apply_answer(EVOLVING, block("print(area(2))", "print(area(3))"))
    with pytest.raises(EditError, match="EVOLVE"):
        apply_answer(EVOLVING, block("# EVOLVE-BLOCK-END\n", ""))


def test_full_answer_with_only_the_block_is_spliced_in():
    edit = apply_answer(EVOLVING, "Use math.pi.\n```python\ndef area(r):\n    return math.pi * r * r\n```\n")
    assert edit.kind == "full"
    assert edit.source == EVOLVING.replace("3.14", "math.pi")


def test_block_only_answer_is_reindented_to_the_block():
    parent = "def f(x):\n    # EVOLVE-BLOCK-START\n    y = x + 1\n    # EVOLVE-BLOCK-END\n    return y\n"
    edit = apply_answer(parent, "```python\ny = x + 2\n```\n")
    assert edit.source == parent.replace("x + 1", "x + 2")


def test_full_answer_changing_code_outside_the_block_is_rejected():
    new = EVOLVING.replace("3.14", "math.pi").replace("area(2)", "area(5)")
    with pytest.raises(EditError, match="line 8"):
        apply_answer(EVOLVING, f"```python\n{new}```\n")


def test_unified_diff_is_a_sane_unified_diff():
    diff = unified_diff("a\nb\nc\n", "a\nB\nc\n", parent_name="old.py", child_name="new.py")
    assert diff.splitlines() == ["--- old.py", "+++ new.py", "@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"]
    assert unified_diff("same\n", "same\n") == ""
