"""How a prompt and an example become chat messages (evaluators/prompt/render.py)."""

from __future__ import annotations

import pytest

from evaluators.prompt.data import Example
from evaluators.prompt.render import PromptFormatError, parse_prompt, render_messages

EXAMPLE = Example(id="1", input="The soup was cold.")


def test_a_plain_prompt_is_the_system_message_and_the_input_the_user_message():
    prompt = parse_prompt("# EVOLVE-BLOCK-START\nLabel the review.\n# EVOLVE-BLOCK-END\n")
    assert render_messages(prompt, EXAMPLE) == [
        {"role": "system", "content": "Label the review."},
        {"role": "user", "content": "The soup was cold."},
    ]


def test_a_placeholder_puts_the_input_into_one_user_message_and_leaves_other_braces_alone():
    prompt = parse_prompt('Answer as {"label": ...}.\nReview: {input}')
    assert render_messages(prompt, EXAMPLE) == [
        {"role": "user", "content": 'Answer as {"label": ...}.\nReview: The soup was cold.'}
    ]


def test_object_inputs_fill_their_keys_or_are_appended_as_lines():
    example = Example(id="2", input={"question": "2+2?", "context": "math"})
    assert render_messages(parse_prompt("Q: {question}"), example) == [{"role": "user", "content": "Q: 2+2?"}]
    assert render_messages(parse_prompt("Answer."), example)[1]["content"] == "question: 2+2?\ncontext: math"


def test_named_fields_make_the_system_and_user_messages():
    source = "=== system ===\nYou are terse.\n=== instruction ===\nLabel it.\n=== examples ===\nGreat! -> positive\n"
    prompt = parse_prompt(source, ("system", "instruction", "examples"))
    assert render_messages(prompt, EXAMPLE) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Label it.\n\nGreat! -> positive\n\nThe soup was cold."},
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("=== system ===\nx\n", "no section '=== instruction ==='"),
        ("=== system ===\nx\n=== system ===\ny\n=== instruction ===\nz", "appears twice"),
        ("=== system ===\nx\n=== other ===\ny\n=== instruction ===\nz", "unknown section '=== other ==='"),
    ],
)
def test_sections_that_do_not_match_the_task_are_refused(source, message):
    with pytest.raises(PromptFormatError, match=message):
        parse_prompt(source, ("system", "instruction"))


def test_an_empty_prompt_is_refused():
    with pytest.raises(PromptFormatError, match="empty"):
        parse_prompt("# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n")
