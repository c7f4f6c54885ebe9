"""Load a reference/candidate pair, give both the same random weights, and compare them.

Used by bench/kernels.py (trusted, in-process measurements beside the judge's) and by the CPU
check in tests/bench. This is not the judge (evaluators/kernel/ is): it imports the candidate
into the calling process, so it is only for candidates we wrote ourselves.
"""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.ops.catalog import Op
from evaluators.kernel.correctness import TOLERANCES  # |out - ref64| <= atol + rtol * |ref64|, by dtype


def load_module(path: Path, name: str, sizes: dict[str, int] | None = None) -> ModuleType:
    """Import `path` as a fresh module called `name`, then override its size globals."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for key, value in (sizes or {}).items():
        if not hasattr(module, key):
            raise AttributeError(f"{path} has no size global {key!r}")
        setattr(module, key, value)
    return module


def build_pair(op: Op, *, device: str, seed: int, sizes: dict[str, int] | None = None,
               candidate: Path | None = None) -> tuple[Any, Any, ModuleType]:
    """(reference Model, candidate ModelNew, reference module) with identical random weights."""
    import torch

    ref = load_module(op.reference, f"bench_ref_{op.name}", sizes)
    new = load_module(candidate or op.candidate, f"bench_new_{op.name}")
    torch.manual_seed(seed)
    init = ref.get_init_inputs()
    model = ref.Model(*init)
    model_new = new.ModelNew(*init)
    with torch.no_grad():  # random weights, not the defaults (ones would hide a missing scale)
        for param in model.parameters():
            param.copy_(torch.randn_like(param))
    model_new.load_state_dict(model.state_dict())
    return model.to(device), model_new.to(device), ref


def make_inputs(ref: ModuleType, *, device: str, seed: int, scale: float = 1.0, offset: float = 0.0) -> list[Any]:
    """The reference's own inputs under `seed`, floating ones moved to scale*x + offset."""
    import torch

    torch.manual_seed(seed)
    inputs = []
    for x in ref.get_inputs():
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            x = (x.float() * scale + offset).to(x.dtype)
        inputs.append(x.to(device) if isinstance(x, torch.Tensor) else x)
    return inputs


def fp64_reference(model: Any, inputs: list[Any]) -> Any:
    """The reference's output computed in float64 on copies of the inputs."""
    import torch

    model64 = copy.deepcopy(model).double()
    args = [x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs]
    with torch.no_grad():
        return model64(*args)


def mismatch(out: Any, expected: Any) -> str | None:
    """None when `out` matches the fp64 `expected` within the dtype's tolerance, else why not."""
    import torch

    if type(out) is not torch.Tensor:
        return f"output is a {type(out).__name__}, not a torch.Tensor"
    if out.shape != expected.shape:
        return f"shape {tuple(out.shape)}, expected {tuple(expected.shape)}"
    dtype = str(out.dtype).removeprefix("torch.")
    if dtype not in TOLERANCES:
        return f"unexpected output dtype {dtype}"
    atol, rtol = TOLERANCES[dtype]
    got = out.detach().double().cpu()
    want = expected.detach().cpu()
    if not torch.isfinite(got).all():
        return "output holds NaN or Inf"
    excess = (got - want).abs() - (atol + rtol * want.abs())
    if (excess > 0).any():
        worst = int(excess.flatten().argmax())
        return (f"{int((excess > 0).sum())} of {got.numel()} elements out of tolerance; worst at flat index "
                f"{worst}: {got.flatten()[worst].item():.6g} vs {want.flatten()[worst].item():.6g}")
    return None


def least_bytes(op: Op) -> int:
    """Inputs + parameters + outputs, in bytes, at the benchmark sizes (shapes only: meta tensors)."""
    import torch

    ref = load_module(op.reference, f"bench_meta_{op.name}")
    with torch.device("meta"):
        model = ref.Model(*ref.get_init_inputs())
        inputs = ref.get_inputs()
        out = model(*inputs)
    tensors = [*inputs, *model.parameters(), out]
    return sum(t.numel() * t.element_size() for t in tensors)
