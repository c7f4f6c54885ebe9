"""The prompt evaluator: scores a candidate prompt on examples through the target model.

Evaluation is staged, as GEPA does it. A candidate with a parent is first scored on a
minibatch: `prompt_task.minibatch.size` validation examples drawn with the minibatch seed and
the prompt's text. If it is worse there than its parent (the parent's stored per-example
results, or the parent scored on the missing examples, from the cache where it can), it stops:
status "correct", `metrics["stage"] = 0`, and a fitness of its minibatch mean but never above
its parent's fitness (a candidate that lost to its parent cannot outrank it on a lucky
minibatch). Otherwise -- and always for the initial prompt and repeats -- it is scored on the
whole validation split (`stage` 1) and its fitness is the validation mean. The test split is
never touched during the search: `final_report` scores the initial and the best prompt on it.

Every scored example is kept in `EvalResult.examples` (score, the model's answer, the scorer's
feedback, expected answer, input, split), so strategies can keep a Pareto front over examples
and the proposer can show what went wrong. Metrics: `val_score`, `val_n` (examples scored on
the validation split), `minibatch_score`, `stage`, `cost_usd` (target and judge dollars of this
evaluation, cache hits free), `prompt_chars`.

With `target.temperature` above 0, answers vary: each further evaluation of the same prompt
text (a repeat of the priority queue) draws fresh answers instead of the cached ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from agent.llm.errors import BudgetExceeded
from archives.records import EvalResult, ExampleResult, Program, StageResult, Status
from evaluators.prompt.cache import CACHE_FILE, AnswerCache
from evaluators.prompt.config import PromptTaskConfig
from evaluators.prompt.data import DataError, Example, Splits, load_splits
from evaluators.prompt.judge import Judge
from evaluators.prompt.render import Prompt, PromptFormatError, input_text, parse_prompt, render_messages
from evaluators.prompt.scoring import Scored, ScoringError, build_scorer, needs_labels
from evaluators.prompt.stats import interval, mean
from evaluators.prompt.target import BackgroundLoop, ModelClient, TargetUnusable, model_client

_FAILED_SHOWN = 3  # failed examples quoted in the feedback text
_QUOTE_CHARS = 300


@dataclass(frozen=True)
class _Scoring:
    """What scoring some examples gave: per-example results and the dollars it cost."""

    results: dict[str, ExampleResult]
    cost: float

    def mean_over(self, ids: Sequence[str]) -> float:
        return mean([self.results[i].score for i in ids])


class PromptEvaluator:
    """Scores prompts of one prompt task (see the module docstring); blocking and thread-safe."""

    def __init__(self, options: PromptTaskConfig, *, task_dir: Path, sandbox: Any, context: Any,
                 splits: Splits | None = None):  # fmt: skip
        self.options = options
        self._sandbox = sandbox
        self.splits = splits if splits is not None else load_splits(options.data, task_dir)
        scoring = options.scoring
        if needs_labels(scoring):
            unlabelled = next((e for e in (*self.splits.validation, *self.splits.test) if not e.has_answer), None)
            if unlabelled is not None:
                raise DataError(f"example {unlabelled.id} has no 'answer' (scoring.method {scoring.method} needs one)")
        self._scorer = None if scoring.method == "llm_judge" else build_scorer(scoring, task_dir, sandbox)
        self._loop = BackgroundLoop()
        self.cache = AnswerCache(Path(context.store_dir) / CACHE_FILE)
        target = options.target
        common = {"run_id": context.run_id, "ledger": context.ledger, "cache": self.cache,
                  "record_call": context.record_call}  # fmt: skip
        self.target: ModelClient = model_client(
            name=target.model, api_base=target.api_base, api_key_env=target.api_key_env,
            temperature=target.temperature, max_tokens=target.max_tokens, timeout_seconds=target.timeout_seconds,
            retries=target.retries, concurrency=target.concurrency, purpose="target", **common,
        )  # fmt: skip
        self.judge: Judge | None = None
        if scoring.method == "llm_judge" and scoring.judge is not None:
            judge = scoring.judge
            client = model_client(
                name=judge.model, api_base=judge.api_base, api_key_env=judge.api_key_env, temperature=0.0,
                max_tokens=judge.max_tokens, timeout_seconds=judge.timeout_seconds, retries=judge.retries,
                concurrency=target.concurrency, purpose="judge", **common,
            )  # fmt: skip
            self.judge = Judge(client, judge.rubric, pairwise=judge.pairwise)
        self._lock = threading.Lock()
        self._draws: Counter[str] = Counter()
        self._reference: Prompt | None = None  # pairwise judging: the current best prompt

    # --- the Evaluator protocol ----------------------------------------------------------------

    @property
    def sandbox(self) -> Any:
        return self._sandbox

    def warnings(self) -> list[str]:
        return []

    @property
    def fitness_rule(self) -> str:
        """One line saying where the fitness comes from (the run prints it once)."""
        return (f"the mean score over the validation split ({len(self.splits.validation)} examples, "
                f"{self.options.scoring.method} scoring of {self.target.spec.name}'s answers)")  # fmt: skip

    def evaluate(self, source: str, *, label: str = "", parent: Program | None = None) -> EvalResult:
        started = time.monotonic()
        try:
            prompt = parse_prompt(source, self.options.fields)
        except PromptFormatError as exc:
            stage = StageResult("parse", False, message=str(exc))
            return EvalResult(Status.BUILD_FAILED, error=str(exc), feedback=str(exc), stages=(stage,),
                              seconds=time.monotonic() - started)  # fmt: skip
        with self._lock:
            draw = self._draws[prompt.text] if self.options.target.temperature > 0 else 0
            self._draws[prompt.text] += 1
            if self._reference is None:
                self._reference = prompt
        try:
            result = self._loop.run(self._staged(prompt, parent, draw))
        except (TargetUnusable, ScoringError, BudgetExceeded) as exc:
            stage = StageResult("score", False, message=str(exc))
            return EvalResult(Status.ERROR, error=str(exc), feedback=str(exc), stages=(stage,),
                              seconds=time.monotonic() - started, evaluator_error=True)  # fmt: skip
        pairwise = self.judge is not None and self.judge.pairwise
        if pairwise and result.metrics.get("stage") == 1.0 and (result.fitness or 0) > 0.5:
            with self._lock:
                self._reference = prompt  # it beat the current best on most examples: the new reference
        return replace(result, seconds=time.monotonic() - started)

    def final_report(self, initial: Program, best: Program) -> str | None:
        """The initial and the best prompt on validation and test, with 95% intervals."""
        rows = [("initial prompt", initial)] + ([("best prompt", best)] if best.id != initial.id else [])
        splits = (("validation", self.splits.validation), ("test", self.splits.test))
        try:
            table = []
            pairwise = self.judge is not None and self.judge.pairwise
            reference = parse_prompt(initial.source, self.options.fields) if pairwise else None  # judged against
            for name, program in rows:
                prompt = parse_prompt(program.source, self.options.fields)
                cells = []
                for split_name, examples in splits:
                    scoring = self._loop.run(self._score(prompt, examples, split_name, 0, reference=reference))
                    scores = [scoring.results[e.id].score for e in examples]
                    low, high = interval(scores, seed=self.options.minibatch.seed)
                    cells.append(f"{mean(scores):.3f} [{low:.3f}, {high:.3f}]")
                table.append((name, cells))
        except (TargetUnusable, ScoringError, BudgetExceeded, PromptFormatError) as exc:
            return f"prompt scores at the end are unavailable: {exc}"
        n_val, n_test = len(self.splits.validation), len(self.splits.test)
        width = max(len(c) for _, cells in table for c in cells) + 3
        lines = [
            f"prompt task: {self.options.scoring.method} scoring of {self.target.spec.name}'s answers; "
            "mean score with 95% confidence interval",
            f"{'':16}{f'validation (n={n_val})':<{width}}test (n={n_test}, held out)",
            *(f"{name:<16}{cells[0]:<{width}}{cells[1]}" for name, cells in table),
        ]
        if best.id == initial.id:
            lines.append("no candidate beat the initial prompt")
        spend = f"target model this session: {self.target.calls} calls, ${self.target.cost:.4f}"
        if self.judge is not None:
            spend += f"; judge: {self.judge.client.calls} calls, ${self.judge.client.cost:.4f}"
        lines.append(f"{spend}; {self.cache.hits} answers from the cache")
        return "\n".join(lines)

    def close(self) -> None:
        self._loop.close()
        self.cache.close()

    # --- stages -----------------------------------------------------------------------------------

    async def _staged(self, prompt: Prompt, parent: Program | None, draw: int) -> EvalResult:
        validation = self.splits.validation
        size = self.options.minibatch.size
        started = time.monotonic()
        if parent is None or size >= len(validation):
            scoring = await self._score(prompt, validation, "validation", draw)
            return self._full_result(prompt, scoring, None, [], time.monotonic() - started)
        batch = self._minibatch(prompt)
        ids = [e.id for e in batch]
        child = await self._score(prompt, batch, "minibatch", draw)
        parent_mean, parent_cost = await self._parent_mean(parent, batch)
        child_mean = child.mean_over(ids)
        message = f"minibatch of {len(ids)}: {child_mean:.3f} vs the parent's {parent_mean:.3f}"
        batch_seconds = time.monotonic() - started
        if child_mean < parent_mean:
            stage = StageResult("minibatch", False, batch_seconds, f"{message}: worse, not scored on the rest")
            fitness = child_mean if parent.fitness is None else min(child_mean, parent.fitness)
            metrics = {"minibatch_score": child_mean, "val_n": 0.0, "stage": 0.0,
                       "cost_usd": child.cost + parent_cost, "prompt_chars": float(len(prompt.text))}  # fmt: skip
            feedback = _feedback(f"worse than its parent on a minibatch ({message})", child.results)
            return EvalResult(Status.CORRECT, fitness=fitness, metrics=metrics, feedback=feedback,
                              stages=(stage,), examples=child.results)  # fmt: skip
        rest = [e for e in validation if e.id not in set(ids)]
        full = await self._score(prompt, rest, "validation", draw)
        merged = {i: _as_split(r, "validation") for i, r in child.results.items()} | full.results
        scoring = _Scoring(merged, child.cost + parent_cost + full.cost)
        first = StageResult("minibatch", True, batch_seconds, f"{message}: go on")
        return self._full_result(prompt, scoring, child_mean, [first], time.monotonic() - started - batch_seconds)

    def _full_result(self, prompt: Prompt, scoring: _Scoring, minibatch_mean: float | None,
                     stages: list[StageResult], seconds: float) -> EvalResult:  # fmt: skip
        ids = [e.id for e in self.splits.validation]
        val = scoring.mean_over(ids)
        right = sum(1 for i in ids if scoring.results[i].score >= 1.0)
        summary = f"validation score {val:.3f} ({right}/{len(ids)} examples fully right)"
        metrics = {"val_score": val, "val_n": float(len(ids)), "stage": 1.0, "cost_usd": scoring.cost,
                   "minibatch_score": val if minibatch_mean is None else minibatch_mean,
                   "prompt_chars": float(len(prompt.text))}  # fmt: skip
        return EvalResult(
            Status.CORRECT, fitness=val, metrics=metrics, feedback=_feedback(summary, scoring.results),
            stages=(*stages, StageResult("validation", True, seconds, summary)), examples=scoring.results,
        )

    def _minibatch(self, prompt: Prompt) -> list[Example]:
        """`minibatch.size` validation examples drawn from the seed and the prompt's text."""
        digest = hashlib.sha256(prompt.text.encode("utf-8")).hexdigest()
        rng = random.Random(f"{self.options.minibatch.seed}:{digest}")
        return rng.sample(list(self.splits.validation), self.options.minibatch.size)

    async def _parent_mean(self, parent: Program, batch: list[Example]) -> tuple[float, float]:
        """The parent's mean on `batch` (its stored results, the rest scored now) and its cost."""
        known = {e.id: parent.examples[e.id].score for e in batch if e.id in parent.examples}
        missing = [e for e in batch if e.id not in known]
        cost = 0.0
        if missing:
            try:
                parent_prompt = parse_prompt(parent.source, self.options.fields)
            except PromptFormatError:
                known.update({e.id: 0.0 for e in missing})
            else:
                scoring = await self._score(parent_prompt, missing, "minibatch", 0)
                known.update({i: r.score for i, r in scoring.results.items()})
                cost = scoring.cost
        return mean([known[e.id] for e in batch]), cost

    # --- scoring examples -------------------------------------------------------------------------

    async def _score(self, prompt: Prompt, examples: Sequence[Example], split: str, draw: int,
                     reference: Prompt | None = None) -> _Scoring:  # fmt: skip
        """Every example's answer and score, concurrently (the gateway limits requests in flight)."""
        if self.judge is not None and self.judge.pairwise and reference is None:
            with self._lock:
                reference = self._reference
        outcomes = await asyncio.gather(*(self._score_one(prompt, e, split, draw, reference) for e in examples))
        return _Scoring({e.id: r for e, (r, _) in zip(examples, outcomes)}, sum(c for _, c in outcomes))

    async def _score_one(self, prompt: Prompt, example: Example, split: str, draw: int,
                         reference: Prompt | None) -> tuple[ExampleResult, float]:  # fmt: skip
        answer = await self.target.answer(render_messages(prompt, example), example_id=example.id, draw=draw)
        cost = answer.cost
        if answer.error is not None:
            scored = Scored(0.0, f"the target model gave no answer: {answer.error}")
        elif self.judge is not None:
            reference_text = None
            if self.judge.pairwise and reference is not None and reference.text != prompt.text:
                ref = await self.target.answer(render_messages(reference, example), example_id=example.id)
                cost += ref.cost
                reference_text = ref.text if ref.error is None else None
            elif self.judge.pairwise:
                reference_text = answer.text
            scored, judge_cost = await self.judge.score(example, answer.text, reference_text)
            cost += judge_cost
        elif self.options.scoring.method == "custom":
            scored = await asyncio.to_thread(self._scorer, example, answer.text)
        else:
            scored = self._scorer(example, answer.text)
        result = ExampleResult(
            score=scored.score, output=answer.text[: ExampleResult.OUTPUT_CHARS], feedback=scored.feedback,
            expected=example.answer_text(), input=input_text(example)[: ExampleResult.INPUT_CHARS], split=split,
        )  # fmt: skip
        return result, cost


def _as_split(result: ExampleResult, split: str) -> ExampleResult:
    return replace(result, split=split)


def _feedback(summary: str, results: dict[str, ExampleResult]) -> str:
    """The summary line and a few examples the prompt got wrong, for the proposer."""
    failed = [(i, r) for i, r in results.items() if r.score < 1.0]
    lines = [summary]
    if failed:
        lines.append(f"{len(failed)} example(s) not fully right; for instance:")
    for ident, r in failed[:_FAILED_SHOWN]:
        expected = "" if r.expected is None else f"; expected: {_quote(r.expected)}"
        lines.append(f"- {ident}: input: {_quote(r.input)}{expected}; answer: {_quote(r.output)}; {r.feedback}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 3] + "...")
