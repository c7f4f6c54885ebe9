"""A store holding a run of prompt programs with per-example results, written through
`archives.store.Store` the way a prompt run records them, for the viewer's tests.

The initial prompt passes examples ex1-ex20 and fails ex21-ex30. Its child fixes ex21, ex22 and
ex23 (ex23 at exactly 0.5, which passes), breaks ex5 (whose answer carries markup and script),
lowers ex6 to 0.6 and raises ex24 to 0.4 (neither crosses 0.5, so neither is marked): fixed 3,
broke 1 of 30. A second child was stopped at an 8-example minibatch; its own child was scored
on all 30, so only 8 of those compare with its parent. A last child failed and has no examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archives.records import EvalResult, ExampleResult, Program, StageResult, Status
from archives.store import Store

OUTPUT_MARKUP = '<script>window.__pwned = 3</script><img src=x onerror="window.__pwned = 4">positive'
INPUT_MARKUP = '<img src=y onerror="window.__pwned = 5"><b>bold</b> review'
LONG_INPUT = "Review: " + "the delivery was late but the soup was warm and the staff apologised; " * 8
PROMPT = """You label short customer reviews.
Answer with one word: positive, negative or neutral.
def looks_like_python(x): return "not highlighted"  # a prompt is plain text
"""
PROPOSER = "openai/gpt-4o-mini"
EXAMPLE_IDS = [f"ex{i}" for i in range(1, 31)]


@dataclass(frozen=True)
class PromptStore:
    url: str
    run_id: str
    root_id: str
    child_id: str
    partial_id: str  # scored on validation; its parent only on a minibatch
    failed_id: str  # no examples


def _example(example_id: str, score: float, split: str = "validation") -> ExampleResult:
    n = int(example_id[2:])
    expected = "positive" if n % 2 else "negative"
    right = score >= 0.5
    output = expected if right else ("negative" if expected == "positive" else "positive")
    text = LONG_INPUT if example_id == "ex1" else INPUT_MARKUP if example_id == "ex21" else f"Review: number {n}"
    feedback = "correct" if right else f"expected {expected!r}, got {output!r}"
    return ExampleResult(score=score, output=output, feedback=feedback, expected=expected, input=text, split=split)


def _root_scores() -> dict[str, float]:
    return {e: 1.0 if int(e[2:]) <= 20 else 0.0 for e in EXAMPLE_IDS}


def _child_scores() -> dict[str, float]:
    return {**_root_scores(), "ex21": 1.0, "ex22": 1.0, "ex23": 0.5, "ex5": 0.0, "ex6": 0.6, "ex24": 0.4}


def _finish(store: Store, program: Program, scores: dict[str, float], split: str = "validation") -> None:
    examples = {k: _example(k, v, split) for k, v in scores.items()}
    if "ex5" in examples and scores["ex5"] < 0.5:
        r = examples["ex5"]
        feedback = "expected 'positive', got markup"
        examples["ex5"] = ExampleResult(r.score, OUTPUT_MARKUP, feedback, r.expected, r.input, r.split)
    mean = sum(scores.values()) / len(scores)
    metrics = {"val_score": mean, "val_n": float(len(scores)), "stage": 1.0 if split == "validation" else 0.0}
    store.add_program(program)
    stages = [StageResult("minibatch", True, 0.2)]
    if split == "validation":
        stages.append(StageResult("validation", True, 0.8))
    result = EvalResult(Status.CORRECT, fitness=mean, metrics=metrics, examples=examples, stages=tuple(stages))
    store.finish_program(program.id, result)


def fill_prompt_store(folder: Path) -> PromptStore:
    url = f"sqlite:///{folder / 'runs' / 'prompts.db'}"
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    config = {"name": "prompt_sentiment", "kind": "prompt", "program": "prompt.txt",
              "prompt_task": {"data": {"train": "data/train.jsonl"}}}  # fmt: skip
    with Store(url) as store:
        run = store.create_run("prompt_sentiment", str(folder / "task.yaml"), "pq", 0, config)
        ids = {k: f"{k}{'0' * 28}"[:32] for k in ("root", "child", "mini", "partial", "failed")}
        _finish(store, Program(id=ids["root"], run_id=run.id, source=PROMPT, proposer="initial"), _root_scores())
        child = PROMPT.replace("one word", "exactly one word (watch for negation)")
        _finish(store, Program(id=ids["child"], run_id=run.id, source=child, parent_id=ids["root"], generation=1,
                               proposer=PROPOSER), _child_scores())  # fmt: skip
        minibatch = {e: s for e, s in _root_scores().items() if int(e[2:]) % 4 == 0}  # ex4, ex8, ... ex28
        _finish(store, Program(id=ids["mini"], run_id=run.id, source=PROMPT + "Be brief.\n", parent_id=ids["root"],
                               generation=1, proposer=PROPOSER), minibatch, split="minibatch")  # fmt: skip
        _finish(store, Program(id=ids["partial"], run_id=run.id, source=PROMPT + "Be very brief.\n",
                               parent_id=ids["mini"], generation=2, proposer=PROPOSER), _child_scores())  # fmt: skip
        store.add_program(Program(id=ids["failed"], run_id=run.id, source="", parent_id=ids["root"], generation=1,
                                  proposer=PROPOSER))
        store.finish_program(ids["failed"], EvalResult(Status.ERROR, error="the target model did not answer"))
    return PromptStore(url, run.id, ids["root"], ids["child"], ids["partial"], ids["failed"])
