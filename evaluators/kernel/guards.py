"""Tamper checks in the candidate's process: what candidate code must leave as it found it.

`Snapshot.take()` runs before the candidate is imported and records:

- the identity of every attribute of the modules and classes that the checks, the timers and
  the reference rely on (builtins, torch, torch.nn.functional, torch.Tensor, torch.nn.Module,
  torch.cuda and its Event, time, math, statistics, and the judge's own modules);
- the dispatcher's registrations of every aten/prims operator (a candidate re-registering
  `aten::mm` through torch.library changes what the reference computes and how fast);
- torch's precision switches (TF32, matmul precision, default dtype) and the
  torch-function / dispatch mode stacks;
- the Python threads alive.

`Snapshot.changes()` lists, in readable lines, everything that differs now. The judge runs it
after import, after the correctness trials and after timing; any change rejects the candidate.
New dispatcher registrations made by torch itself (lazily, from its own files) are not changes.
"""

from __future__ import annotations

import builtins
import math
import re
import statistics
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any

_JUDGE_MODULES = (
    "evaluators.kernel.correctness", "evaluators.kernel.timing", "evaluators.kernel.inputs",
    "evaluators.kernel.ipc", "evaluators.kernel.stats", "evaluators.kernel.guards", "evaluators.kernel.runner",
)
_REGISTERED_AT = re.compile(r"registered at (.+?):\d+")


def _watched() -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    found: dict[str, Any] = {
        "builtins": builtins, "time": time, "math": math, "statistics": statistics,
        "torch": torch, "torch.nn.functional": F, "torch.Tensor": torch.Tensor,
        "torch.nn.Module": torch.nn.Module, "torch.cuda": torch.cuda, "torch.cuda.Event": torch.cuda.Event,
        "torch.cuda.Stream": torch.cuda.Stream, "torch.testing": torch.testing, "torch.linalg": torch.linalg,
        "torch.profiler": torch.profiler,
    }
    for name in _JUDGE_MODULES:
        if name in sys.modules:
            found[name] = sys.modules[name]
    return found


def _identities() -> dict[str, Any]:
    """Watched name -> the object itself (held, so an id can never be reused by a replacement)."""
    objects: dict[str, Any] = {}
    for prefix, holder in _watched().items():
        objects[f"module:{prefix}"] = holder
        for key, value in list(vars(holder).items()):
            if callable(value) or isinstance(value, (types.ModuleType, property, staticmethod, classmethod)):
                objects[f"{prefix}.{key}"] = value  # plain values (flags, caches) may change legitimately
    objects["sys.modules[torch]"] = sys.modules.get("torch")
    return objects


def _torch_wrapper(new: Any, old: Any, torch_dir: str) -> bool:
    """True when `new` wraps `old` (functools.wraps chain) with code from torch's own files.

    torch does this itself when a subsystem loads lazily (importing torch._dynamo, as the
    profiler does, wraps torch.manual_seed); candidate code lives elsewhere.
    """
    current, depth = new, 0
    while current is not None and current is not old and depth < 8:
        code = getattr(current, "__code__", None)
        if code is None or not code.co_filename.startswith(torch_dir):
            return False
        current, depth = getattr(current, "__wrapped__", None), depth + 1
    return current is old


def _dispatch_table() -> dict[str, str]:
    import torch

    names = torch._C._dispatch_get_all_op_names()
    return {n: torch._C._dispatch_dump(n) for n in names if n.startswith(("aten::", "prims::"))}


def _switches() -> dict[str, Any]:
    import torch

    return {
        "torch.backends.cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "torch.backends.cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "torch.get_float32_matmul_precision()": torch.get_float32_matmul_precision(),
        "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction":
            torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction,
        "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction":
            torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
        "torch.get_default_dtype()": str(torch.get_default_dtype()),
        "torch function modes": torch._C._len_torch_function_stack(),
        "torch dispatch modes": torch._C._len_torch_dispatch_stack(),
        "grad mode": torch.is_grad_enabled(),
    }


@dataclass
class Snapshot:
    objects: dict[str, Any] = field(default_factory=dict)
    dispatch: dict[str, str] = field(default_factory=dict)
    switches: dict[str, Any] = field(default_factory=dict)
    threads: set[int] = field(default_factory=set)
    torch_dir: str = ""

    @classmethod
    def take(cls) -> "Snapshot":
        import torch

        return cls(_identities(), _dispatch_table(), _switches(),
                   {t.ident for t in threading.enumerate() if t.ident is not None},
                   torch.__file__.rsplit("/", 1)[0] + "/")

    def changes(self, allow_threads: bool = False) -> list[str]:
        """What candidate code changed since the snapshot, one readable line each."""
        found = []
        now = _identities()
        replaced = sorted(k for k, v in self.objects.items()
                          if now.get(k) is not v and not _torch_wrapper(now.get(k), v, self.torch_dir))
        added = sorted(k for k in now if k not in self.objects
                       and not k.startswith(tuple(f"{m}." for m in _JUDGE_MODULES)))
        if replaced:
            found.append(f"replaced or removed {', '.join(replaced[:5])}" + (" ..." if len(replaced) > 5 else ""))
        watched_new = [k for k in added if k.split(".")[0] in ("builtins", "time", "math", "statistics")
                       or k.startswith(("torch.Tensor.", "torch.nn.functional.", "torch.cuda.Event."))]
        if watched_new:
            found.append(f"added {', '.join(watched_new[:5])}")
        for op, dump in self.dispatch.items():
            current = _dispatch_dump(op)
            if current != dump:
                sites = set(_REGISTERED_AT.findall(current)) - set(_REGISTERED_AT.findall(dump))
                foreign = [s for s in sites if not s.startswith(self.torch_dir) and not s.startswith("/__w/")]
                if foreign:
                    found.append(f"re-registered the operator {op} (at {foreign[0]})")
                    break
        switches = _switches()
        for key, before in self.switches.items():
            if switches[key] != before:
                found.append(f"changed {key} from {before} to {switches[key]}")
        if not allow_threads:
            extra = [t for t in threading.enumerate() if t.ident not in self.threads and t.is_alive()]
            if extra:
                found.append(f"started {len(extra)} thread(s) ({extra[0].name}) that are still running")
        return found


def _dispatch_dump(op: str) -> str:
    import torch

    try:
        return torch._C._dispatch_dump(op)
    except RuntimeError:
        return ""
