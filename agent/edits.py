"""Turn an LLM's answer into a child program.

An answer is either one or more SEARCH/REPLACE blocks against the parent, or one whole program
in a fenced code block. `apply_answer` decides which, applies it, enforces the parent's
EVOLVE-BLOCK markers and returns the child with its unified diff. Anything that does not apply
raises `EditError`, whose message is written for the LLM: which block failed and the closest
region of the program, with line numbers, so the next attempt can correct itself. No block is
ever skipped silently.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from archives.languages import language as language_of

__all__ = [
    "AppliedEdit", "EditError", "apply_answer", "apply_search_replace", "evolve_blocks",
    "extract_fenced_program", "parse_search_replace", "unified_diff",
]  # fmt: skip


class EditError(Exception):
    """An answer that cannot become a child program; the message is meant to be shown to the LLM."""


@dataclass(frozen=True)
class AppliedEdit:
    """A child program made from an answer."""

    source: str
    kind: str  # "diff" (SEARCH/REPLACE blocks) | "full" (a whole program)
    diff: str  # unified diff parent -> child
    blocks: int  # SEARCH/REPLACE blocks applied; 0 for a full program


_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)[^`]*$")
_START, _END = "EVOLVE-BLOCK-START", "EVOLVE-BLOCK-END"
_SHOWN_LINES = 20  # lines of SEARCH text / closest region quoted in an error
_CANDIDATES = 5  # windows scored exactly when looking for the closest region

_NOT_PROGRAMS = {"diff", "patch", "udiff", "bash", "sh", "shell", "console", "output"}


def apply_answer(parent: str, answer: str, *, language: str = "python") -> AppliedEdit:
    """Apply an LLM answer to `parent`: SEARCH/REPLACE blocks if present, else a fenced program."""
    blocks = parse_search_replace(answer)
    if blocks:
        child, kind = apply_search_replace(parent, blocks), "diff"
    else:
        program = extract_fenced_program(answer, language)
        if program is None:
            fences = _fences(answer)
            if any(not closed for _, _, closed in fences):
                raise EditError("the answer's code block is never closed with ``` (was the answer cut off?)")
            if any(tag in ("diff", "patch", "udiff") for tag, _, _ in fences):
                raise EditError("unified diffs are not supported: send SEARCH/REPLACE blocks or the whole program")
            raise EditError("no SEARCH/REPLACE block and no fenced code block found in the answer")
        child, kind = _splice_into_block(parent, program), "full"
        if parent.endswith("\n") and not child.endswith("\n"):
            child += "\n"
    if _normalized(child) == _normalized(parent):
        raise EditError("the edit changes nothing: the new program is the same as the current one")
    _check_evolve_blocks(parent, child)
    return AppliedEdit(source=child, kind=kind, diff=unified_diff(parent, child), blocks=len(blocks))


def parse_search_replace(answer: str) -> list[tuple[str, str]]:
    """The (search, replace) texts of every SEARCH/REPLACE block in `answer`, in order.

    Blocks may sit inside or outside ``` fences; markers have 5 to 9 characters. A block that
    is started but not finished raises EditError rather than being dropped.
    """
    blocks: list[tuple[str, str]] = []
    state, search, replace, opened = None, [], [], 0
    for number, line in enumerate(_lines(answer), 1):
        block = len(blocks) + 1
        if state is None:
            if _SEARCH.match(line):
                state, search, replace, opened = "search", [], [], number
            elif _REPLACE.match(line):
                raise EditError(
                    f"line {number} of the answer has '>>>>>>> REPLACE' without a '<<<<<<< SEARCH' before it"
                )
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _SEARCH.match(line) or _REPLACE.match(line):
                raise EditError(
                    f"SEARCH/REPLACE block {block} (answer line {opened}) has no '=======' line "
                    "between its SEARCH and REPLACE parts"
                )
            else:
                search.append(line)
        else:
            if _REPLACE.match(line):
                blocks.append(("\n".join(search), "\n".join(replace)))
                state = None
            elif _SEARCH.match(line):
                raise EditError(
                    f"SEARCH/REPLACE block {block} (answer line {opened}) is not closed with '>>>>>>> REPLACE'"
                )
            else:
                replace.append(line)
    if state is not None:
        raise EditError(
            f"SEARCH/REPLACE block {len(blocks) + 1} (answer line {opened}) is not finished: "
            "it lacks '>>>>>>> REPLACE' (was the answer cut off?)"
        )
    return blocks


def apply_search_replace(parent: str, blocks: list[tuple[str, str]]) -> str:
    """Apply the blocks in order, each to the result of the previous one; any failure fails all."""
    if not blocks:
        raise EditError("no SEARCH/REPLACE blocks to apply")
    lines = _lines(parent)
    for index, (search, replace) in enumerate(blocks, 1):
        where = f"SEARCH/REPLACE block {index}" + (f" of {len(blocks)}" if len(blocks) > 1 else "")
        done = "block 1 was" if index == 2 else f"blocks 1-{index - 1} were"
        after = f" (line numbers as they are after {done} applied)" if index > 1 else ""
        lines = _apply_block(lines, _lines(search), _lines(replace), where, after)
    child = "\n".join(lines)
    if lines and (parent.endswith("\n") or not parent):
        child += "\n"
    if _normalized(child) == _normalized(parent):
        raise EditError("the edit changes nothing: the new program is the same as the current one")
    return child


def extract_fenced_program(answer: str, language: str = "python") -> str | None:
    """The program in the answer's fenced code blocks, or None when there is none.

    With several fences: the longest one tagged with the task's language; failing that the last
    untagged one; failing that the last one. Fences tagged as a diff or a shell session are never
    taken for a program (unless that is the task's language).
    """
    tags = language_of(language).tags | {language.strip().lower()}
    fences = [
        (tag, body)
        for tag, body, closed in _fences(answer)
        if closed and body.strip() and (tag in tags or tag not in _NOT_PROGRAMS)
    ]
    if not fences:
        return None
    same = [(len(body), i, body) for i, (tag, body) in enumerate(fences) if tag in tags]
    if same:
        return max(same)[2]
    untagged = [body for tag, body in fences if not tag]
    return (untagged or [body for _, body in fences])[-1]


def unified_diff(parent: str, child: str, *, parent_name: str = "parent", child_name: str = "child") -> str:
    """A unified diff from `parent` to `child` ("" when they are equal)."""
    lines = difflib.unified_diff(
        parent.splitlines(), child.splitlines(), fromfile=parent_name, tofile=child_name, lineterm=""
    )
    text = "\n".join(lines)
    return text + "\n" if text else ""


def evolve_blocks(source: str) -> list[tuple[int, int]]:
    """The EVOLVE blocks of `source` as (start, end): 1-based line numbers of the marker lines.

    The editable lines are those strictly between the two markers. Markers may use any comment
    style ("# EVOLVE-BLOCK-START", "// EVOLVE-BLOCK-START"). Unbalanced markers raise EditError.
    """
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for number, line in enumerate(source.splitlines(), 1):
        if _START in line:
            if start is not None:
                raise EditError(f"line {number}: {_START} inside the block opened on line {start}")
            start = number
        elif _END in line:
            if start is None:
                raise EditError(f"line {number}: {_END} without an {_START} before it")
            spans.append((start, number))
            start = None
    if start is not None:
        raise EditError(f"line {start}: {_START} without an {_END} after it")
    return spans


# --- SEARCH/REPLACE matching -------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").splitlines()


def _normalized(text: str) -> list[str]:
    lines = [line.rstrip() for line in _lines(text)]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _apply_block(lines: list[str], search: list[str], replace: list[str], where: str, after: str) -> list[str]:
    if not search:
        if not any(line.strip() for line in lines):
            return list(replace)
        raise EditError(
            f"{where}: its SEARCH part is empty. Copy the exact lines to change from the program into it."
        )
    n = len(search)
    starts = range(len(lines) - n + 1)
    exact = [i for i in starts if lines[i] == search[0] and lines[i : i + n] == search]
    if exact:
        return lines[: exact[0]] + replace + lines[exact[0] + n :]
    stripped = [line.rstrip() for line in search]
    loose = [i for i in starts if [line.rstrip() for line in lines[i : i + n]] == stripped]
    if loose:
        return _replace_unique(lines, loose, n, replace, where, after)
    shifted = {i: s for i in starts if (s := _indent_shift(lines[i : i + n], search)) is not None}
    if shifted:
        first = min(shifted)
        add, indent = shifted[first]
        return _replace_unique(lines, sorted(shifted), n, _reindent(replace, add, indent), where, after)
    raise EditError(_not_found_message(lines, search, where, after))


def _replace_unique(
    lines: list[str], matches: list[int], n: int, replace: list[str], where: str, after: str
) -> list[str]:
    if len(matches) > 1:
        places = ", ".join(f"{i + 1}-{i + n}" if n > 1 else str(i + 1) for i in matches[:8])
        raise EditError(
            f"{where}: its SEARCH part is ambiguous: ignoring whitespace it matches {len(matches)} places "
            f"in the program (lines {places}){after}. Include more surrounding lines so that it "
            "matches exactly one place."
        )
    return lines[: matches[0]] + replace + lines[matches[0] + n :]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _indent_shift(window: list[str], search: list[str]) -> tuple[bool, str] | None:
    """(True, d) if window == d + search line by line; (False, d) if search == d + window; else None."""
    shift: tuple[bool, str] | None = None
    for have, want in zip(window, search):
        if not have.strip() or not want.strip():
            if have.strip() or want.strip():
                return None
            continue
        if have.strip() != want.strip():
            return None
        w, s = _indent(have), _indent(want)
        if w.endswith(s):
            this = (True, w[: len(w) - len(s)])
        elif s.endswith(w):
            this = (False, s[: len(s) - len(w)])
        else:
            return None
        if shift is None:
            shift = this
        elif shift != this and not (shift[1] == "" and this[1] == ""):
            return None
    return shift if shift is not None and shift[1] else None


def _reindent(lines: list[str], add: bool, indent: str) -> list[str]:
    if add:
        return [indent + line if line.strip() else line for line in lines]
    out = []
    for line in lines:
        if line.startswith(indent):
            out.append(line[len(indent) :])
        else:  # less indented than the shift: drop what indentation it has
            out.append(line.lstrip() if line.strip() else line)
    return out


def _closest(lines: list[str], search: list[str]) -> tuple[float, int, int]:
    """(similarity, first index, line count) of the region of `lines` most like `search`.

    Windows are ranked cheaply by the token overlap of aligned lines; the best few are then
    scored by difflib's ratio averaged over their aligned lines, which the message reports.
    """
    n = min(len(search), len(lines))
    tokens = [_tokens(line) for line in lines]
    wanted = [_tokens(line) for line in search[:n]]
    step = max(1, (len(lines) * n) // 1_000_000)  # sample the lines of huge searches
    sampled = range(0, n, step)
    ranked = sorted(
        range(len(lines) - n + 1),
        key=lambda i: -sum(_jaccard(tokens[i + k], wanted[k]) for k in sampled),
    )
    best = (-1.0, 0, n)
    for i in sorted(ranked[:_CANDIDATES]):
        pairs = zip(lines[i : i + n], search)
        ratio = sum(difflib.SequenceMatcher(None, a.rstrip(), b.rstrip()).ratio() for a, b in pairs) / n
        if ratio > best[0]:
            best = (ratio, i, n)
    return best


def _tokens(line: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+|[^\w\s]", line))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _numbered(lines: list[str], first: int) -> str:
    shown = lines[:_SHOWN_LINES]
    text = "\n".join(f"{first + k:>5} | {line}" for k, line in enumerate(shown))
    if len(lines) > len(shown):
        text += f"\n      ... ({len(lines) - len(shown)} more lines)"
    return text


def _not_found_message(lines: list[str], search: list[str], where: str, after: str) -> str:
    shown = "\n".join(search[:_SHOWN_LINES]) + (
        f"\n... ({len(search) - _SHOWN_LINES} more lines)" if len(search) > _SHOWN_LINES else ""
    )
    parts = [f"{where} did not apply: its SEARCH part is not in the program.", "Its SEARCH part was:", shown]
    if any(line.strip() for line in lines):
        ratio, i, n = _closest(lines, search)
        region = lines[i : i + n]
        parts += [
            f"The closest region of the program is lines {i + 1}-{i + n} ({ratio:.0%} similar){after}:",
            _numbered(region, i + 1),
        ]
        pairs = list(enumerate(zip(region, search)))
        differ = [k for k, (have, want) in pairs if have.strip() != want.strip()]
        differ = differ or [k for k, (have, want) in pairs if have.rstrip() != want.rstrip()]
        if differ:
            k = differ[0]
            parts.append(
                f"First difference: SEARCH line {k + 1} is {search[k]!r}, "
                f"program line {i + k + 1} is {region[k]!r}."
            )
    else:
        parts.append("The program is empty: use an empty SEARCH part to write it.")
    parts.append("Copy the SEARCH lines exactly as they are in the program, indentation included.")
    return "\n".join(parts)


# --- fenced programs and EVOLVE blocks ---------------------------------------------------


def _fences(answer: str) -> list[tuple[str, str, bool]]:
    """Every fenced code block of the answer as (tag, body, closed)."""
    fences: list[tuple[str, str, bool]] = []
    opened: tuple[str, str, str] | None = None  # (indent, fence, tag)
    body: list[str] = []
    for line in _lines(answer):
        if opened is None:
            match = _FENCE.match(line)
            if match:
                opened, body = (match.group(1), match.group(2), match.group(3).lower()), []
            continue
        indent, fence, tag = opened
        stripped = line.strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            fences.append((tag, _dedent(body, indent), True))
            opened = None
        else:
            body.append(line)
    if opened is not None:
        fences.append((opened[2], _dedent(body, opened[0]), False))
    return fences


def _dedent(body: list[str], indent: str) -> str:
    if indent and all(line.startswith(indent) or not line.strip() for line in body):
        body = [line[len(indent) :] for line in body]
    return "\n".join(body) + "\n" if body else ""


def _splice_into_block(parent: str, program: str) -> str:
    """A full answer without markers, for a parent with exactly one EVOLVE block, is its new content."""
    if _START in program or _END in program or _START not in parent:
        return program
    spans = _parent_blocks(parent)
    if len(spans) != 1:
        return program
    start, end = spans[0]
    lines = _lines(parent)
    outside = {line.strip() for line in lines[: start - 1] + lines[end:] if len(line.strip()) > 3}
    answered = {line.strip() for line in _lines(program)}
    if len(outside) >= 3 and len(outside & answered) >= 0.8 * len(outside):
        raise EditError(
            f"the new program drops the {_START} / {_END} markers. Keep both marker lines and all code "
            "outside them exactly as they are, or send only the new code between the markers."
        )
    body = _match_indent(lines[start : end - 1], _lines(program))
    child = "\n".join(lines[:start] + body + lines[end - 1 :])
    return child + "\n" if parent.endswith("\n") else child


def _match_indent(old: list[str], new: list[str]) -> list[str]:
    """Indent `new` so its least indented line sits where the old block's least indented line did."""
    old_indents = [_indent(line) for line in old if line.strip()]
    new_indents = [_indent(line) for line in new if line.strip()]
    if not old_indents or not new_indents:
        return new
    want, have = min(old_indents, key=len), min(new_indents, key=len)
    if len(have) >= len(want):
        return new
    return _reindent(new, True, want[: len(want) - len(have)])


def _outside_segments(lines: list[str], spans: list[tuple[int, int]]) -> list[tuple[int, list[str]]]:
    """The runs of lines outside the blocks, markers included, as (first line number, lines)."""
    bounds = [0] + [n for span in spans for n in span] + [len(lines) + 1]
    segments = []
    for k in range(0, len(bounds), 2):
        first, last = max(bounds[k], 1), min(bounds[k + 1], len(lines))
        segments.append((first, [line.rstrip() for line in lines[first - 1 : last]]))
    while segments[-1][1] and not segments[-1][1][-1]:
        segments[-1][1].pop()
    return segments


def _parent_blocks(parent: str) -> list[tuple[int, int]]:
    try:
        return evolve_blocks(parent)
    except EditError as exc:
        message = f"the current program's EVOLVE-BLOCK markers are unbalanced ({exc}); fix the initial program"
        raise EditError(message) from None


def _check_evolve_blocks(parent: str, child: str) -> None:
    if _START not in parent:
        return
    spans = _parent_blocks(parent)
    if not spans:
        return
    rule = f"Change only the code between {_START} and {_END}; keep the marker lines and everything outside them."
    try:
        child_spans = evolve_blocks(child)
    except EditError as exc:
        raise EditError(f"the new program breaks the EVOLVE-BLOCK markers ({exc}). {rule}") from None
    if len(child_spans) != len(spans):
        raise EditError(
            f"the program has {len(spans)} EVOLVE block(s) but the new program has {len(child_spans)}. {rule}"
        )
    parent_segments = _outside_segments(_lines(parent), spans)
    child_segments = _outside_segments(_lines(child), child_spans)
    for (first, old), (_, new) in zip(parent_segments, child_segments):
        for tag, i1, _i2, j1, _j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag == "equal":
                continue
            if tag == "insert":
                what = (
                    f"lines were added after line {first + i1 - 1} ({old[i1 - 1].strip()!r})"
                    if i1
                    else f"lines were added before line {first} ({old[0].strip()!r})"
                )
            elif tag == "delete":
                what = f"line {first + i1} ({old[i1].strip()!r}) was removed"
            else:
                what = f"line {first + i1} ({old[i1].strip()!r}) was changed to {new[j1].strip()!r}"
            raise EditError(f"the edit changes code outside the EVOLVE blocks: {what}. {rule}")
