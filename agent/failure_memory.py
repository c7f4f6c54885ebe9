"""Why a parent's recent proposals failed, and what to change so that the next one does not.

`record(child)` notes each proposal's outcome under its parent and the model that answered, once
when the child is stored and again once it is evaluated (a child's entry is updated in place).
The outcome's kind is one of:

    unapplied:<class>   the edit did not apply; <class> from the EditError message (EDIT_CLASSES)
    duplicate           the child repeats an existing program
    llm_error           the LLM call (or its plan call) failed
    build_failed, wrong, timeout, error    the child was evaluated and failed

A pending or correct child is a success: it ends every streak it is part of. A judge error (the
evaluator's fault, not the program's) counts for nothing. Only LLM proposals are recorded.

A streak is failures of one family in a row (the family is the kind before ":", so a model
that breaks its edits in two ways is still one streak), counted per (parent, model) and per
parent across models, since the parent's last change. When one reaches `max_same`, the next
rung of that family's ladder is taken for the parent, in this order:

    unapplied           format, model, temperature down, parent
    unapplied:no_change format, model, temperature up, parent
    duplicate           different, model, temperature up, parent
    llm_error           format, model
    build_failed, wrong, timeout, error    model, temperature down, format, parent

- format: the answer format switches (SEARCH/REPLACE blocks <-> the whole program).
- model: the streak's models are given up for this parent; the first of `advise`'s `models`
  (the role's list, then the fix role's) not given up answers. Taken again while one is left.
- temperature: down (to follow the format exactly) or up (to leave the beaten track), by
  `TEMPERATURE_STEP` from the model's own.
- different: the prompt lists all the parent's recent duplicates (`Advice.avoid`, up to 20; the
  prompt's "Already tried" section shows only a few): "propose something different from these".
- parent: `Advice.other_parent`: the controller asks the strategy for another parent.

A model's answer format is also judged over all parents, by replaying its answers in that format
(`Program.proposal["answer_format"]`, set by the proposer) oldest first: the format is judged
failing once at least one and at least half of its latest 6 did not apply (a single unapplied
answer among its first two is enough), and trusted again once its latest 2 applied and fewer
than half of its latest 6 did not. While the format the proposer asks for is judged failing (and
the other is not), the model is asked for the other from its next proposal on, whatever the
parent ("model format" in `Advice.changes`): a model that cannot write SEARCH/REPLACE blocks
half of the time wastes about one call in a run, not a few per parent; a parent's own format
rung then switches from there. So that one early failure of a model that rarely fails does not
keep it in the other (often dearer) format for ever, the proposer's format is asked for once
more (a probe, "format probe" in `Advice.changes`) when the model's answers in the other format
that applied since its last answer in this one number 8 for each unapplied answer among this
format's latest 6: probes that apply end the switch by the rule above (two in a row after a
single unapplied answer), and each one that does not makes the next wait longer. With several
proposals in flight, those that start before the first probe's outcome is recorded are probes
too.

A model with at least 2 duplicates among its latest 6 answers gets the long "Already tried" list
for every parent (`Advice.tried_limit`, "model repeats" in `Advice.changes`), as the "different"
rung gives one parent.

When a family has no rung left, `Advice.stop` is one line saying what kept failing, for the
families whose calls bought nothing (unapplied, duplicate, llm_error). Evaluated failures bought
evaluations: they never stop a run (the evaluation budget bounds them). A success keeps the
changes made (what works is kept) but clears `other_parent` and `stop`.

The ladder is recomputed from the recorded outcomes at every `advise`, so the outcomes are the
only state: `rebuild(programs, calls)` replays a stored run and a resumed run advises as the first
one would have (`avoids`, which reuses a parent's last `advise` arguments, knows a parent again
once it has been advised on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from agent.already_tried import short_diff, tried_text
from agent.config import ModelSpec
from archives.records import LLMCall, Program, Status

__all__ = ["Advice", "EDIT_CLASSES", "FailureMemory", "RepeatedFailure", "edit_error_class", "outcome_kind"]

MAX_SAME = 5  # the most failures of one kind in a row before something changes (issue 20)
TEMPERATURE_STEP = 0.5
_FORMATS = ("diff", "full")
_RECENT = 6  # a model's latest answers (in a format), from any parent, that say what it tends to do
_FEW = 2  # ... of which this many were duplicates: a model that repeats itself
_TRUSTED_AGAIN = 2  # answers in a row that applied, in a format judged failing, that end the judgement
_PROBE_AFTER = 8  # answers applied in the other format, per unapplied one among the latest, before a probe
_AVOIDED = 20  # duplicates listed under "different": all of the parent's recent ones
TRIED_LIMIT, TRIED_LIMIT_DIFFERENT = 5, 20  # "Already tried" entries: as a rule, and under "different"
_JUDGE_ERROR = "judge error:"  # agent/controller.py JUDGE_ERROR: the evaluator failed, not the program
_LLM_ERRORS = ("LLM call failed", "the plan call failed")  # agent/proposers.py, a call that failed

EDIT_CLASSES = {
    "outside_evolve": "'the edit changes code outside the EVOLVE blocks'",
    "search_mismatch": "'a SEARCH part did not match the program'",
    "no_code": "'no SEARCH/REPLACE block or code block in the answer'",
    "malformed": "'an unfinished SEARCH/REPLACE block or code block'",
    "no_change": "'the edit changes nothing'",
    "other": "'the edit did not apply'",
}
_EDIT_PATTERNS = (  # (class, phrases of agent/edits.py's messages), the first match wins
    ("other", ("current program's evolve-block markers",)),
    ("outside_evolve", ("outside the evolve blocks", "evolve-block markers", "evolve block(s)", "drops the evolve")),
    ("no_change", ("changes nothing",)),
    ("search_mismatch", ("search part is not in", "ambiguous", "search part is empty", "no search/replace blocks")),
    ("no_code", ("no fenced code block", "unified diffs are not supported")),
    ("malformed", ("never closed", "not finished", "'=======' line", "not closed with", "without a '<<<<<<< search'")),
)  # fmt: skip
_DESCRIBED = {
    "duplicate": "as duplicates of existing programs",
    "llm_error": "with a failed LLM call",
    "build_failed": "in build failures",
    "wrong": "with wrong results",
    "timeout": "in timeouts",
    "error": "in crashes",
}
_LADDERS = {
    "unapplied": ("format", "model", "cooler", "parent"),
    "unapplied:no_change": ("format", "model", "warmer", "parent"),
    "duplicate": ("different", "model", "warmer", "parent"),
    "llm_error": ("format", "model"),
}
_EVALUATED_LADDER = ("model", "cooler", "format", "parent")
_STOPPING = frozenset({"unapplied", "duplicate", "llm_error"})  # families whose calls buy nothing
_NOTES = {
    "unapplied": "answer exactly in the format asked for below, changing only what may change",
    "duplicate": "propose a change that no existing program has made",
    "llm_error": "keep the answer short",
}


class RepeatedFailure(Exception):
    """Raised by a proposer when `Advice.stop` says the run should stop; `str()` is the one line."""


@dataclass(frozen=True)
class Advice:
    """What to change for the next proposal from a parent; the defaults change nothing."""

    answer_format: str | None = None  # "diff" | "full" instead of the proposer's own
    model: ModelSpec | None = None  # the model to ask instead of models[0], temperature included
    temperature: float | None = None  # already set in `model`; here for the record
    avoid: tuple[str, ...] = ()  # the parent's duplicates as already_tried entries: "propose something different"
    tried_limit: int = TRIED_LIMIT  # entries of the prompt's "Already tried" section (agent/already_tried.py)
    other_parent: bool = False  # the strategy should pick another parent
    stop: str | None = None  # nothing is left to change: the run stops with this line
    notes: tuple[str, ...] = ()  # why, for the prompt's recommendations
    changes: tuple[str, ...] = ()  # the rungs in effect, for Program.proposal ("format", "model", ...)

    def model_for(self, default: ModelSpec) -> ModelSpec:
        """The model spec to send the call with: the advised one (temperature included), else `default`."""
        return self.model or default


def edit_error_class(message: str) -> str:
    """The class (a key of EDIT_CLASSES) of an agent/edits.py EditError message."""
    text = message.lower()
    for name, phrases in _EDIT_PATTERNS:
        if any(phrase in text for phrase in phrases):
            return name
    return "other"


def outcome_kind(program: Program) -> str | None:
    """The failure kind of a proposed child (module docstring); None for a success (pending, correct)
    and "" for an outcome that counts for nothing (a judge error)."""
    status, error = program.status, program.error or ""
    if status in (Status.PENDING, Status.CORRECT):
        return None
    if status == Status.APPLY_FAILED:
        if error.startswith(_LLM_ERRORS):
            return "llm_error"
        return f"unapplied:{edit_error_class(error)}"
    if status == Status.ERROR and error.startswith(_JUDGE_ERROR):
        return ""
    return status


@dataclass(frozen=True)
class _Entry:
    order: tuple[int, int]  # (the child's seq, when it was first recorded): the order of proposals
    model: str
    kind: str | None  # outcome_kind
    answer_format: str | None  # the format asked for (Program.proposal["answer_format"]), when known
    diff: str = ""  # a duplicate's entry for the prompt (agent/already_tried.py tried_text)


@dataclass
class _Ladder:
    """A parent's changes, as replayed from its entries."""

    taken: list[str] = field(default_factory=list)
    given_up: set[str] = field(default_factory=set)
    temperature: str | None = None  # "cooler" | "warmer", the last taken
    other_parent: bool = False
    stop: str | None = None
    family: str = ""  # of the last streak that changed something


class FailureMemory:
    """Outcomes per parent and model, and the advice they call for (module docstring).

    `max_same`: failures of one family in a row before something changes (1 to 5).
    `temperature`: the run's `llm.temperature`, for models without their own.
    """

    def __init__(self, max_same: int = MAX_SAME, *, temperature: float = 0.8):
        if not 1 <= max_same <= MAX_SAME:
            raise ValueError(f"max_same must be between 1 and {MAX_SAME}, got {max_same}")
        self._max_same = max_same
        self._temperature = temperature
        self._entries: dict[str, dict[str, _Entry]] = {}  # parent id -> child id -> the child's outcome
        self._asked: dict[str, tuple[tuple[ModelSpec, ...], str | None]] = {}  # parent id -> advise's last arguments
        self._answers: dict[tuple[str, str], dict[str, _Entry]] = {}  # (model, format) -> its answers, any parent

    def record(self, child: Program, model: str | None = None) -> None:
        """Note `child`'s outcome (again, once it is evaluated: the entry is replaced, in its place
        by `child.seq`); `model`: who answered, when not the one in `child.proposal` or its
        proposer label. Children not proposed by an LLM are ignored."""
        if child.parent_id is None or not child.proposer.startswith("llm:"):
            return
        model = model or child.proposal.get("model") or child.proposer.removeprefix("llm:")
        kind = outcome_kind(child)
        change = short_diff(child.diff or "") if kind == Status.DUPLICATE else ""
        diff = tried_text(child, change) if change else ""
        entries = self._entries.setdefault(child.parent_id, {})
        order = entries[child.id].order if child.id in entries else (child.seq, len(entries))
        entry = _Entry(order, model, kind, child.proposal.get("answer_format"), diff)
        entries[child.id] = entry
        for answers in self._answers.values():
            answers.pop(child.id, None)
        if entry.answer_format in _FORMATS and kind not in ("", "llm_error", "unapplied:no_change"):
            self._answers.setdefault((model, entry.answer_format), {})[child.id] = entry

    def rebuild(self, programs: Iterable[Program], calls: Iterable[LLMCall] = ()) -> None:
        """Replay a stored run: its programs in insertion order and the proposer calls that made them
        (a call's model is who answered)."""
        answered = {
            c.program_id: c.model for c in calls if c.program_id and c.purpose == "proposer" and c.role != "plan"
        }
        for program in sorted(programs, key=lambda p: p.seq):
            self.record(program, answered.get(program.id))

    def advise(self, parent: Program, models: Sequence[ModelSpec], current_format: str | None) -> Advice:
        """What to change for the next proposal from `parent`.

        `models`: the models that may answer, in order of preference, the proposer's own pick
        first (then the rest of its role's list, then the `fix` role's). `current_format`: the
        format the proposer asks for without advice ("diff", "full"; None counts as "diff").
        """
        if not models:
            raise ValueError("advise needs at least one model")
        self._asked[parent.id] = (tuple(models), current_format)
        return self._advice(parent.id, tuple(models), current_format)

    def avoids(self, parent_id: str) -> bool:
        """Whether the last advice for this parent, brought up to date, asks for another parent
        (`Advice.other_parent`); False for a parent never advised on."""
        if parent_id not in self._asked:
            return False
        return self._advice(parent_id, *self._asked[parent_id]).other_parent

    def _advice(self, parent_id: str, models: tuple[ModelSpec, ...], current_format: str | None) -> Advice:
        entries = sorted(self._entries.get(parent_id, {}).values(), key=lambda e: e.order)
        current = current_format if current_format in _FORMATS else "diff"
        ladder = self._replay(parent_id, entries, {m.name for m in models}, models[0], _other(current))
        model = next((m for m in models if m.name not in ladder.given_up), None) if ladder.given_up else None
        spec = model or models[0]
        base, probe = current, False
        if self._format_fails(spec.name, current) and not self._format_fails(spec.name, _other(current)):
            probe = self._probe_due(spec.name, current)
            base = current if probe else _other(current)
        answer_format = _other(base) if "format" in ladder.taken else base
        repeats = "different" not in ladder.taken and self._repeats_itself(spec.name)
        changes = (*ladder.taken, *(["model format"] if base != current else []))
        changes += ("format probe",) if probe and answer_format == current else ()
        changes += ("model repeats",) if repeats else ()
        if not changes and ladder.stop is None:
            return Advice()
        temperature = self._shifted(spec, ladder.temperature) if ladder.temperature else None
        if temperature is not None:
            model = spec.model_copy(update={"temperature": temperature})
        avoid: tuple[str, ...] = ()
        if "different" in ladder.taken:
            duplicates = dict.fromkeys(e.diff for e in reversed(entries) if e.kind == Status.DUPLICATE and e.diff)
            avoid = tuple(duplicates)[:_AVOIDED]
        notes: tuple[str, ...] = ()
        if ladder.family:
            note = _NOTES.get(ladder.family.split(":")[0], "try a different idea")
            notes = (f"Recent proposals for this program kept ending {_describe(ladder.family)}: {note}.",)
        return Advice(
            answer_format=answer_format if answer_format != current_format else None,
            model=model,
            temperature=temperature,
            avoid=avoid,
            tried_limit=TRIED_LIMIT_DIFFERENT if repeats or "different" in ladder.taken else TRIED_LIMIT,
            other_parent=ladder.other_parent,
            stop=ladder.stop,
            notes=notes,
            changes=changes,
        )

    def _repeats_itself(self, model: str) -> bool:
        """Whether at least two of the model's latest answers, from any parent, were duplicates."""
        answers = [e for f in _FORMATS for e in self._answers.get((model, f), {}).values()]
        answers.sort(key=lambda e: e.order)
        duplicates = sum(1 for e in answers[-_RECENT:] if e.kind == Status.DUPLICATE)
        return duplicates >= _FEW

    def _format_fails(self, model: str, answer_format: str) -> bool:
        """Whether the model's answers in this format, from any parent, are judged not to apply
        (module docstring): the judgement replayed over them, oldest first."""
        answers = self._in_format(model, answer_format)
        failing = False
        for end in range(1, len(answers) + 1):
            latest = answers[max(0, end - _RECENT) : end]
            failed = sum(map(_unapplied, latest))
            if failing:
                failing = 2 * failed >= len(latest) or any(map(_unapplied, latest[-_TRUSTED_AGAIN:]))
            else:
                failing = failed >= 1 and 2 * failed >= len(latest)
        return failing

    def _probe_due(self, model: str, answer_format: str) -> bool:
        """Whether a format judged failing is to be asked for once more: enough answers applied in
        the other format since the model's last one in it (module docstring)."""
        answers = self._in_format(model, answer_format)
        if not answers:
            return False
        failed = sum(map(_unapplied, answers[-_RECENT:]))
        last = answers[-1].order
        others = self._answers.get((model, _other(answer_format)), {}).values()
        applied = sum(1 for e in others if e.order > last and not _unapplied(e))
        return applied >= _PROBE_AFTER * max(1, failed)

    def _in_format(self, model: str, answer_format: str) -> list[_Entry]:
        return sorted(self._answers.get((model, answer_format), {}).values(), key=lambda e: e.order)

    # --- the ladder ----------------------------------------------------------------------

    def _replay(
        self, parent_id: str, entries: list[_Entry], names: set[str], first: ModelSpec, switched: str
    ) -> _Ladder:
        """The parent's ladder after its entries, oldest first; `first`: the model whose temperature
        is shifted; `switched`: the format the format rung asks for."""
        ladder = _Ladder()
        runs: dict[str, list[_Entry]] = {}  # model name, or "*" for all models -> the current streak
        for entry in entries:
            if entry.kind == "":
                continue
            keys = (entry.model, "*")
            if entry.kind is None:
                for key in keys:
                    runs.pop(key, None)
                ladder.other_parent, ladder.stop = False, None
                continue
            family = entry.kind.split(":")[0]
            for key in keys:
                run = runs.get(key)
                runs[key] = run + [entry] if run and run[0].kind.split(":")[0] == family else [entry]
            full = next((runs[key] for key in keys if len(runs[key]) >= self._max_same), None)
            if full is not None:
                self._escalate(ladder, parent_id, full, names, first, switched)
                runs.clear()
        return ladder

    def _escalate(
        self, ladder: _Ladder, parent_id: str, streak: list[_Entry], names: set[str], first: ModelSpec, switched: str
    ) -> None:
        """Take the next rung of the streak's ladder, or set the stop line when none is left."""
        kinds = Counter(e.kind for e in streak)
        common = kinds.most_common(1)[0][0]
        family = common.split(":")[0]
        ladder.family = common
        for rung in _LADDERS.get(common) or _LADDERS.get(family) or _EVALUATED_LADDER:
            if rung == "model":
                failed = {e.model for e in streak}
                if failed - ladder.given_up and names - ladder.given_up - failed:
                    ladder.given_up |= failed
                    ladder.taken.append(rung)
                    return
                continue
            if rung in ladder.taken:
                continue
            if rung in ("cooler", "warmer") and self._shifted(first, rung) is None:
                continue
            ladder.taken.append(rung)
            if rung in ("cooler", "warmer"):
                ladder.temperature = rung
            if rung == "parent":
                ladder.other_parent = True
            return
        if family in _STOPPING:
            ladder.stop = (
                f"stopped: {len(streak)} proposals in a row for program {parent_id[:8]} ended {_describe(common)}, "
                f"{_tried(ladder, names, ladder.given_up | {e.model for e in streak}, switched)}"
            )

    def _shifted(self, model: ModelSpec, direction: str) -> float | None:
        """The model's temperature one step cooler or warmer; None when it is at the bound already."""
        base = model.temperature if model.temperature is not None else self._temperature
        shifted = max(0.0, base - TEMPERATURE_STEP) if direction == "cooler" else min(2.0, base + TEMPERATURE_STEP)
        return round(shifted, 3) if shifted != base else None


def _unapplied(entry: _Entry) -> bool:
    return bool(entry.kind) and entry.kind.startswith("unapplied:")


def _other(answer_format: str) -> str:
    return "diff" if answer_format == "full" else "full"


def _describe(kind: str) -> str:
    if kind.startswith("unapplied:"):
        return EDIT_CLASSES.get(kind.split(":", 1)[1], EDIT_CLASSES["other"])
    return _DESCRIBED.get(kind, kind)


def _tried(ladder: _Ladder, names: set[str], failed: set[str], switched: str) -> str:
    """'after trying full rewrites, every model and ...' for the stop line."""
    tried = []
    for rung in dict.fromkeys(ladder.taken):
        if rung == "format":
            tried.append("full rewrites" if switched == "full" else "SEARCH/REPLACE edits")
        elif rung == "model":
            tried.append("every model" if names <= failed else "other models")
        elif rung in ("cooler", "warmer"):
            tried.append(f"a {'lower' if rung == 'cooler' else 'higher'} temperature")
        elif rung == "different":
            tried.append("a list of what to avoid")
        elif rung == "parent":
            tried.append("other parents")
    if not tried:
        return "and nothing could be changed"
    return "after trying " + (tried[0] if len(tried) == 1 else ", ".join(tried[:-1]) + " and " + tried[-1])
