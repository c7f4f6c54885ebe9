"""Record the Triton launches of one forward: kernel, block constexprs and num_warps.

Installed in the candidate's process before the candidate is imported (so the guards see it
as part of the baseline): `JITFunction.run` (and the interpreter's `InterpretedFunction.run`)
are wrapped to note each launch's keyword arguments while recording is switched on. The
judge turns the record into the `block_size`, `num_warps` and `launches` descriptors
(descriptors.py); it works in the interpreter too, where there is no profiler.

On a GPU the runner also profiles one forward; `streams_besides_first` counts the streams its
work ran on other than the caller's, which the judge reads as work left outside the timed
stream (timing_rules.time_of).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


class LaunchRecorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._on = False

    def install(self) -> None:
        import triton.runtime.jit as jit

        classes = [jit.JITFunction]
        try:
            from triton.runtime.interpreter import InterpretedFunction

            classes.append(InterpretedFunction)
        except ImportError:
            pass
        for cls in classes:
            self._wrap(cls)

    def _wrap(self, cls: type) -> None:
        original = cls.run
        recorder = self

        def run(fn_self: Any, *args: Any, grid: Any, warmup: Any, **kwargs: Any) -> Any:
            if recorder._on and not warmup:
                name = getattr(getattr(fn_self, "fn", None), "__name__", None) or getattr(fn_self, "__name__", "?")
                ints = {k: v for k, v in kwargs.items() if type(v) is int}
                recorder.calls.append({"kernel": str(name), "params": ints})
            return original(fn_self, *args, grid=grid, warmup=warmup, **kwargs)

        cls.run = run

    @contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        self.calls = []
        self._on = True
        try:
            yield self.calls
        finally:
            self._on = False


def summarize(calls: list[dict[str, Any]]) -> dict[str, float]:
    """block_size (largest BLOCK* constexpr), num_warps (largest; Triton's default 4), launches."""
    blocks = [v for c in calls for k, v in c["params"].items() if "BLOCK" in k.upper()]
    warps = [c["params"]["num_warps"] for c in calls if "num_warps" in c["params"]]
    return {"block_size": float(max(blocks, default=1)), "num_warps": float(max(warps, default=4)),
            "launches": float(len(calls))}


def streams_besides_first(streams: list[int]) -> int | None:
    """How many streams other than the first event's ran work (the profiled forward's device
    events in start order, the first being a marker on the caller's stream); None without events."""
    if not streams:
        return None
    return len(set(streams[1:]) - {streams[0]})
