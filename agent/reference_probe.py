"""Run a KernelBench reference at given shapes, in a child process with a time limit.

`agent new-task` must know, before it writes a task, whether the reference runs at the CPU shape
it derived, how many elements its inputs have there, and which input distributions leave its
outputs finite. It asks a child process (`python -m agent.reference_probe REFERENCE`, torch
imported once) one question per line of JSON and reads one answer per line. The child uses the
judge's own code (evaluators/kernel: `set_shape`, `Reference.expected`), so a shape that runs here
runs in the judge. The parent (`ReferenceProbe`) kills a child that does not answer in time and
starts a fresh one for the next question.

Question: {"shape": {...}, "dist": {scale, offset, edge} | null, "run": bool, "meta": bool,
"max_inputs": int, "max_weights": int, "names": [...]}. With "meta", the forward runs on torch's
meta device instead (shapes only, no data, no memory): how the file's own shape, often billions
of elements, is checked.
Answer: {"ok": bool, "error": str, "inputs": int, "weights": int, "floating": bool,
"ran": bool, "seconds": float, "nonfinite": str, "values": {name: value}}; `inputs` and `weights`
are counted on torch's meta device, so a shape of 2 billion elements is never allocated.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parents[1])


@dataclass(frozen=True)
class ProbeAnswer:
    ok: bool
    error: str = ""
    inputs: int | None = None  # elements of get_inputs()'s tensors at the shape
    weights: int | None = None  # elements of the model's parameters and buffers
    floating: bool = True  # some input is a floating-point tensor (the distributions apply)
    ran: bool = False  # the reference was run (not only counted)
    seconds: float = 0.0  # the judge's reference work for one trial (build, run twice, float64 run)
    nonfinite: str = ""  # which output had NaN/inf, when one had
    values: dict[str, Any] = field(default_factory=dict)
    stage: str = ""  # what failed: "load", "shape", "run", "time" (no answer in time), "crash"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProbeAnswer:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


class ReferenceProbe:
    """The parent's side: one child at a time, restarted after a timeout or a crash."""

    def __init__(self, reference: Path, *, timeout: float = 60.0, start_timeout: float = 180.0) -> None:
        self.reference = reference
        self.timeout = timeout
        self.start_timeout = start_timeout
        self._child: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> ReferenceProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(self, shape: dict[str, Any] | None, *, dist: dict[str, Any] | None = None, run: bool = True,
            meta: bool = False, max_inputs: int, max_weights: int, names: list[str] = ()) -> ProbeAnswer:
        question = {"shape": shape or {}, "dist": dist, "run": run, "meta": meta, "max_inputs": max_inputs,
                    "max_weights": max_weights, "names": list(names)}
        if self._child is None:
            self._start()
            ready = self._read(self.start_timeout, "while loading the reference")
            if not ready.ok:
                self.close()
                return ProbeAnswer(False, ready.error, stage="load")
        assert self._child is not None and self._child.stdin is not None
        try:
            self._child.stdin.write((json.dumps(question) + "\n").encode())
            self._child.stdin.flush()
        except OSError:
            return self._died("")
        answer = self._read(self.timeout, "")
        if not answer.ok and self._child is not None and self._child.poll() is not None:
            self.close()
        return answer

    def _start(self) -> None:
        self._log = tempfile.TemporaryFile()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        self._child = subprocess.Popen([sys.executable, "-m", "agent.reference_probe", str(self.reference)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, env=env,
                                       cwd=str(self.reference.parent), start_new_session=True)

    def _read(self, limit: float, when: str) -> ProbeAnswer:
        child = self._child
        assert child is not None and child.stdout is not None
        fd = child.stdout.fileno()
        deadline = time.monotonic() + limit
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.close()
                return ProbeAnswer(False, f"no answer within {limit:g} s{' ' + when if when else ''} (too slow at "
                                          "this shape, or it hangs)", stage="time")
            chunk = os.read(fd, 65536)
            if not chunk:
                return self._died(when)
            line += chunk
        return ProbeAnswer.from_json(json.loads(line))

    def _died(self, when: str) -> ProbeAnswer:
        tail = ""
        if self._log is not None:
            self._log.seek(0)
            lines = [ln for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
            tail = lines[-1].strip()[:300] if lines else ""
        code = self._child.wait() if self._child is not None else None
        self.close()
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return ProbeAnswer(False, f"the process running the reference {how}{' ' + when if when else ''}"
                                  f"{': ' + tail if tail else ''}", stage="crash")

    def close(self) -> None:
        if self._child is not None:
            if self._child.poll() is None:
                try:
                    os.killpg(self._child.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self._child.kill()
            self._child.wait()
            for stream in (self._child.stdin, self._child.stdout):
                if stream is not None:
                    stream.close()
            self._child = None
        if self._log is not None:
            self._log.close()
            self._log = None


# ----- the child ---------------------------------------------------------------------------------


def _error(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (int, float, bool, str, type(None))) else repr(value)


def _count(module: Any) -> tuple[int, int, bool]:
    """(input elements, weight elements, any floating-point input), on the meta device."""
    import torch

    with torch.device("meta"):
        made = [v for v in module.get_inputs() if isinstance(v, torch.Tensor)]
        model = module.Model(*module.get_init_inputs())
    weights = sum(t.numel() for t in list(model.parameters()) + list(model.buffers()))
    return sum(t.numel() for t in made), weights, any(t.is_floating_point() for t in made)


def _meta_forward(module: Any) -> str:
    """The error of a forward on the meta device ("" when it ran, or when the meta device cannot run it)."""
    import torch

    try:
        with torch.device("meta"), torch.no_grad():
            module.Model(*module.get_init_inputs())(*module.get_inputs())
    except NotImplementedError:
        return ""
    except Exception as exc:  # noqa: BLE001 - the forward's own error, unless the meta device is the cause
        return "" if "meta" in str(exc).lower() else _error(exc)
    return ""


def _nonfinite(outputs: list[Any]) -> str:
    import torch

    for k, out in enumerate(outputs):
        if out.is_floating_point() or out.is_complex():
            if bool(torch.isnan(out).any()):
                return f"output {k} has NaN"
            if bool(torch.isinf(out).any()):
                return f"output {k} has infinities"
    return ""


def _answer(ref: Any, question: dict[str, Any]) -> dict[str, Any]:
    from evaluators.kernel.inputs import Distribution

    try:
        ref.set_shape(question["shape"])
    except Exception as exc:  # noqa: BLE001 - reported as the answer
        return {"ok": False, "stage": "shape", "error": f"the shape could not be set: {_error(exc)}"}
    values = {n: _plain(getattr(ref.module, n, None)) for n in question.get("names", [])}
    try:
        inputs, weights, floating = _count(ref.module)
    except Exception:  # noqa: BLE001 - not countable on the meta device: counted when run
        inputs = weights = None
        floating = True
    answer = {"ok": True, "inputs": inputs, "weights": weights, "floating": floating, "values": values}
    if question.get("meta"):
        error = _meta_forward(ref.module)
        return {**answer, "ok": False, "stage": "run", "error": error} if error else answer
    too_big = (inputs is not None and inputs > question["max_inputs"]) or \
              (weights is not None and weights > question["max_weights"])
    if not question.get("run", True) or too_big:
        return answer
    dist = Distribution.from_dict(question["dist"]) if question.get("dist") else None
    start = time.perf_counter()
    try:
        expected = ref.expected(1, 2, dist)
    except Exception as exc:  # noqa: BLE001 - the reference failed: that is the answer
        return {**answer, "ok": False, "ran": True, "stage": "run", "error": _error(exc)}
    answer.update(ran=True, seconds=time.perf_counter() - start, nonfinite=_nonfinite(expected.natives))
    if inputs is None:
        import torch

        from evaluators.kernel.inputs import make_inputs

        made = make_inputs(ref.module, 1, "cpu")
        answer["inputs"] = sum(t.numel() for t in made if isinstance(t, torch.Tensor))
        answer["floating"] = any(isinstance(t, torch.Tensor) and t.is_floating_point() for t in made)
    return answer


def main(argv: list[str]) -> int:
    replies = os.fdopen(os.dup(1), "w")  # answers only: what the reference prints goes to stderr
    os.dup2(2, 1)
    try:
        import torch

        torch.set_num_threads(1)
        from evaluators.kernel.reference import Reference

        ref = Reference(argv[0], "cpu")
    except BaseException as exc:  # noqa: BLE001 - the reference does not even load: say why
        replies.write(json.dumps({"ok": False, "error": _error(exc)}) + "\n")
        replies.flush()
        return 0
    replies.write(json.dumps({"ok": True}) + "\n")
    replies.flush()
    for line in sys.stdin:
        if line.strip():
            replies.write(json.dumps(_answer(ref, json.loads(line))) + "\n")
            replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
