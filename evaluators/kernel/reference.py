"""The judge's side of the reference: answers in float64 and clean timings, out of the candidate's reach.

This runs in the judge's process, which never imports candidate code, so nothing a
candidate patches can change the reference's answers or its clean timings. For each trial
the reference model is built with the trial's weights and run twice on the trial's inputs:
in float64 (the answer every candidate output is compared with) and in its own dtypes (what
the outputs' dtypes, shapes and devices must be, whether it aliases or modifies its inputs,
and its own error, which sets the floor of the tolerance).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from evaluators.kernel import correctness, inputs, roofline, timing


def load_module(path: str, name: str = "evoforge_reference") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for required in ("Model", "get_inputs", "get_init_inputs"):
        if not hasattr(module, required):
            raise ImportError(f"the reference {path} defines no {required} (KernelBench format)")
    return module


@dataclass
class Expected:
    spec: list[dict[str, Any]]
    answers: list[Any]  # float64 (or float32 where float64 is not supported), on the device
    natives: list[Any]
    native_err: float
    may_alias: bool
    may_mutate: bool
    fingerprint: list[float]
    precision: str  # "float64" normally


def _to64(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(torch.float64)
    return value


def _clone(values: list[Any]) -> list[Any]:
    import torch

    return [v.clone() if isinstance(v, torch.Tensor) else v for v in values]


class Reference:
    def __init__(self, path: str, device: str) -> None:
        self.module = load_module(path)
        self.device = device
        self._defaults: dict[str, Any] = {}
        self._repeatable = False  # checked on the first trial

    def _check_repeatable(self, model: Any, pristine: list[Any], native: list[Any]) -> None:
        """The reference must give the same outputs for the same inputs, or no candidate can be judged.

        Random operators (functional dropout, torch.rand in forward) or state carried between
        calls fail here with a reason, instead of widening the tolerance (which follows the
        reference's own error) until anything passes.
        """
        again = correctness.flatten(model(*_clone(pristine))) or []
        for k, (first, second) in enumerate(zip(native, again)):
            if second.shape != first.shape:
                worst = f"output {k} had shape {list(first.shape)}, then {list(second.shape)}"
            else:
                atol, rtol = correctness.tolerance(str(first.dtype).removeprefix("torch."))
                verdict = correctness.compare(second, first, atol, rtol, f"output {k}")
                worst = None if verdict.ok else verdict.worst
            if worst:
                raise ValueError("the reference gives different outputs for the same inputs (random operators "
                                 f"in forward, or state kept between calls?): {worst}")
        self._repeatable = True

    def set_shape(self, shape: dict[str, Any] | None) -> None:
        inputs.set_shape(self.module, shape, self._defaults)

    def model(self, wseed: int) -> Any:
        init = inputs.init_inputs(self.module, wseed, self.device)
        return inputs.build_model(self.module.Model, init, wseed, self.device)

    def expected(self, seed: int, wseed: int, dist: inputs.Distribution | None) -> Expected:
        """The float64 answer and the output contract for one trial's inputs and weights."""
        import torch

        model = self.model(wseed)
        args = inputs.make_inputs(self.module, seed, self.device, dist)
        pristine = _clone(args)
        with torch.no_grad():
            result = model(*args)
            native = correctness.flatten(result)
            if native is None:
                raise TypeError("the reference's forward returns neither a tensor nor a tuple of tensors")
            if not self._repeatable:
                self._check_repeatable(model, pristine, native)
            mutated = correctness.inputs_changed(args, pristine) is not None
            aliased = any(correctness._overlaps(o, a) for o in native for a in args
                          if isinstance(a, torch.Tensor) and a.numel() and o.numel())
            precision = "float64"
            try:
                answers = correctness.flatten(copy.deepcopy(model).double()(*[_to64(a) for a in _clone(pristine)]))
            except RuntimeError:
                precision = "float32"
                answers = correctness.flatten(copy.deepcopy(model).float()(*[
                    a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in _clone(pristine)]))
        answers = [a.double() if a.is_floating_point() else a for a in answers]
        native_err = max((correctness.native_error(n, a) for n, a in zip(native, answers)), default=0.0)
        return Expected(correctness.spec_of(native, correctness.container_of(result)), answers, [n.detach() for n in native], native_err,
                        aliased, mutated, inputs.fingerprint(pristine), precision)

    def work(self, wseed: int, seed: int) -> tuple[float, float, str]:
        """(bytes, flops, dtype) estimated at the current shape (see roofline.py)."""
        import torch

        model = self.model(wseed)
        args = inputs.make_inputs(self.module, seed, self.device)
        with torch.no_grad():
            outputs = correctness.flatten(model(*args)) or []
        moved, flops = roofline.estimate(model, args, outputs)
        return moved, flops, roofline.main_dtype(args)

    def compiled_model(self, wseed: int, seed: int) -> Any:
        """torch.compile of the reference model, compiled by one call (so timing it later compiles nothing)."""
        import torch

        model = torch.compile(self.model(wseed))
        with torch.no_grad():
            model(*inputs.make_inputs(self.module, seed, self.device))
        return model

    def time_alone(self, wseed: int, seeds: list[int], options: timing.TimingOptions,
                   model: Any = None) -> dict[str, Any]:
        """Time the reference by itself (or `model`, e.g. its compiled form), with fresh inputs per call."""
        model = self.model(wseed) if model is None else model
        pool = [inputs.make_inputs(self.module, s, self.device) for s in seeds]

        def fresh(i: int) -> list[Any]:
            return [inputs.perturb(a) for a in pool[i % len(pool)]]

        return timing.measure({"reference": model}, fresh, None, options, self.device)

