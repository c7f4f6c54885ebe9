"""Records that cross the strategy boundary: programs and proposal requests.

A `Program` is one node of the lineage: its source, where it came from, and (once evaluated)
its status, fitness, metrics and behaviour descriptors. Strategies read programs and hand out
`ProposalRequest`s; they never touch the store.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


class Status:
    """Program statuses, as stored in `programs.status`."""

    PENDING = "pending"  # proposed, evaluation not finished
    APPLY_FAILED = "apply_failed"  # the LLM's edit did not apply; source is ""
    DUPLICATE = "duplicate"  # rejected before evaluation as a copy of an existing program
    BUILD_FAILED = "build_failed"  # did not compile / import / load
    WRONG = "wrong"  # ran, but the evaluator rejected the output (with a reason)
    ERROR = "error"  # evaluator or program crashed, or was killed for a limit
    TIMEOUT = "timeout"  # wall-clock limit hit
    CORRECT = "correct"  # evaluated, has a fitness

    EVALUATED = frozenset({BUILD_FAILED, WRONG, ERROR, TIMEOUT, CORRECT})
    FAILED = frozenset({APPLY_FAILED, BUILD_FAILED, WRONG, ERROR, TIMEOUT})
    ALL = frozenset({PENDING, APPLY_FAILED, DUPLICATE, BUILD_FAILED, WRONG, ERROR, TIMEOUT, CORRECT})


def source_hash(source: str) -> str:
    """Stable hash of a program's source, used to find exact duplicates."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Program:
    """One program of a run.

    `fitness` is higher-is-better and set only when `status == "correct"`. `feedback` is the
    text the evaluator wants the next prompt to show (errors, output tail, extra text fields).
    `error` is one readable line saying why the program failed, when it did.
    """

    id: str
    run_id: str
    source: str
    parent_id: str | None = None
    generation: int = 0
    status: str = Status.PENDING
    fitness: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    descriptors: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str | None = None
    diff: str | None = None
    proposer: str = "initial"  # "initial" | "tuner" | "llm:<model>"
    island: int = 0
    created_at: float = 0.0  # unix seconds
    evaluated_at: float | None = None
    seq: int = 0  # order of insertion within the run (1, 2, ...), set by the store
    backend: str | None = None  # the sandbox backend that evaluated it ("docker", "process", ...)

    @property
    def is_correct(self) -> bool:
        return self.status == Status.CORRECT and self.fitness is not None


@dataclass(frozen=True)
class ProposalRequest:
    """What a strategy asks for: rewrite `parent`, perhaps learning from `inspirations`.

    `reason` says in a few words why this parent was chosen (recorded with the child, shown in
    the viewer). `mode` is a hint for the proposer: "diff" (SEARCH/REPLACE edits) or "full"
    (a whole program).

    With `reevaluate`, the request asks for no child: the controller evaluates `parent` itself
    once more (for noisy evaluations), records the repeat as another attempt of the same
    program, and tells the strategy the program again with the mean of its attempts.
    """

    parent: Program
    inspirations: tuple[Program, ...] = ()
    reason: str = ""
    mode: str = "diff"
    island: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    reevaluate: bool = False


@dataclass(frozen=True)
class Insertion:
    """What telling a strategy about an evaluated program did to its archive."""

    status: str  # "not_added" | "new_cell" | "improved" | "added"
    cell: tuple[int, ...] | None = None
    previous_fitness: float | None = None


@dataclass(frozen=True)
class LLMCall:
    """One request to an LLM, successful or not, as stored in `llm_calls`.

    `prompt` is the JSON-encoded list of chat messages; `error` is set when the call failed
    after its retries. `program_id` links the call to the program it produced, once known.
    """

    id: str
    run_id: str
    model: str
    prompt: str
    response: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency: float = 0.0  # seconds, all attempts included
    attempts: int = 1
    error: str | None = None
    program_id: str | None = None
    created_at: float = 0.0
