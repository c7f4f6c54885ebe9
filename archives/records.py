"""Records that cross the loop's boundaries: programs, proposal requests, evaluation results.

A `Program` is one node of the lineage: its source, where it came from, and (once evaluated)
its status, fitness, metrics and behaviour descriptors. Strategies read programs and hand out
`ProposalRequest`s; they never touch the store. Evaluators return an `EvalResult` (with its
`StageResult`s and, for prompt tasks, an `ExampleResult` per example), which the store keeps.
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
class ExampleResult:
    """How a candidate did on one example of a data set (prompt tasks; `Program.examples`).

    `score` is 0..1, higher better; `output` is the target model's answer (capped at
    `OUTPUT_CHARS`), `feedback` the scorer's one line, `expected` the example's answer as text
    (None without a label), `input` the example's rendered input (capped at `INPUT_CHARS`),
    `split` where it was scored: "minibatch" or "validation".
    """

    OUTPUT_CHARS = 2000
    INPUT_CHARS = 1000

    score: float
    output: str = ""
    feedback: str = ""
    expected: str | None = None
    input: str = ""
    split: str = "validation"

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "output": self.output, "feedback": self.feedback,
                "expected": self.expected, "input": self.input, "split": self.split}  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExampleResult:
        return cls(
            score=float(data.get("score", 0.0)), output=str(data.get("output", "")),
            feedback=str(data.get("feedback", "")),
            expected=None if data.get("expected") is None else str(data["expected"]),
            input=str(data.get("input", "")), split=str(data.get("split", "validation")),
        )  # fmt: skip


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
    examples: dict[str, ExampleResult] = field(default_factory=dict)  # per example id (prompt tasks)
    proposal: dict[str, Any] = field(default_factory=dict)
    """How the proposer made it (agent/learning): any of role, model, meta_prompt_id, plan_id,
    knowledge_ids, notes (the summarizer's recommendations shown). Empty for the initial
    program, the tuner's and older runs'."""

    @property
    def is_correct(self) -> bool:
        return self.status == Status.CORRECT and self.fitness is not None


@dataclass(frozen=True)
class ProposalRequest:
    """What a strategy asks for: rewrite `parent`, perhaps learning from `inspirations`.

    `reason` says in a few words why this parent was chosen (recorded with the child, shown in
    the viewer). `mode` is a hint for the proposer: "diff" (SEARCH/REPLACE edits) or "full"
    (a whole program); "reflect" (improve, shown the parent's failed examples and where it
    does better or worse than the inspirations), "merge" (combine `parent` and
    `inspirations[0]`) or "compress" (a shorter rewrite or another approach, after a stall).
    See agent/prompts.py `PromptContext.mode`.

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
    purpose: str = "proposer"  # "proposer" | "target" (a prompt task's model) | "judge" (an LLM scorer)
    role: str | None = None  # the proposer's role: "draft" | "fix" | "plan" | "summarize" | "meta" | "distil"
    reward: float | None = None  # what the model choice learnt from this call (agent/learning/model_choice.py)


@dataclass(frozen=True)
class StageResult:
    """One stage of an evaluation (e.g. "run", "validate", "score", "compile")."""

    name: str
    ok: bool
    seconds: float = 0.0
    message: str = ""  # one readable line
    log: str = ""  # captured output, capped


@dataclass(frozen=True)
class EvalResult:
    """The outcome of evaluating one program.

    `status` is one of `Status.EVALUATED`. `fitness` is higher-is-better and
    present only for "correct". `feedback` is text for the next prompt (the evaluator's extra
    text fields, an error, an output tail); `error` is one line saying why it failed.

    `evaluator_error` says the fault lies with the task's evaluator (or scorer), not with the
    candidate: it could not be loaded, broke its contract (no `evaluate`, a result that is not
    a dict, no fitness), or raised without the candidate's code being involved. An LLM cannot
    fix that by rewriting the program, so on the initial program it stops the run.
    """

    status: str
    fitness: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    descriptors: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str | None = None
    stages: tuple[StageResult, ...] = ()
    seconds: float = 0.0
    backend: str | None = None  # the sandbox backend that ran it, recorded with the program
    evaluator_error: bool = False  # the evaluator's fault, not the candidate's (see above)
    examples: dict[str, ExampleResult] = field(default_factory=dict)  # per example id (prompt tasks)


@dataclass(frozen=True)
class MetaPrompt:
    """The proposer's instructions, as one member of the co-evolving population
    (agent/learning/metaprompts.py): the system prompt and the strategy hints of the user prompt.
    `parent_id` is the meta-prompt it was rewritten from; `call_id` the LLM call that wrote it."""

    id: str
    run_id: str
    system: str
    hints: str = ""
    parent_id: str | None = None
    origin: str = "initial"  # "initial" | "rewrite"
    call_id: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class Plan:
    """What a proposal meant to change and why (agent/learning/planning.py), written before the
    change itself. `program_id` is the child that implemented it and `gain` what it brought over
    `parent_program_id` (None until the child is evaluated, or when it failed)."""

    id: str
    run_id: str
    parent_program_id: str
    text: str
    program_id: str | None = None
    gain: float | None = None
    call_id: str | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class KnowledgeEntry:
    """A transformation that paid on some task, distilled from a parent and its improved child
    (agent/learning/knowledge.py); read by later runs' prompts. `context` holds kind, language,
    op and gpu; `uses` and `wins` count the proposals that were shown it and those that gained."""

    id: str
    transformation: str
    context: dict[str, str] = field(default_factory=dict)
    gain: float = 0.0
    avoid: str = ""
    run_id: str = ""
    program_ids: tuple[str, ...] = ()
    reference_excerpt: str = ""
    uses: int = 0
    wins: int = 0
    demoted: bool = False
    created_at: float = 0.0


SUITE_PROBLEM_STATUSES = ("pending", "running", "finished", "cannot_run", "failed")
"""pending: not started; running: its run was started (and may have been cut off: a resumed
suite continues it); finished: its run ended (whether anything was correct is the run's);
cannot_run: no run could be made for it here (the reference fails, it needs a GPU, the task
could not be written): `reason` says why; failed: its run ended in an error (`reason`)."""


@dataclass(frozen=True)
class Suite:
    """A named benchmark run: many problems, one budget each, one store (agent/suites).
    `config` holds what `agent suite run` was given (paths, language, budget per problem,
    parallel, model, strategy, share_knowledge): a resumed suite runs with the same."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0


@dataclass(frozen=True)
class SuiteProblem:
    """One problem of a suite and where it stands. `name` is unique within the suite (the
    file's stem, or its folder's name for a task.yaml); `source` is the path given; `task_file`
    the task.yaml that was run (made by the suite for a KernelBench file); `run_id` its run."""

    suite: str
    name: str
    source: str
    status: str = "pending"
    task_file: str | None = None
    run_id: str | None = None
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
