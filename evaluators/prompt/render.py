"""How a prompt and an example become the chat messages sent to the target model.

The prompt file (the task's `program:`) is plain text. Lines holding EVOLVE-BLOCK-START or
EVOLVE-BLOCK-END (in any comment style, e.g. "# EVOLVE-BLOCK-START") mark what the proposer
may change, as in program tasks; they are removed before the prompt is sent.

Without `prompt_task.fields`, the whole text is the prompt:

- if it contains a placeholder -- "{input}", or "{key}" for a key of an object input -- the
  placeholders are filled in and the text is sent as one user message;
- otherwise the text is the system message and the input is the user message (an object
  input as "key: value" lines).

With `fields` (e.g. [system, instruction, examples]), the file holds one section per field,
each started by a line "=== name ===" (text before the first header is ignored). The field
"system", when named, is the system message; the other fields, in the file's order, followed
by the input, make the user message, unless one of them has a placeholder (then the input
goes there and is not appended). Placeholders are replaced literally (no str.format), so JSON
braces in a prompt are safe.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from evaluators.prompt.data import Example

_MARKER = re.compile(r"EVOLVE-BLOCK-(START|END)")
_HEADER = re.compile(r"^===\s*([A-Za-z_][A-Za-z0-9_]*)\s*===\s*$")


class PromptFormatError(ValueError):
    """A candidate prompt that does not have the sections the task names (one line)."""


@dataclass(frozen=True)
class Prompt:
    """A parsed candidate: its fields in file order (one field "" without `fields`)."""

    fields: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        """The prompt as sent, markers removed (for caches and reports)."""
        if len(self.fields) == 1 and self.fields[0][0] == "":
            return self.fields[0][1]
        return "\n".join(f"=== {name} ===\n{body}" for name, body in self.fields)


def strip_markers(source: str) -> str:
    """The source without its EVOLVE-BLOCK marker lines, surrounding blank space trimmed."""
    return "\n".join(line for line in source.splitlines() if not _MARKER.search(line)).strip()


def parse_prompt(source: str, field_names: tuple[str, ...] = ()) -> Prompt:
    """The candidate's fields; PromptFormatError when a named field is missing or repeated."""
    text = strip_markers(source)
    if not field_names:
        if not text:
            raise PromptFormatError("the prompt is empty")
        return Prompt((("", text),))
    found: dict[str, list[str]] = {}
    order: list[str] = []
    current: str | None = None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = header.group(1)
            if current in found:
                raise PromptFormatError(f"the section '=== {current} ===' appears twice")
            if current not in field_names:
                named = ", ".join(field_names)
                raise PromptFormatError(f"unknown section '=== {current} ===' (the task names {named})")
            found[current] = []
            order.append(current)
        elif current is not None:
            found[current].append(line)
    missing = [name for name in field_names if name not in found]
    if missing:
        named = ", ".join(field_names)
        raise PromptFormatError(f"the prompt has no section '=== {missing[0]} ===' (the task names {named})")
    return Prompt(tuple((name, "\n".join(found[name]).strip()) for name in order))


def input_text(example: Example) -> str:
    """The example's input as the model sees it when appended (objects as "key: value" lines)."""
    if isinstance(example.input, str):
        return example.input
    return "\n".join(f"{key}: {_value_text(value)}" for key, value in example.input.items())


def render_messages(prompt: Prompt, example: Example) -> list[dict[str, str]]:
    """The chat messages for one example (see the module docstring for the rules)."""
    fields = dict(prompt.fields)
    if len(prompt.fields) == 1 and prompt.fields[0][0] == "":
        body = prompt.fields[0][1]
        if _has_placeholder(body, example):
            return [{"role": "user", "content": _fill(body, example)}]
        return [{"role": "system", "content": body}, {"role": "user", "content": input_text(example)}]
    system = fields.get("system")
    parts = [body for name, body in prompt.fields if name != "system" and body]
    if any(_has_placeholder(part, example) for part in parts):
        user = "\n\n".join(_fill(part, example) for part in parts)
    else:
        user = "\n\n".join([*parts, input_text(example)])
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": user}]


def _value_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _placeholders(example: Example) -> dict[str, str]:
    names = {"{input}": input_text(example)}
    if isinstance(example.input, dict):
        names.update({f"{{{key}}}": _value_text(value) for key, value in example.input.items()})
    return names


def _has_placeholder(text: str, example: Example) -> bool:
    return any(name in text for name in _placeholders(example))


def _fill(text: str, example: Example) -> str:
    for name, value in _placeholders(example).items():
        text = text.replace(name, value)
    return text
