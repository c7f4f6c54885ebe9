"""The prompt builder: what the messages carry, template overrides, truncation, strictness."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.prompts import PromptBuilder, PromptContext, PromptError
from archives.records import Program, Status

SOURCE = "import math\n\n# EVOLVE-BLOCK-START\ndef area(r):\n    return 3.14 * r * r\n# EVOLVE-BLOCK-END\n"


def program(id: str = "p1", source: str = SOURCE, **kw) -> Program:
    kw.setdefault("status", Status.CORRECT)
    kw.setdefault("fitness", 0.4213)
    return Program(id=id, run_id="run", source=source, **kw)


def context(parent: Program | None = None, **kw) -> PromptContext:
    kw.setdefault("task_name", "circle")
    kw.setdefault("task_description", "Compute the area of a circle precisely.")
    kw.setdefault("language", "python")
    return PromptContext(parent=parent or program(), **kw)


def user_text(messages: list[dict]) -> str:
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def test_user_message_carries_task_parent_metrics_feedback_errors_and_inspirations():
    parent = program(metrics={"combined_score": 0.4213, "error_pct": 1.5}, feedback="area(2) = 12.56, want 12.566")
    inspiration = program("p2", source="def area(r):\n    return 3.14159 * r * r\n", fitness=0.9)
    ctx = context(
        parent,
        inspirations=(inspiration,),
        previous_errors=("SEARCH/REPLACE block 1 did not apply: closest region lines 4-5",),
        reason="best elite",
        notes=("Use math.pi.",),
    )
    text = user_text(PromptBuilder().build(ctx))
    assert "Compute the area of a circle precisely." in text
    assert f"```python\n{SOURCE}```" in text
    assert "Fitness: 0.4213" in text and "error_pct = 1.5" in text
    assert "area(2) = 12.56, want 12.566" in text
    assert "Your last attempts on this program failed" in text and "closest region lines 4-5" in text
    assert "fitness 0.9" in text and "3.14159" in text
    assert "best elite" in text and "Use math.pi." in text
    assert "EVOLVE-BLOCK-START and EVOLVE-BLOCK-END" in text


def test_diff_mode_asks_for_search_replace_blocks_and_full_mode_for_one_program():
    diff = user_text(PromptBuilder().build(context(mode="diff")))
    assert "<<<<<<< SEARCH" in diff and ">>>>>>> REPLACE" in diff and "one line" in diff
    full = user_text(PromptBuilder().build(context(mode="full")))
    assert "<<<<<<< SEARCH" not in full and "complete new program" in full and "```python" in full


def test_sections_without_content_are_left_out():
    parent = program(source="x = 1\n", status=Status.WRONG, fitness=None, error="output differs")
    text = user_text(PromptBuilder().build(context(parent)))
    assert "Status: wrong (output differs)" in text
    for absent in ("Evaluator feedback", "last attempts", "Inspiration", "EVOLVE", "Recommendations"):
        assert absent not in text


def test_system_extra_is_appended_to_the_system_message():
    messages = PromptBuilder(system_extra="Prefer numpy.").build(context())
    assert messages[0]["content"].endswith("Prefer numpy.")


def test_feedback_truncation_keeps_the_tail():
    feedback = "".join(f"log line {i}\n" for i in range(1000)) + "Traceback: ValueError at the end"
    text = user_text(PromptBuilder(max_feedback_chars=500).build(context(program(feedback=feedback))))
    assert "Traceback: ValueError at the end" in text
    assert "log line 999" in text and "log line 0\n" not in text
    assert "earlier characters cut" in text


def test_long_inspirations_are_cut_to_their_beginning():
    long_source = "".join(f"x{i} = {i}\n" for i in range(2000))
    ctx = context(inspirations=(program("p2", source=long_source),))
    text = user_text(PromptBuilder(max_inspiration_chars=200).build(ctx))
    assert "x0 = 0" in text and "x1999 = 1999" not in text and "more lines not shown" in text


def test_source_with_backtick_fences_gets_a_longer_fence():
    parent = program(source='doc = """\n```python\nx = 1\n```\n"""\n')
    text = user_text(PromptBuilder().build(context(parent)))
    assert "````python\ndoc = " in text


def test_task_template_overrides_the_builtin_one_by_name(tmp_path: Path):
    (tmp_path / "system.j2").write_text("You optimise {{ task_name }} in {{ language }}.\n")
    messages = PromptBuilder(tmp_path).build(context())
    assert messages[0]["content"] == "You optimise circle in python."
    assert "<<<<<<< SEARCH" in messages[1]["content"]  # user.j2 still the built-in one


def test_override_can_replace_an_included_format_template(tmp_path: Path):
    (tmp_path / "format_diff.j2").write_text("Answer with a haiku.\n")
    text = user_text(PromptBuilder(tmp_path).build(context()))
    assert text.endswith("Answer with a haiku.") and "<<<<<<< SEARCH" not in text


def test_typo_in_an_override_template_raises_a_readable_error(tmp_path: Path):
    (tmp_path / "user.j2").write_text("Task: {{ task_name }}\nParent:\n{{ parent.sorce }}\n")
    with pytest.raises(PromptError) as info:
        PromptBuilder(tmp_path).build(context())
    message = str(info.value)
    assert "user.j2" in message and "line 3" in message and "sorce" in message


def test_syntax_error_in_an_override_template_names_the_line(tmp_path: Path):
    (tmp_path / "system.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(PromptError, match=r"system\.j2, line 2"):
        PromptBuilder(tmp_path).build(context())


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        PromptBuilder().build(context(mode="patch"))
