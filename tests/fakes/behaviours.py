"""Scripted model behaviours: responders for FakeOpenAIServer that misbehave the way real models do.

Each behaviour is a `responder(request_json) -> Reply` (tests/fakes/openai_server.py) for a
program task whose evolvable code is one line `X = <number>` between EVOLVE-BLOCK markers (the
quadratic task of tests/e2e/quadratic; bench/waste.py builds the same program). They react only
to the prompt texts listed here; everything else in a prompt is ignored.

What every behaviour reads:

- **The parent.** The first fenced code block after the heading ``# Current program``
  (agent/templates/user.j2; else the first fenced block of the prompt), and in it the line
  ``X = <number>``. Answers edit that line: a SEARCH/REPLACE block whose SEARCH part is the
  parent's ``X = ...`` line copied exactly, or the parent's whole source with that line replaced.
- **The answer format asked for.** A prompt that contains ``Send the whole`` or ``give the
  complete new`` (the wording of agent/templates/format_full.j2) asks for a whole program;
  any other prompt is answered as if it asked for SEARCH/REPLACE blocks.
- **A summary request.** A prompt that contains ``keeps a memory of its most promising``
  (agent/templates/summarize.j2) gets the same recommendation every time, ``- Try other
  values of X.`` (a summarizer that tells nothing new). A prompt with no ``X = `` line in any
  fenced block gets that same line too.

The behaviours:

- ``stubborn``: asked for SEARCH/REPLACE, it always answers a block that changes
  ``print(X)`` (code outside the EVOLVE blocks), which cannot be applied, however often the
  prompt says why ("Your last attempts ... failed", the EVOLVE rule). Asked for a whole program
  it answers a valid one with X moved halfway towards 3, so a proposer that switches the answer
  format escapes.
- ``repeater``: has one list of values it likes, 2.5, 2.0, then 2.51, 2.52, ... It proposes the
  first value that differs from the parent's X and is not *listed as tried*, in the format asked
  for. Without such a list it alternates between 2.5 and 2.0, so after the first two children
  every answer is a copy of an existing program (status duplicate). A value is listed as tried
  when the line ``X = <value>`` (or ``+X = <value>``, an added line of a diff; inside a code
  fence or not) appears in a prompt section whose heading (a markdown line starting with ``#``,
  outside code fences) contains one of the words ``already``, ``tried``, ``exist``,
  ``duplicate``, ``avoid`` or ``different from``; the section runs to the next heading of the
  same or a higher level. No heading of the current templates matches.
- ``half``: asked for SEARCH/REPLACE, it alternates (one shared counter over all its
  SEARCH/REPLACE answers, starting with a good one) between a good edit (X moved halfway towards
  3) and a block whose SEARCH part ``X = 12345.0`` is not in the program. Asked for a whole
  program it always answers a good one. So half of its SEARCH/REPLACE answers are unusable,
  whatever the prompt says about earlier failures.

Good edits never repeat a program: each adds ``n * 1e-6`` (``n`` counts the behaviour's good
answers) to the new value, so two answers for the same parent differ.
"""

from __future__ import annotations

import abc
import itertools
import re
import threading
from collections.abc import Callable

from tests.fakes.openai_server import Reply

FULL_FORMAT_WORDING = ("Send the whole", "give the complete new")
SUMMARY_WORDING = "keeps a memory of its most promising"
CURRENT_PROGRAM = "# Current program"
TRIED_WORDS = ("already", "tried", "exist", "duplicate", "avoid", "different from")
NOTHING_NEW = "- Try other values of X."
UNUSABLE_SEARCH = "X = 12345.0"

_FENCE = re.compile(r"^(`{3,})[^\n`]*\n(.*?)^\1\s*$", re.S | re.M)
_X_LINE = re.compile(r"^X = (\S+)$", re.M)
_HEADING = re.compile(r"^(#{1,6}) (.*)$")


def prompt_of(request: dict) -> str:
    """The text of the request's last user message (the prompt the behaviours read)."""
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    if isinstance(content, list):  # content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def parent_source(prompt: str) -> str | None:
    """The parent's source: the first fenced block after '# Current program', else the first
    fenced block holding an `X = ` line; None when there is none."""
    after = prompt.split(CURRENT_PROGRAM, 1)[1] if CURRENT_PROGRAM in prompt else None
    for text in (after, prompt):
        if text is None:
            continue
        for match in _FENCE.finditer(text):
            if _X_LINE.search(match.group(2)):
                return match.group(2)
    return None


def asks_for_whole_program(prompt: str) -> bool:
    return any(wording in prompt for wording in FULL_FORMAT_WORDING)


def tried_sections(prompt: str) -> list[str]:
    """The text under every heading that names things already tried (see the module docstring)."""
    sections: list[str] = []
    current: list[str] | None = None
    level = 0
    fence = None
    for line in prompt.splitlines():
        if fence is None:
            opening = re.match(r"^(`{3,})", line)
            heading = _HEADING.match(line)
            if opening:
                fence = opening.group(1)
            elif heading:
                depth = len(heading.group(1))
                if current is not None and depth <= level:
                    sections.append("\n".join(current))
                    current = None
                if current is None and any(w in heading.group(2).lower() for w in TRIED_WORDS):
                    current, level = [], depth
                    continue
        elif line.strip() == fence:
            fence = None
        if current is not None:
            current.append(line)
    if current is not None:
        sections.append("\n".join(current))
    return sections


def listed_as_tried(prompt: str, value: float) -> bool:
    line = re.compile(r"^\+?X = " + re.escape(repr(value)) + r"\s*$", re.M)
    return any(line.search(section) for section in tried_sections(prompt))


def edit_answer(source: str, new_value: float, whole: bool, why: str) -> Reply:
    """A reply that sets X to `new_value` in `source`, as a whole program or a SEARCH/REPLACE block."""
    old_line = _X_LINE.search(source).group(0)
    new_line = f"X = {new_value!r}"
    if whole:
        return Reply(f"{why}\n```python\n{source.replace(old_line, new_line, 1).rstrip()}\n```\n")
    return Reply(f"{why}\n<<<<<<< SEARCH\n{old_line}\n=======\n{new_line}\n>>>>>>> REPLACE\n")


def unusable_answer(search: str, replace: str) -> Reply:
    return Reply(f"A small change.\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n")


class _Behaviour(abc.ABC):
    """The shared part: summaries and prompts without a parent get NOTHING_NEW; the rest `answer`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._good = itertools.count(1)

    def __call__(self, request: dict) -> Reply:
        prompt = prompt_of(request)
        source = None if SUMMARY_WORDING in prompt else parent_source(prompt)
        if source is None:
            return Reply(NOTHING_NEW)
        with self._lock:
            return self.answer(prompt, source, float(_X_LINE.search(source).group(1)))

    @abc.abstractmethod
    def answer(self, prompt: str, source: str, x: float) -> Reply:
        """The reply to a proposal prompt whose parent is `source` (its X is `x`)."""

    def good_edit(self, source: str, x: float, whole: bool) -> Reply:
        new = round(x + (3.0 - x) / 2 + next(self._good) * 1e-6, 6)
        return edit_answer(source, new, whole, "Move X halfway towards 3.")


class Stubborn(_Behaviour):
    def answer(self, prompt: str, source: str, x: float) -> Reply:
        if asks_for_whole_program(prompt):
            return self.good_edit(source, x, whole=True)
        return unusable_answer("    print(X)", "    print(X + 0)")


class Repeater(_Behaviour):
    FAVOURITES = (2.5, 2.0)

    def answer(self, prompt: str, source: str, x: float) -> Reply:
        values = itertools.chain(self.FAVOURITES, (round(2.5 + i / 100, 6) for i in itertools.count(1)))
        value = next(v for v in values if v != x and not listed_as_tried(prompt, v))
        return edit_answer(source, value, asks_for_whole_program(prompt), f"Set X to {value!r}.")


class Half(_Behaviour):
    def __init__(self) -> None:
        super().__init__()
        self._diffs = itertools.count()

    def answer(self, prompt: str, source: str, x: float) -> Reply:
        if asks_for_whole_program(prompt) or next(self._diffs) % 2 == 0:
            return self.good_edit(source, x, asks_for_whole_program(prompt))
        return unusable_answer(UNUSABLE_SEARCH, "X = 3.0")


BEHAVIOURS: dict[str, Callable[[], Callable[[dict], Reply]]] = {
    "stubborn": Stubborn,
    "repeater": Repeater,
    "half": Half,
}
"""Name -> a factory of a fresh responder (each keeps its own counters)."""
