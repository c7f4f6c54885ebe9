"""Is a candidate's output right? Tolerances by dtype, value comparison, structural checks.

The judge compares the candidate's outputs with the reference run in float64 on the same
inputs (`compare`). The candidate's process checks what only it can see on the live objects
(`structure_problem`, `inputs_changed`) and poisons the allocator's free memory before every
call (`poison`), so an output left unwritten shows up as NaN or garbage.

Tolerance table (|out - ref64| <= atol + rtol * |ref64| for every element):

| output dtype | atol | rtol |
| --- | --- | --- |
| float64 | 1e-8 | 1e-7 |
| float32 | 1e-4 | 1e-4 |
| float16, bfloat16 | 1e-2 | 1e-2 |
| float8 (e4m3, e5m2) | 1e-1 | 1e-1 |
| integers, bool | 0 | 0 (exact) |

A task may override atol and rtol (`kernel.atol`, `kernel.rtol`). atol is also raised to 4x
the largest error of the reference itself run in the output's dtype, so a candidate needs to
be about as accurate as the reference, never more. NaN and infinity must sit at the same
positions (same sign) as in the float64 reference; elsewhere values must be finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-8, 1e-7),
    "float32": (1e-4, 1e-4),
    "float16": (1e-2, 1e-2),
    "bfloat16": (1e-2, 1e-2),
    "float8_e4m3fn": (1e-1, 1e-1),
    "float8_e5m2": (1e-1, 1e-1),
}
NATIVE_SLACK = 4.0  # atol >= this * the reference's own error in the output dtype


def tolerance(dtype_name: str, atol: float | None = None, rtol: float | None = None) -> tuple[float, float]:
    base = TOLERANCES.get(dtype_name, (0.0, 0.0))
    return (base[0] if atol is None else atol), (base[1] if rtol is None else rtol)


def flatten(value: Any) -> list[Any] | None:
    """A forward's result as a list of outputs (a tensor, or a tuple/list of them); None if neither."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)) and all(isinstance(v, torch.Tensor) for v in value):
        return list(value)
    return None


def spec_of(outputs: list[Any], container: str = "tensor") -> list[dict[str, Any]]:
    """What each output must be: dtype, shape, device type, and what holds them ("tensor", "tuple", "list")."""
    return [{"dtype": str(o.dtype).removeprefix("torch."), "shape": list(o.shape), "device": o.device.type,
             "container": container} for o in outputs]


def container_of(result: Any) -> str:
    return "tuple" if isinstance(result, tuple) else "list" if isinstance(result, list) else "tensor"


def structure_problem(result: Any, spec: list[dict[str, Any]], inputs: list[Any], may_alias: bool) -> str | None:
    """One line naming what is wrong with the form of a candidate's result, or None."""
    import torch

    outputs = flatten(result)
    want_container = spec[0].get("container", "tensor") if spec else "tensor"
    if outputs is None or container_of(result) != want_container:
        what = "a tensor" if want_container == "tensor" else f"a {want_container} of {len(spec)} tensor(s)"
        return f"forward returned {type(result).__name__}, expected {what}"
    if len(outputs) != len(spec):
        return f"forward returned {len(outputs)} tensor(s), expected {len(spec)}"
    for index, (out, want) in enumerate(zip(outputs, spec)):
        name = "the output" if len(spec) == 1 else f"output {index}"
        if type(out) is not torch.Tensor:
            return f"{name} is a {type(out).__module__}.{type(out).__qualname__}, not a plain torch.Tensor"
        if str(out.dtype).removeprefix("torch.") != want["dtype"]:
            return f"{name} has dtype {out.dtype}, expected torch.{want['dtype']}"
        if list(out.shape) != want["shape"]:
            return f"{name} has shape {list(out.shape)}, expected {want['shape']}"
        if out.device.type != want["device"]:
            return f"{name} is on {out.device.type}, expected {want['device']}"
        if out.is_meta or out.layout != torch.strided:
            return f"{name} has no real storage (meta or non-strided layout)"
        if out.numel() and out.untyped_storage().data_ptr() == 0:
            return f"{name} has a null data pointer"
        if not may_alias:
            for j, x in enumerate(inputs):
                if isinstance(x, torch.Tensor) and x.numel() and out.numel() and _overlaps(out, x):
                    return f"{name} shares memory with input {j}: return a new tensor"
    return None


def _overlaps(a: Any, b: Any) -> bool:
    sa, sb = a.untyped_storage(), b.untyped_storage()
    a0, b0 = sa.data_ptr(), sb.data_ptr()
    return a0 < b0 + sb.nbytes() and b0 < a0 + sa.nbytes()


def inputs_changed(inputs: list[Any], pristine: list[Any]) -> str | None:
    """One line naming the first input the candidate modified (bitwise, NaN-safe), or None."""
    import torch

    for index, (now, before) in enumerate(zip(inputs, pristine)):
        if isinstance(now, torch.Tensor):
            if now.shape != before.shape or now.dtype != before.dtype:
                return f"input {index} was changed in place (shape or dtype)"
            if now.numel() and not torch.equal(_bits(now), _bits(before)):
                return f"input {index} was modified by the candidate: inputs must stay unchanged"
    return None


def _bits(x: Any) -> Any:
    import torch

    flat = x.detach().contiguous().view(-1)
    return flat.view(torch.uint8) if flat.dtype != torch.bool else flat


def poison(nbytes: list[int], device: str, byte: int = 0xFF) -> None:
    """Fill freed allocator blocks of these sizes with `byte` (0xFF is NaN in every float dtype)."""
    import torch

    blocks = [torch.full((max(n, 1),), byte, dtype=torch.uint8, device=device) for n in nbytes]
    del blocks  # freed: the caching allocator hands these blocks, still poisoned, to the next call


@dataclass(frozen=True)
class Verdict:
    ok: bool
    max_abs_err: float
    max_rel_err: float
    mismatches: int = 0
    worst: str = ""  # one line: where and by how much (or the NaN/Inf problem)


def compare(out: Any, ref64: Any, atol: float, rtol: float, name: str = "output") -> Verdict:
    """Compare one output with the float64 reference (same shape); never raises for bad values."""
    import torch

    got = out.detach().to(ref64.device)
    exact = not got.is_floating_point() and not got.is_complex()
    got = got.to(torch.float64) if not got.is_complex() else got.to(torch.complex128)
    ref = ref64.to(got.dtype)
    if got.numel() == 0:
        return Verdict(True, 0.0, 0.0)
    ref_nan, got_nan = torch.isnan(ref), torch.isnan(got)
    ref_inf, got_inf = torch.isinf(ref), torch.isinf(got)
    nan_bad = ref_nan != got_nan
    inf_bad = (ref_inf | got_inf) & ~(ref_nan | got_nan) & (got != ref)
    finite = ~(ref_nan | ref_inf | got_nan | got_inf)
    diff = torch.where(finite, (got - ref).abs(), torch.zeros((), dtype=torch.float64, device=got.device))
    diff = diff.real if diff.is_complex() else diff
    scale = ref.abs()
    bound = torch.zeros_like(diff) if exact else atol + rtol * scale
    over = torch.where(finite, diff - bound, torch.full_like(diff, -1.0))
    bad = nan_bad | inf_bad | (over > 0)
    count = int(bad.sum())
    max_abs = float(diff.max())
    max_rel = float((diff / (scale + max(atol, 1e-12))).max())
    if count == 0:
        return Verdict(True, max_abs, max_rel)
    if bool(nan_bad.any()):
        flat = int(nan_bad.view(-1).nonzero()[0])
        idx = _index(flat, got.shape)
        what = "NaN" if bool(got_nan.view(-1)[flat]) else f"{float(got.view(-1)[flat].real):.6g}"
        want = "NaN" if bool(ref_nan.view(-1)[flat]) else f"{float(ref.view(-1)[flat].real):.6g}"
        worst = f"{name}{idx}: got {what}, expected {want} ({count} mismatches)"
    elif bool(inf_bad.any()):
        flat = int(inf_bad.view(-1).nonzero()[0])
        worst = (f"{name}{_index(flat, got.shape)}: got {float(got.view(-1)[flat].real):.6g}, expected "
                 f"{float(ref.view(-1)[flat].real):.6g} ({count} mismatches)")
    else:
        flat = int(over.view(-1).argmax())
        worst = (f"{name}{_index(flat, got.shape)}: got {float(got.view(-1)[flat].real):.6g}, expected "
                 f"{float(ref.view(-1)[flat].real):.6g} (|diff| {float(diff.view(-1)[flat]):.3g} > tolerance "
                 f"{float(bound.view(-1)[flat]):.3g}; {count} of {got.numel()} elements off)")
    return Verdict(False, max_abs, max_rel, count, worst)


def _index(flat: int, shape: Any) -> str:
    idx = []
    for size in reversed(list(shape)):
        idx.append(flat % size if size else 0)
        flat //= size if size else 1
    return "[" + ", ".join(str(i) for i in reversed(idx)) + "]"


def native_error(native: Any, ref64: Any) -> float:
    """The reference's own largest error in its output dtype, against float64 (finite elements)."""
    import torch

    if not native.is_floating_point() or native.numel() == 0:
        return 0.0
    n = native.detach().to(ref64.device, torch.float64)
    finite = torch.isfinite(n) & torch.isfinite(ref64)
    if not bool(finite.any()):
        return 0.0
    return float((n - ref64).abs()[finite].max())
