"""The built-in tuner: a non-LLM proposer that mutates declared tunable constants.

A tunable is a literal assigned to a name, declared either in task.yaml (`tunables:`) or by a
marker comment on the assignment line, in any language:

    BLOCK = 64  # evoforge: tune choices=[16, 32, 64, 128]
    T0 = 100.0  # evoforge: tune low=0.1 high=10000 log
    ITERS = 20  # evoforge: tune low=1 high=200 int
    #define BLOCK 64 // evoforge: tune choices=[16, 32, 64]
    const int BLOCK = 64; // evoforge: tune low=16 high=256 int

Marker options: `choices=[...]` (numbers or quoted strings), `low=X high=Y`, `log`, `int`.
A name both declared and marked takes the declared spec. The tuner only edits literals, so it
works on any source text: it changes one or two tunables per proposal (numeric ranges by a
Gaussian step in linear or log space, sometimes a uniform jump; choices to a neighbour or at
random), keeps each literal's type (an int stays an int, a float keeps a point), and never
returns the parent's source unchanged.
"""

from __future__ import annotations

import ast
import math
import random
import re
from dataclasses import dataclass
from typing import Union

from pydantic import ValidationError

from agent.config import Tunable

Value = Union[int, float, str]

JUMP_CHANCE = 0.1  # share of numeric mutations that jump uniformly over the range
STEP_SCALE = 0.15  # Gaussian step, as a share of the (log) range
NEIGHBOUR_CHANCE = 0.7  # share of choice mutations that move to a neighbouring choice
TWO_CHANCE = 0.3  # share of proposals that change two tunables
ATTEMPTS = 20


class TunerError(ValueError):
    """A tunable marker or declaration that cannot be used; the message names the line or name."""


TunableError = TunerError


@dataclass(frozen=True)
class TunableSite:
    """A tunable and where its literal sits: `source[start:end] == text`."""

    name: str
    spec: Tunable
    line: int  # 1-based
    start: int
    end: int
    text: str

    @property
    def value(self) -> Value:
        return _parse_literal(self.text)


@dataclass(frozen=True)
class TunedEdit:
    """A tuner proposal: the child's source, what changed (name -> (old, new)), and a summary."""

    source: str
    changes: dict[str, tuple[Value, Value]]
    description: str


_NUM = r"[-+]?(?:\d[\d_]*(?:\.[\d_]*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)[fFlLuU]{0,3}(?![\w.])"
_STR = r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'"
_MARKER = re.compile(r"(?:#|//)\s*evoforge:\s*tune\b")


def _line_pattern(name: str | None) -> re.Pattern[str]:
    """`NAME = literal` or `#define NAME literal`, the literal ending the code of the line."""
    n = r"[A-Za-z_][\w.]*" if name is None else re.escape(name)
    assign = rf"(?<![\w.])(?P<n1>{n})\s*(?::[^=\n]*)?(?<![=!<>])=(?!=)\s*(?P<lit>{_STR}|{_NUM})"
    define = rf"^\s*#\s*define\s+(?P<n2>{n})\s+\(?\s*(?P<lit2>{_STR}|{_NUM})\s*\)?"
    end = r"(?=\s*[;,]?\s*(?:#|//|$))"
    return re.compile(rf"(?:{define}{end}|{assign}{end})")


_ANY_ASSIGN = _line_pattern(None)


def find_tunables(
    source: str, declared: dict[str, Tunable] | None = None, *, strict: bool = True
) -> dict[str, TunableSite]:
    """Tunables of `source` by name, in order of appearance in the source.

    Raises TunerError naming the line for a malformed marker, or the name for a declared
    tunable the source does not assign. With `strict=False` such tunables are skipped instead
    (for parents written by an LLM, which may have broken a marker).
    """
    declared = declared or {}
    sites: dict[str, TunableSite] = {}
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    for number, line in enumerate(lines, 1):
        try:
            site = _marked_site(line, number, offsets[number - 1], declared)
            if site is not None and site.name in sites:
                first = sites[site.name].line
                raise TunerError(
                    f"line {number}: {site.name} is marked as tunable twice (first on line {first})"
                )
        except TunerError:
            if strict:
                raise
            continue
        if site is not None:
            sites[site.name] = site
    for name, spec in declared.items():
        if name in sites:
            continue
        try:
            sites[name] = _declared_site(name, spec, lines, offsets)
        except TunerError:
            if strict:
                raise
    return dict(sorted(sites.items(), key=lambda item: item[1].start))


def _marked_site(line: str, number: int, line_start: int, declared: dict[str, Tunable]) -> TunableSite | None:
    marker = _MARKER.search(line)
    if marker is None:
        return None
    code = line[: marker.start()].rstrip()
    match = _ANY_ASSIGN.search(code)
    if match is None:
        raise TunerError(
            f"line {number}: an 'evoforge: tune' marker needs `NAME = literal` or "
            f"`#define NAME literal` before it, got {code.strip()!r}"
        )
    name = match.group("n1") or match.group("n2")
    spec = declared.get(name) or _parse_marker(line[marker.end():], number)
    return _site(name, spec, number, line_start, match)


def _declared_site(name: str, spec: Tunable, lines: list[str], offsets: list[int]) -> TunableSite:
    pattern = _line_pattern(name)
    for number, line in enumerate(lines, 1):
        match = pattern.search(line)
        if match is not None:
            return _site(name, spec, number, offsets[number - 1], match)
    raise TunerError(f"tunable {name!r} is declared but the source has no `{name} = literal`")


def has_tunables(source: str, declared: dict[str, Tunable] | None = None) -> bool:
    return bool(find_tunables(source, declared))


def _site(name: str, spec: Tunable, number: int, line_start: int, match: re.Match[str]) -> TunableSite:
    group = "lit" if match.group("lit") is not None else "lit2"
    text = match.group(group)
    is_str = text[0] in "'\""
    if is_str and spec.choices is None:
        raise TunerError(f"line {number}: {name} is a string, so it needs choices, not a range")
    if spec.choices is not None:
        if any(isinstance(c, str) != is_str for c in spec.choices):
            kind = "a string" if is_str else "a number"
            raise TunerError(f"line {number}: {name} is {kind}, so its choices must all be too")
    start = line_start + match.start(group)
    return TunableSite(name, spec, number, start, start + len(text), text)


def _parse_marker(options: str, number: int) -> Tunable:
    fields: dict[str, object] = {}
    choices = re.search(r"\bchoices\s*=\s*(\[.*\])", options)
    if choices is not None:
        try:
            values = ast.literal_eval(choices.group(1))
        except (ValueError, SyntaxError):
            raise TunerError(f"line {number}: cannot read choices {choices.group(1)}") from None
        if not values or any(isinstance(v, bool) or not isinstance(v, (int, float, str)) for v in values):
            raise TunerError(f"line {number}: choices must be a non-empty list of numbers or strings")
        fields["choices"] = tuple(values)
        options = options[: choices.start()] + options[choices.end():]
    for token in filter(None, re.split(r"[\s,]+", options.strip())):
        key, eq, raw = token.partition("=")
        if eq and key in ("low", "high"):
            try:
                fields[key] = float(raw)
            except ValueError:
                raise TunerError(f"line {number}: {key} must be a number, got {raw!r}") from None
        elif not eq and key == "log":
            fields["log"] = True
        elif not eq and key in ("int", "integer"):
            fields["integer"] = True
        else:
            raise TunerError(
                f"line {number}: unknown tune option {token!r} (use choices=[...], low=, high=, log, int)"
            )
    try:
        return Tunable(**fields)  # type: ignore[arg-type]
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise TunerError(f"line {number}: bad tune marker: {message}") from None


# ---- literals ---------------------------------------------------------------------------------

def _split_suffix(text: str) -> tuple[str, str]:
    body = text.rstrip("fFlLuU")
    return body, text[len(body):]


def _is_float_text(body: str) -> bool:
    return any(ch in body for ch in ".eE")


def _parse_literal(text: str) -> Value:
    if text[0] in "'\"":
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text[1:-1]
    body, _ = _split_suffix(text)
    body = body.replace("_", "")
    return float(body) if _is_float_text(body) else int(body)


def _format_float(value: float, digits: int = 4) -> str:
    text = f"{value:.{digits}g}"
    if not any(ch in text for ch in ".eEn"):
        text += ".0"
    return text


def _format_like(value: Value, old_text: str) -> str:
    """Write `value` as a literal of the same kind as `old_text` (quotes, C suffix)."""
    if isinstance(value, str):
        quote = old_text[0] if old_text[0] in "'\"" else '"'
        escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return f"{quote}{escaped}{quote}"
    _, suffix = _split_suffix(old_text)
    if isinstance(value, int):
        return f"{value}{suffix}"
    return f"{value!r}{suffix}"


# ---- mutation ---------------------------------------------------------------------------------

def _mutate(site: TunableSite, rng: random.Random) -> tuple[str, Value]:
    """A new literal text for `site` and its value (possibly equal to the old one)."""
    spec, old = site.spec, site.value
    if spec.choices is not None:
        choices = list(spec.choices)
        index = next((i for i, c in enumerate(choices) if c == old), None)
        if index is None or len(choices) < 2 or rng.random() >= NEIGHBOUR_CHANCE:
            new: Value = rng.choice(choices)
        else:
            steps = [i for i in (index - 1, index + 1) if 0 <= i < len(choices)]
            new = choices[rng.choice(steps)]
        return _format_like(new, site.text), new
    assert spec.low is not None and spec.high is not None and not isinstance(old, str)
    body, suffix = _split_suffix(site.text)
    integer = spec.integer or not _is_float_text(body)
    low, high = spec.low, spec.high
    if integer:
        low, high = float(math.ceil(low)), float(math.floor(high))
        if low >= high:
            return site.text, old
    to = math.log if spec.log else float
    back = math.exp if spec.log else float
    a, b = to(low), to(high)
    x = to(min(max(float(old), low), high))
    y = rng.uniform(a, b) if rng.random() < JUMP_CHANCE else x + rng.gauss(0.0, STEP_SCALE * (b - a))
    value = min(max(back(min(max(y, a), b)), low), high)
    if integer:
        new = round(value)
        if new == old:
            new = int(old) + (rng.choice((-1, 1)) if low < old < high else (1 if old <= low else -1))
            new = int(min(max(new, low), high))
        if _is_float_text(body):
            return repr(float(new)) + suffix, float(new)
        return f"{new}{suffix}", new
    text = _format_float(value)
    new = min(max(float(text), spec.low), spec.high)
    if float(text) != new:  # rounding to a short repr left the range: write the bound exactly
        text = repr(new)
    return text + suffix, new


class Tuner:
    """Proposes children that differ from the parent in one or two tunable literals."""

    def __init__(self, declared: dict[str, Tunable] | None, rng: random.Random) -> None:
        self.declared = dict(declared or {})
        self._rng = rng

    def propose(self, parent_source: str) -> TunedEdit | None:
        """A mutated child, or None when the source has no tunables (or none can change).

        Never raises for the parent's markers: tunables whose marker is malformed, or declared
        ones the parent no longer assigns, are left alone (check the initial program with
        `find_tunables` or `has_tunables` to report those).
        """
        sites = find_tunables(parent_source, self.declared, strict=False)
        if not sites:
            return None
        names = list(sites)
        for _ in range(ATTEMPTS):
            k = 2 if len(names) > 1 and self._rng.random() < TWO_CHANCE else 1
            picked = sorted(self._rng.sample(names, k), key=names.index)
            edits = []
            for name in picked:
                text, value = _mutate(sites[name], self._rng)
                if text != sites[name].text:
                    edits.append((sites[name], text, value))
            if edits:
                return _apply(parent_source, edits)
        return None


def _apply(source: str, edits: list[tuple[TunableSite, str, Value]]) -> TunedEdit:
    out = source
    for site, text, _ in sorted(edits, key=lambda e: e[0].start, reverse=True):
        out = out[: site.start] + text + out[site.end:]
    changes = {site.name: (site.value, value) for site, _, value in edits}
    description = "; ".join(f"{site.name}: {site.text} -> {text}" for site, text, _ in edits)
    return TunedEdit(source=out, changes=changes, description=description)
