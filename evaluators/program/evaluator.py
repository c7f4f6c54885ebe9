"""Evaluate a program task's candidate with the user's OpenEvolve-style evaluator, in a sandbox.

The controller side: check a Python candidate's syntax (without running it), run the harness
(`evaluators.program.harness`) with the candidate in a sandbox job, and turn the sandbox's
outcome and the harness's result into an `EvalResult`:

- correct: the fitness is what the scorer plugin returns for the metrics, when the task sets
  one; else the metric named by `evaluate.fitness_metric`; else the evaluator's finite
  `combined_score`; else, as OpenEvolve, the mean of the numeric metrics other than the
  MAP-Elites descriptors (evaluators/program/openevolve_rules.py), said in the feedback;
- wrong: the evaluator returned a non-empty "error" text, or a fitness metric that is not a
  finite number, or its cascade stopped before the named fitness metric was measured;
- error: the evaluator could not be loaded, raised or returned something that is not a dict
  or an EvaluationResult, returned no value of the named fitness metric, the scorer failed,
  the job crashed or was killed for memory or output, or no result arrived;
- timeout: the wall-clock limit was hit;
- build_failed: the candidate is not valid Python.

Whose fault an error is (`EvalResult.evaluator_error`): the evaluator's when its file cannot be
loaded, it defines no `evaluate`, it returns a non-dict or lacks the named fitness metric,
the scorer fails, or `evaluate` raises without the candidate being involved (harness.py:
`from_candidate` looks for the candidate's file in the traceback and in the commands of
subprocess errors). Everything else is the candidate's: an "error" text, a non-finite score,
an exception raised through the candidate's code or by a subprocess running it, a timeout, a
crash or kill of the job, a syntax error. The controller stops a new run whose initial program
gets an evaluator error, before any LLM call.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archives.languages import language
from archives.records import EvalResult, Program, StageResult, Status
from evaluators.base import (FEEDBACK_CHARS, join_feedback, numbers_and_text, one_line, output_tails, read_job,
                             stages_from, syntax_error, syntax_failure)
from evaluators.program.openevolve_rules import fallback_fitness
from evaluators.program.runtime import check_requirements, evaluator_runtime
from evaluators.scorers import Score, Scorer, ScorerError, load_scorer, validated
from sandbox.base import Limits, Sandbox, SandboxJob, SandboxOutcome

if TYPE_CHECKING:
    from agent.config import TaskConfig

__all__ = ["ProgramEvaluator", "program_file_name", "syntax_error"]

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # holds evaluators/ and sandbox/


def program_file_name(language_name: str) -> str:
    """The file name a candidate gets in the job folder: program.py, program.cpp, ..."""
    return f"program.{language(language_name).extension}"


class ProgramEvaluator:
    """Evaluates candidates of a program task; `evaluate` is blocking and thread-safe."""

    def __init__(self, task: TaskConfig, sandbox: Sandbox, scorer: Scorer | None = None) -> None:
        self._task = task
        self._sandbox = sandbox
        if scorer is not None:
            self._scorer = validated(scorer)
        elif task.scorer:
            self._scorer = load_scorer(task.scorer, task.task_dir)
        else:
            self._scorer = None
        cfg = task.evaluate
        self._limits = Limits(
            wall_seconds=cfg.timeout_seconds,
            memory_mb=cfg.memory_mb,
            max_processes=cfg.max_processes,
            output_bytes=cfg.output_bytes,
        )
        self._python = task.language.strip().lower() == "python"
        self._program = program_file_name(task.language)
        argv = [sys.executable, "-m", "evaluators.program.harness",
                "--evaluator", str(Path(task.evaluator).resolve()), "--program", self._program]
        if cfg.cascade_thresholds:
            argv += ["--thresholds", ",".join(repr(float(t)) for t in cfg.cascade_thresholds)]
        if not cfg.cascade_evaluation:
            argv.append("--no-cascade")
        self._argv = tuple(argv)
        self._fitness_metric = cfg.fitness_metric
        # OpenEvolve leaves its MAP-Elites feature dimensions out of the mean fitness: so do we.
        self._feature_names = tuple(d.name for d in task.search.map_elites.descriptors)
        paths = [_PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        self._env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
        # What a container must show the job, read-only: the harness's packages and the
        # evaluator's folder (it may import or read files beside it).
        packages = [os.path.join(_PACKAGE_ROOT, name) for name in ("evaluators", "sandbox")]
        self._read_paths = (*packages, str(Path(task.evaluator).resolve().parent))
        # The evaluator's own Python, PYTHONPATH folders and packages (evaluate.python/venv/pythonpath).
        self._runtime = evaluator_runtime(task)  # RuntimeProblem: an interpreter that cannot be used
        if self._runtime.declared or self._runtime.pythonpath:
            self._argv = (self._runtime.python, *self._argv[1:])
            ordered = [_PACKAGE_ROOT, *self._runtime.pythonpath, *self._env["PYTHONPATH"].split(os.pathsep)]
            self._env = {**self._env, **self._runtime.env, "PYTHONPATH": os.pathsep.join(dict.fromkeys(ordered))}
            self._read_paths = (*self._read_paths, *self._runtime.read_paths)

    def check_needs(self) -> None:
        """Raise RuntimeProblem when the evaluator's Python, in the sandbox, lacks a package of
        evaluate.requirements (see evaluators/program/runtime.py)."""
        check_requirements(self._task, self._sandbox, self._runtime, self._env, self._read_paths)

    @property
    def fitness_rule(self) -> str:
        """One line saying where the fitness comes from (the run prints it once)."""
        if self._scorer is not None:
            return f"the scorer {self._task.scorer or '(given)'}, from the evaluator's metrics"
        if self._fitness_metric:
            return f"the metric {self._fitness_metric!r} (evaluate.fitness_metric)"
        left_out = ", ".join(self._feature_names)
        without = f" except the descriptors {left_out}" if left_out else ""
        return (f"combined_score; without one, the mean of the numeric metrics{without} "
                "(OpenEvolve's rule; set evaluate.fitness_metric to name one)")

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox the candidates run in (the session cancels its jobs on Ctrl-C)."""
        return self._sandbox

    def warnings(self) -> list[str]:
        return []

    def evaluate(self, source: str, *, label: str = "", parent: Program | None = None) -> EvalResult:
        """Judge one candidate (`parent` is not used: a program's score is its own)."""
        start = time.monotonic()
        failed = syntax_failure(source, self._program, start) if self._python else None
        if failed is not None:
            return failed
        job = SandboxJob(argv=self._argv, files={self._program: source}, env=self._env,
                         limits=self._limits, label=label, read_paths=self._read_paths)
        outcome = self._sandbox.run(job)  # SandboxError / SandboxUnavailable: the sandbox's, not the candidate's
        backend = outcome.backend or self._sandbox.name
        return replace(self.judge(outcome), seconds=time.monotonic() - start, backend=backend)

    def judge(self, outcome: SandboxOutcome) -> EvalResult:
        """The EvalResult for a finished sandbox job running the harness."""
        payload = read_job(outcome, self._limits, "the evaluator")
        if isinstance(payload, EvalResult):
            return payload
        tails = output_tails(outcome)
        try:
            got = _parse(payload)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            error = f"the evaluator's result is malformed: {type(exc).__name__}: {exc}"
            return EvalResult(Status.ERROR, error=error, feedback=join_feedback([error, tails]))

        stages, metrics, text = got.stages, got.metrics, got.text
        failed = next((s for s in stages if not s.ok), None)
        feedback_parts = [_text_block(text), "\n".join(got.notes)]
        if failed is not None and failed.name == "load":
            error = f"could not load the evaluator: {failed.message}"
            return _result(Status.ERROR, error, [error, failed.log, tails], stages, evaluator_error=True)
        if text.get("error", "").strip():
            error = one_line(text["error"])
            return _result(Status.WRONG, error, [*feedback_parts, tails], stages, metrics)
        if failed is not None:
            if not failed.message:
                error = f"stage {failed.name} failed"
            elif failed.log:  # a traceback: it raised
                error = f"the evaluator raised {failed.message}"
            else:  # it returned something that is not a dict
                error = f"the evaluator's {failed.message}"
            return _result(Status.ERROR, error, [error, failed.log, *feedback_parts, tails], stages,
                           evaluator_error=got.faults.get(failed.name) == "evaluator")
        chosen = self._fitness(got)
        if isinstance(chosen, EvalResult):
            return replace(chosen, feedback=join_feedback([chosen.feedback, *feedback_parts, tails]))
        score, basis = chosen
        if basis:
            feedback_parts.append(basis)
        stage_notes = [f"{s.name}: {s.message}" for s in stages if s.message]
        return EvalResult(
            Status.CORRECT,
            fitness=score.fitness,
            metrics=metrics,
            descriptors=dict(score.descriptors),
            feedback=join_feedback([*feedback_parts, *stage_notes, tails]),
            stages=stages,
        )

    def _fitness(self, got: _Payload) -> tuple[Score, str] | EvalResult:
        """The score of a passed program and a line saying how it was made (or "" for plain
        combined_score), or the failed EvalResult when there is none."""
        stages, metrics = got.stages, got.metrics
        name = self._fitness_metric or "combined_score"
        if name in got.invalid:
            error = f"the evaluator returned {name} = {got.invalid[name]}, not a finite number"
            return _result(Status.WRONG, error, [error], stages, metrics)
        if self._scorer is not None:
            try:
                return self._scorer(dict(metrics)), ""
            except ScorerError as exc:
                error = one_line(str(exc))
                return _result(Status.ERROR, error, [error], stages, metrics, evaluator_error=True)
        if self._fitness_metric:
            if name in metrics:
                return Score(metrics[name]), f"fitness: {name} (evaluate.fitness_metric)"
            names = ", ".join(sorted(metrics)) or "none"
            if got.stopped_early:
                error = f"the cascade stopped before {name} (evaluate.fitness_metric) was measured"
                return _result(Status.WRONG, error, [error], stages, metrics)
            error = f"the evaluator returned no {name} (evaluate.fitness_metric); its metrics: {names}"
            return _result(Status.ERROR, error, [error], stages, metrics, evaluator_error=True)
        if "combined_score" in metrics:
            return Score(metrics["combined_score"]), ""
        infinite = sorted(k for k, v in got.invalid.items() if "inf" in v and k not in self._feature_names)
        if infinite:
            error = f"no combined_score, and the metric {infinite[0]} = {got.invalid[infinite[0]]} is not finite"
            return _result(Status.WRONG, error, [error], stages, metrics)
        fallback = fallback_fitness(metrics, self._feature_names)
        if not fallback.names:
            return Score(0.0), "fitness: 0 (no combined_score and no numeric metrics; OpenEvolve's rule)"
        return Score(fallback.fitness), (f"fitness: the mean of {', '.join(fallback.names)} "
                                         "(no combined_score; OpenEvolve's rule)")


@dataclass(frozen=True)
class _Payload:
    """What the harness sent, read and checked."""

    stages: tuple[StageResult, ...]
    metrics: dict[str, float]
    text: dict[str, str]
    invalid: dict[str, str]  # numbers that are not finite, as text
    notes: list[str]
    faults: dict[str, str]  # stage name -> "evaluator" | "candidate", for stages that raised
    stopped_early: bool  # a cascade stage missed its threshold


def _parse(payload: dict[str, Any]) -> _Payload:
    raw_stages = list(payload.get("stages", []))
    metrics, text = numbers_and_text(payload)
    return _Payload(
        stages=stages_from(payload),
        metrics=metrics,
        text=text,
        invalid={str(k): str(v) for k, v in dict(payload.get("invalid", {})).items()},
        notes=[str(n) for n in payload.get("notes", [])][:50],
        faults={str(s["name"]): str(s["fault"]) for s in raw_stages if s.get("fault")},
        stopped_early=bool(payload.get("stopped_early", False)),
    )


def _result(status: str, error: str, parts: list[str], stages: tuple[StageResult, ...],
            metrics: dict[str, float] | None = None, *, evaluator_error: bool = False) -> EvalResult:
    return EvalResult(status, metrics=metrics or {}, feedback=join_feedback(parts), error=error, stages=stages,
                      evaluator_error=evaluator_error)


def _text_block(text: dict[str, str]) -> str:
    block = "\n".join(f"{key}: {value}" for key, value in text.items())
    return block if len(block) <= FEEDBACK_CHARS // 2 else block[: FEEDBACK_CHARS // 2] + " [...]"
