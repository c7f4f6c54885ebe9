"""Inputs and weights for a trial: the task's own `get_inputs()` under a secret per-trial seed.

Every trial's seed is derived from the judge's secret seed with HMAC-SHA256, so a candidate
that sees one trial's values (it gets the inputs) learns nothing about the next trial's.
`get_inputs()` runs with torch, `random` and numpy seeded and the judge's device as torch's
default device, so the same seed gives the same tensors in the judge's process and the
candidate's (both make them; the candidate's process reports a fingerprint to prove it).

Input distributions (`Distribution`) are declared by the task; trial 0 always uses the values
`get_inputs()` gives as they are. The others transform floating-point inputs:

- `scale`: multiply by this factor; `offset`: add this constant (after scaling);
- `edge`: replace about 1% of the elements with edge values (zeros, +-tiny, +-large within
  the dtype's range).

Weights are re-randomised per trial by building the model under a fresh seed; the candidate
model then receives the reference's weights (`share_weights`), matched by name, else by order
and shape.

torch is imported inside functions: this module runs in the judge and the candidate process.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import random
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator


def derive_seed(secret: int, *labels: object) -> int:
    """A 63-bit seed for `labels` (e.g. ("trial", 3)) that only holders of `secret` can compute."""
    key = int(secret).to_bytes(32, "little", signed=True)
    message = "/".join(str(label) for label in labels).encode("utf-8")
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class Distribution:
    """A transform of a trial's floating-point inputs; the identity by default."""

    scale: float = 1.0
    offset: float = 0.0
    edge: bool = False

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Distribution":
        return cls(float(raw.get("scale", 1.0)), float(raw.get("offset", 0.0)), bool(raw.get("edge", False)))

    def describe(self) -> str:
        parts = [f"x{self.scale:g}" if self.scale != 1.0 else "", f"+{self.offset:g}" if self.offset else "",
                 "edge values" if self.edge else ""]
        return " ".join(p for p in parts if p) or "as get_inputs() makes them"


def set_shape(module: ModuleType, shape: dict[str, Any] | None, defaults: dict[str, Any]) -> None:
    """Set module-level constants (batch_size, dim, input_shape as a list, ...) that get_inputs() reads.

    Names set by an earlier call get their original values back first (kept in `defaults`).
    Module-level names computed from them (`scale_shape = (out_features,)`, as KernelBench
    files have) are computed again from the file's own assignments, so they follow.
    """
    for name, value in defaults.items():
        setattr(module, name, value)
    for name, value in (shape or {}).items():
        if not hasattr(module, name):
            raise KeyError(f"the reference defines no module-level name {name!r} to set for this shape")
        defaults.setdefault(name, getattr(module, name))
        if isinstance(value, list) and isinstance(getattr(module, name), tuple):
            value = tuple(value)  # a tuple constant (`input_shape = (4096,)`), written as a list
        setattr(module, name, value)
    if defaults:
        _derive_again(module, changed=set(defaults), fixed=set(shape or {}))


def _derive_again(module: ModuleType, changed: set[str], fixed: set[str]) -> None:
    """Run again, in file order, the module-level assignments that read a changed name (not the set ones)."""
    for statement in _assignments(module):
        targets = {n.id for t in statement.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        reads = {n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name)}
        if reads & changed and not targets & fixed:
            exec(compile(ast.Module([statement], []), getattr(module, "__file__", "<reference>"), "exec"),
                 vars(module))
            changed |= targets


def _assignments(module: ModuleType) -> list[ast.Assign]:
    """The module's top-level `name = expression` statements, parsed once from its file ([] without one)."""
    cached = getattr(module, "__evoforge_assignments__", None)
    if cached is None:
        path = getattr(module, "__file__", None)
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8")) if path else ast.Module([], [])
        except (OSError, SyntaxError, UnicodeDecodeError):
            tree = ast.Module([], [])
        cached = [node for node in tree.body if isinstance(node, ast.Assign)]
        module.__evoforge_assignments__ = cached
    return cached


@contextmanager
def seeded(seed: int, device: str) -> Iterator[None]:
    """Seed torch, random and numpy; make `device` torch's default device meanwhile."""
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy

        numpy.random.seed(seed % (2**32))
    except ImportError:
        pass
    with torch.device(device):
        yield


def make_inputs(module: ModuleType, seed: int, device: str, dist: Distribution | None = None) -> list[Any]:
    """The trial's inputs: get_inputs() under `seed` on `device`, then the distribution's transform."""
    import torch

    with seeded(seed, device):
        made = list(module.get_inputs())
    out = []
    for index, value in enumerate(made):
        if isinstance(value, torch.Tensor):
            value = value.to(device)
            if dist is not None and value.is_floating_point():
                value = _transform(value, dist, derive_seed(seed, "edge", index))
        out.append(value)
    return out


def _transform(x: Any, dist: Distribution, seed: int) -> Any:
    import torch

    if dist.scale != 1.0 or dist.offset:
        x = (x.double() * dist.scale + dist.offset).to(x.dtype)
    if dist.edge and x.numel():
        gen = torch.Generator(device="cpu").manual_seed(seed)
        where = edge_positions(x.numel(), gen)
        big = float(torch.finfo(x.dtype).max) ** 0.25  # large, yet squares and sums stay finite
        choices = torch.tensor([0.0, -0.0, 1e-6, -1e-6, big, -big], dtype=torch.float64)
        picked = choices[torch.randint(0, len(choices), (len(where),), generator=gen)].to(x.dtype)
        x = x.clone()
        x.view(-1)[where.to(x.device)] = picked.to(x.device)
    return x


def edge_positions(numel: int, gen: Any) -> Any:
    """About 1% of the positions 0..numel-1, each once: a GPU writes repeated indices in no fixed
    order, and the judge's and the candidate's processes must make the same tensor."""
    import torch

    return torch.unique(torch.randint(0, numel, (max(1, numel // 100),), generator=gen))


def init_inputs(module: ModuleType, seed: int, device: str) -> list[Any]:
    """The constructor arguments, from the reference's get_init_inputs() under `seed`."""
    with seeded(seed, device):
        return list(module.get_init_inputs())


def build_model(cls: type, init: list[Any], seed: int, device: str) -> Any:
    """`cls(*init)` built under `seed` (fresh random weights), on `device`, in the mode it was built in.

    KernelBench runs `Model(*init)` as constructed, in training mode: a BatchNorm then normalises
    with the batch's statistics, not its running ones (a reference that wants inference
    semantics calls `self.eval()` itself). Dropout layers are the exception: they are switched
    to eval (the identity), since random masks leave nothing to compare.
    """
    import torch

    with seeded(seed, device):
        model = cls(*init)
    for module in model.modules():
        if isinstance(module, _dropout_classes(torch)):
            module.eval()
    return model.to(device)


def _dropout_classes(torch: Any) -> tuple[type, ...]:
    nn = torch.nn
    return (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def share_weights(reference: Any, candidate: Any) -> str | None:
    """Copy the reference model's parameters and buffers into the candidate's.

    Matched by name, else by order when the shapes agree one to one. Returns None on success,
    else one line saying why the weights could not be shared.
    """
    import torch

    ref_state = reference.state_dict()
    cand_state = candidate.state_dict()
    if not ref_state:
        return None
    with torch.no_grad():
        if set(ref_state) == set(cand_state) and all(ref_state[k].shape == cand_state[k].shape for k in ref_state):
            candidate.load_state_dict(ref_state)
            return None
        ref_items, cand_items = list(ref_state.items()), list(cand_state.items())
        if len(ref_items) == len(cand_items) and all(r.shape == c.shape for (_, r), (_, c) in zip(ref_items, cand_items)):
            for (_, src), (_, dst) in zip(ref_items, cand_items):
                dst.copy_(src)
            return None
    shown = ", ".join(f"{k}{list(v.shape)}" for k, v in list(ref_state.items())[:6])
    got = ", ".join(f"{k}{list(v.shape)}" for k, v in list(cand_state.items())[:6]) or "none"
    return (f"ModelNew's parameters do not match Model's ({shown}); got {got}: keep the same names and "
            "shapes so the judge can give both models the same fresh weights")


def perturb(value: Any) -> Any:
    """A fresh copy of an input for one timed call; floating-point values moved by up to a relative
    1e-3, so no two calls see the same data (defeats result caching by content) yet the
    distribution stays the task's."""
    import torch

    if not isinstance(value, torch.Tensor):
        return value
    if not value.is_floating_point():
        return value.clone()
    noise = torch.rand(value.shape, device=value.device, dtype=torch.float32).mul_(2e-3).add_(1.0 - 1e-3)
    return (value * noise.to(value.dtype)).to(value.dtype)


def fingerprint(values: list[Any]) -> list[float]:
    """A cheap checksum of a list of inputs: sum and sum of squares of each tensor in float64."""
    import torch

    out: list[float] = []
    for value in values:
        if isinstance(value, torch.Tensor):
            v = value.detach().double() if not value.is_complex() else torch.view_as_real(value).double()
            v = torch.nan_to_num(v, nan=7.0, posinf=11.0, neginf=-13.0)
            out += [float(v.sum()), float((v * v).sum())]
        elif isinstance(value, (int, float, bool)):
            out.append(float(value))
    return out
