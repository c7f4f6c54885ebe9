"""The checked settings of a task made from a KernelBench problem: CPU shape, further shapes, inputs.

Each setting is proposed from the file's source (kernelbench_shapes.py) and kept only once the
reference has run with it, in a child process with a time limit (reference_probe.py):

- `cpu_shape`: the first shape, in this order, under which the reference runs, the inputs have
  at most MAX_INPUTS elements and the judge's reference work for one trial takes at most
  SLOW_SECONDS: every size capped (at 64, 32, 16, 8: equal sizes stay equal), the file's own
  shape, every size divided by one factor (2, 4, ...: proportions kept, for operators that need
  them), then caps of 4, 2, 1. When none does, the smallest that runs with at most
  HARD_MAX_INPUTS elements, narrowed one size at a time, with a note saying why; the reference
  is never run on more. "Sizes" are constants of at least 16 and batch sizes
  (kernelbench_shapes.ProblemShapes.shrinkable): kernel sizes, strides and paddings are kept.
- `odd_shapes`: two further shapes of sizes that are not powers of two, smaller than the CPU
  shape's (a size the CPU shape made tiny gets another tiny one, still below the file's), for
  the judge to catch kernels specialised to one shape: every size varied first, then fewer
  (a group count or a pooled dimension can refuse a size), then one at a time; or a note
  saying why there are none.
- `inputs`: the adversarial distributions (signed, negative, large, edge values) under which
  the reference raises nothing and gives finite outputs at the CPU shape; each one left out is
  named with the reason.

A reference that fails at every shape tried is the task's error: `ConfigError`, naming the
exception (new-task then exits 2 and writes nothing).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import ConfigError
from agent.kernelbench_shapes import MIN_VARIED, ProblemShapes
from agent.reference_probe import ProbeAnswer, ReferenceProbe
from evaluators.kernel import further_shapes
from evaluators.kernel.shapes import plain

MAX_INPUTS = 1 << 16
"""Input elements aimed at for the CPU shape (65,536): Triton's interpreter runs every candidate
there, a few times per evaluation."""
HARD_MAX_INPUTS = 1 << 20
"""The reference is never run on more input elements than this (1,048,576)."""
MAX_WEIGHTS = 1 << 22
"""Nor with more parameter elements than this."""
SLOW_SECONDS = 5.0
"""The judge's reference work for one trial (build, two runs, a float64 run) at the CPU shape."""
CAPS = (64, 32, 16, 8, 4, 2, 1)
MAX_NARROWING_QUESTIONS = 60
MAX_TIMEOUTS = 2  # shapes that got no answer in time before new-task gives up on the reference
MAX_ODD_FAILURES = 40
ODD_SHAPES = 2

DISTRIBUTIONS: tuple[tuple[dict[str, Any], str], ...] = (
    ({"scale": 2.0, "offset": -1.0}, "signed values (torch.rand's [0, 1) becomes [-1, 1))"),
    ({"scale": -100.0}, "negative values, large"),
    ({"scale": 1000.0}, "large values"),
    ({"edge": True}, "edge values: zeros, +-1e-6, +-large"),
)
"""Tried in turn at the CPU shape; trials 2, 3, ... use the ones kept (trial 1 takes the inputs as
get_inputs() makes them: KernelBench's are mostly torch.rand, all non-negative)."""


@dataclass(frozen=True)
class DerivedSettings:
    cpu_shape: dict[str, Any] | None  # None: no CPU shape could be found; {}: the reference's own shape
    cpu_inputs: int | None  # input elements at the CPU shape
    cpu_seconds: float | None
    cpu_note: str  # a comment for task.yaml and the console ("" when nothing to say)
    odd_shapes: tuple[dict[str, Any], ...]
    odd_note: str
    inputs: tuple[dict[str, Any], ...]
    left_out: tuple[tuple[dict[str, Any], str, str], ...]  # (distribution, what it is, why it is not used)
    inputs_note: str


def _key(shape: dict[str, Any]) -> str:
    return json.dumps(shape, sort_keys=True)


def _shown(shape: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in shape.items()) + "}" if shape else "the file's own shape"


class _Search:
    def __init__(self, reference: Path, shapes: ProblemShapes, probe: ReferenceProbe) -> None:
        self.reference, self.shapes, self.probe = reference, shapes, probe
        self.names = sorted(shapes.depends_on)

    def ask(self, shape: dict[str, Any], limit: int = MAX_INPUTS, dist: dict[str, Any] | None = None,
            meta: bool = False) -> ProbeAnswer:
        answer = self.probe.ask(shape, dist=dist, meta=meta, max_inputs=limit, max_weights=MAX_WEIGHTS,
                                names=self.names)
        if answer.stage == "load":
            raise ConfigError(f"{self.reference}: the reference does not load: {answer.error}")
        return answer

    def own_shape(self) -> None:
        """The forward at the file's own shape, on the meta device: shapes that do not fit there (hidden at a
        CPU shape that happens to make two sizes equal) are the task's error too."""
        answer = self.ask({}, meta=True)
        if not answer.ok and answer.stage == "run":
            raise ConfigError(f"{self.reference}: the reference fails at its own shape (run on torch's meta device, "
                              f"without data): {answer.error}")

    def cpu_shape(self) -> tuple[dict[str, Any], dict[int, int], ProbeAnswer, str] | None:
        """(shape, mapping, answer, note) of the CPU shape; None when every shape tried is too big to run."""
        candidates: list[tuple[dict[str, Any], dict[int, int]]] = []
        caps = [self.shapes.cap_mapping(cap) for cap in CAPS]
        proportional = [self.shapes.proportional_mapping(2 ** k) for k in range(1, 16)]
        # caps down to 8, the file's own shape, sizes divided by one factor, then caps to 4, 2, 1 (sizes
        # of 1 broadcast, which can hide a mismatch)
        mappings = [c for c, cap in zip(caps, CAPS) if cap >= 8] + [{}] + proportional + \
            [c for c, cap in zip(caps, CAPS) if cap < 8]
        for mapping in mappings:
            shape = self.shapes.shape_for(mapping)
            if _key(shape) not in {_key(s) for s, _ in candidates}:
                candidates.append((shape, mapping))
        answers: list[ProbeAnswer] = []
        for shape, mapping in candidates:
            answer = self.ask(shape)
            answers.append(answer)
            if _fits(answer):
                return shape, mapping, answer, ""
            if sum(a.stage == "time" for a in answers) >= MAX_TIMEOUTS:
                break  # it hangs, or is far too slow even at small shapes: each more try costs the time limit
        failed = [(candidates[i][0], a) for i, a in enumerate(answers) if not a.ok]
        fallback = sorted((a.inputs, i) for i, a in enumerate(answers)
                          if a.ok and a.inputs is not None and a.inputs <= HARD_MAX_INPUTS)
        for _, i in fallback:  # over the aim, or slow: the smallest that runs, then narrowed size by size
            shape, mapping = candidates[i]
            answer = answers[i] if answers[i].ran else self.ask(shape, HARD_MAX_INPUTS)
            if answer.ok and answer.ran:
                return self._narrow(shape, mapping, answer)
            failed.append((shape, answer))
        if failed:
            shape, answer = failed[0]
            raise ConfigError(f"{self.reference}: the reference fails at the CPU shape {_shown(shape)}: {answer.error}")
        return None

    def _narrow(self, shape: dict[str, Any], mapping: dict[int, int],
                answer: ProbeAnswer) -> tuple[dict[str, Any], dict[int, int], ProbeAnswer, str]:
        """Halve one size at a time (the largest first), keeping each halving under which the reference
        still runs with fewer input elements (or faster), until the shape fits or nothing helps."""
        asked = 0
        while not _fits(answer) and asked < MAX_NARROWING_QUESTIONS:
            sizes = sorted((v for v in self.shapes.leaves if self.shapes.shrinkable(v) and mapping.get(v, v) > 1),
                           key=lambda v: -mapping.get(v, v))
            for v in sizes:
                trial = {**mapping, v: mapping.get(v, v) // 2}
                trial_shape = self.shapes.shape_for(trial)
                asked += 1
                got = self.ask(trial_shape, HARD_MAX_INPUTS)
                if answer.inputs is not None and answer.inputs > MAX_INPUTS:
                    better = got.inputs is not None and got.inputs < answer.inputs
                else:  # slow
                    better = got.seconds < 0.9 * answer.seconds
                if got.ok and got.ran and better:
                    shape, mapping, answer = trial_shape, trial, got
                    break
            else:
                break
        if _fits(answer):
            return shape, mapping, answer, ""
        why = (f"the reference takes {answer.seconds:.1f} s per trial at the CPU shape"
               if answer.seconds > SLOW_SECONDS else
               f"{answer.inputs:,} input elements at the CPU shape, over the {MAX_INPUTS:,} aimed at: no smaller shape "
               "that runs could be made (sizes written as numbers inside the file's functions cannot be changed)")
        return shape, mapping, answer, why

    def odd_shapes(self, cpu: dict[str, Any], base: dict[int, int]) -> tuple[tuple[dict[str, Any], ...], str]:
        if not self.shapes.leaves:
            return (), "the shape cannot be varied: no integer constant of the file drives the inputs"
        kept: list[dict[str, Any]] = []
        errors: list[str] = []
        for shape, label, scope in further_shapes.candidates(self.shapes, cpu, base):
            if len(errors) >= MAX_ODD_FAILURES:
                break
            answer = self.ask(shape, HARD_MAX_INPUTS)
            if answer.ok and answer.ran:
                kept.append(shape)
                if len(kept) == ODD_SHAPES:
                    return tuple(kept), ""
            else:
                errors.append(f"{_shown(shape)} ({label}, {scope}): {answer.error or 'too big to run'}")
        if not errors and not kept:
            return (), (f"the shape cannot be varied: no size of at least {MIN_VARIED} (nor a shrunk one) drives the "
                        "inputs")
        if not errors:
            return tuple(kept), f"only {len(kept)} further shape: no other smaller shape could be made"
        head = "no further shape ran" if not kept else f"only {len(kept)} further shape ran"
        return tuple(kept), f"{head}; {len(errors)} tried, the first failed: {errors[0]}"

    def distributions(self, cpu: dict[str, Any], baseline: ProbeAnswer) -> tuple[list, list, str]:
        if not baseline.floating:
            return [], [], "no floating-point input: the input distributions do not apply"
        if baseline.nonfinite:
            return [], [], ("the reference's outputs are not finite on get_inputs() as they are "
                            f"({baseline.nonfinite}): "
                            "no further distribution is used")
        kept, left_out = [], []
        for dist, label in DISTRIBUTIONS:
            answer = self.ask(cpu, HARD_MAX_INPUTS, dist)
            if answer.ok and answer.ran and not answer.nonfinite:
                kept.append(dist)
            else:
                reason = f"the reference's {answer.nonfinite}" if answer.nonfinite else \
                    f"the reference fails: {answer.error or 'not run'}"
                left_out.append((dist, label, reason))
        return kept, left_out, ""


def _fits(answer: ProbeAnswer) -> bool:
    return answer.ok and answer.ran and answer.seconds <= SLOW_SECONDS and \
        (answer.inputs is None or answer.inputs <= MAX_INPUTS)


def derive_settings(reference: Path, tree: ast.Module, *, timeout: float = 60.0) -> DerivedSettings:
    """Run the reference (in a child process) to choose and check the task's CPU shape, further shapes and inputs."""
    shapes = ProblemShapes(tree)
    with ReferenceProbe(reference.resolve(), timeout=timeout) as probe:
        search = _Search(reference, shapes, probe)
        search.own_shape()
        found = search.cpu_shape()
        if found is None:
            note = (f"no CPU shape found: the inputs stay over {HARD_MAX_INPUTS:,} elements at every size tried "
                    "(sizes written as numbers inside the file's functions cannot be changed); set kernel.cpu_shape "
                    "by hand to run without a GPU")
            return DerivedSettings(None, None, None, note, (), "no further shape: no CPU shape to start from", (), (),
                                   "input distributions not checked: the reference was not run")
        cpu, mapping, answer, cpu_note = found
        mismatch = {k: v for k, v in shapes.values_under(mapping).items() if k in answer.values
                    and plain(v) != answer.values[k]}
        if mismatch:
            shown = ", ".join(f"{k} is {answer.values[k]}, not {plain(v)}" for k, v in mismatch.items())
            cpu_note = "; ".join(filter(None, [cpu_note, f"check the sizes: in the judge {shown}"]))
        odd, odd_note = search.odd_shapes(cpu, mapping)
        kept, left_out, inputs_note = search.distributions(cpu, answer)
    return DerivedSettings(cpu, answer.inputs, answer.seconds, cpu_note, odd, odd_note, tuple(kept), tuple(left_out),
                           inputs_note)
