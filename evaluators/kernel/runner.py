"""The candidate's process: import the candidate, run what the judge asks, send back outputs.

    python -m evaluators.kernel.runner CONFIG_JSON

Started by the judge (judge.py) with a clean environment: it never holds the secret seed,
the reference's float64 answers or the result channel. CONFIG names the reference and
candidate files, the device, the language and two pipe descriptors. In order it:

1. imports torch (and triton), the judge's helpers and the reference, and captures what the
   candidate must not change (guards.Snapshot);
2. imports the candidate (in a primed job, once it has arrived: candidate_inbox.py; CUDA
   sources build here; compile-only on a CPU machine) and sends
   {"op": "loaded", ...} with the time it took and anything the import tampered with;
3. answers commands until told to exit: "warmup" (first call: Triton compiles here),
   "trial" (one correctness trial: fresh weights and inputs from the given seeds, allocator
   poisoned, structural checks; the outputs go back to the judge, which alone holds the
   reference answer), "time" (timing.measure of reference and candidate, interleaved) and
   "launches" (kernel names of one forward, from the profiler; GPU only: the profiler was
   started before the candidate was imported, profiler_warmup.py).

Every reply carries "tamper": the guard's findings after the command. Failures of candidate
code become {"ok": false, "error": one line, "log": traceback}; this process never decides a
verdict.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import time
import traceback
from types import ModuleType
from typing import Any

_perf_counter = time.perf_counter


def _load(path: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _failure(exc: BaseException) -> dict[str, Any]:
    log = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-6000:]
    lines = [ln.strip() for ln in "".join(traceback.format_exception_only(type(exc), exc)).splitlines() if ln.strip()]
    compiler = [ln for ln in lines if re.search(r"\berror\b\s*:|: error", ln)]  # nvcc/g++/ptxas lines
    first = compiler[0] if compiler else next((ln for ln in lines if "error" in ln.lower()),
                                              lines[0] if lines else type(exc).__name__)
    return {"ok": False, "error": first[:400], "error_type": type(exc).__name__, "log": log}


class Runner:
    def __init__(self, config: dict[str, Any]) -> None:
        import torch

        from evaluators.kernel import correctness, guards, inputs, ipc, timing

        self.torch, self.correctness, self.inputs, self.timing = torch, correctness, inputs, timing
        self.config = config
        self.device = config["device"]
        self.pipe = ipc.Pipe(config["cmd_fd"], config["res_fd"]) if "cmd_fd" in config else None
        self.reference = _load(config["reference"], "evoforge_reference")
        self._defaults: dict[str, Any] = {}
        self._shape_key = ""
        self._set_shape(config.get("shape"))
        if config.get("compile_only"):
            from evaluators.kernel.cuda_build import install_compile_only

            install_compile_only()
        self.recorder = None
        if config.get("language") == "triton":
            from evaluators.kernel.launches import LaunchRecorder

            self.recorder = LaunchRecorder()
            self.recorder.install()  # before the snapshot: part of the baseline the guards check
        self.memory_share = config.get("memory_share") if self.device == "cuda" else None
        if self.device == "cuda":
            from evaluators.kernel import memory_share

            self._explain_oom = memory_share.explain  # taken before the candidate is imported
            timing.capture_cuda()
            memory_share.apply(torch, self.memory_share)  # before the candidate runs: its share of the GPU
        self.profiler_warmup_s: float | None = None
        if self.device == "cuda" and config.get("profiler_warmup", True):
            from evaluators.kernel.profiler_warmup import warm_up_profiler

            self.profiler_warmup_s, _ = warm_up_profiler(torch)  # so the kernels stage does not pay it
        self._await = None  # a primed job's candidate arrives after this process started (candidate_inbox.py)
        if config.get("await_candidate_s"):
            from evaluators.kernel.candidate_inbox import wait_for

            self._await = wait_for
        self.snapshot = guards.Snapshot.take()
        self.candidate: ModuleType | None = None
        self.models: dict[tuple[int, str], tuple[Any, Any]] = {}

    def _set_shape(self, shape: dict[str, Any] | None) -> None:
        self.inputs.set_shape(self.reference, shape, self._defaults)
        self._shape_key = json.dumps(shape or {}, sort_keys=True)

    def _use(self, cmd: dict[str, Any]) -> None:
        """Apply the command's shape (the benchmark shape when it names none)."""
        self._set_shape(cmd["shape"] if cmd.get("shape") is not None else self.config.get("shape"))

    def tamper(self) -> list[str]:
        return self.snapshot.changes(allow_threads=bool(self.config.get("allow_threads")))

    def load_candidate(self) -> dict[str, Any]:
        if self._await is not None and not self._await(self.config["candidate"], self.config["await_candidate_s"]):
            return {"ok": False, "error": "no candidate arrived", "seconds": 0.0}
        start = _perf_counter()
        try:
            self.candidate = _load(self.config["candidate"], "evoforge_candidate")
            if not isinstance(getattr(self.candidate, "ModelNew", None), type):
                return {"ok": False, "error": "the candidate defines no class ModelNew", "seconds": _perf_counter() - start}
        except BaseException as exc:  # noqa: BLE001 - the candidate's failure is the answer
            return {**self._failure(exc), "seconds": _perf_counter() - start}
        reply: dict[str, Any] = {"ok": True, "seconds": _perf_counter() - start}
        if self.config.get("compile_only"):
            from evaluators.kernel.cuda_build import BUILD_INFO

            reply["build_info"] = BUILD_INFO[:20]
        return reply

    def _models(self, wseed: int) -> tuple[Any, Any]:
        key = (wseed, self._shape_key)
        if key not in self.models:
            init = self.inputs.init_inputs(self.reference, wseed, self.device)
            ref = self.inputs.build_model(self.reference.Model, init, wseed, self.device)
            cand = self.inputs.build_model(self.candidate.ModelNew, init, wseed, self.device)
            problem = self.inputs.share_weights(ref, cand)
            if problem:
                raise ValueError(problem)
            self.models = {key: (ref, cand)}  # one set alive at a time
        return self.models[key]

    def _sync(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def warmup(self, cmd: dict[str, Any]) -> dict[str, Any]:
        _, cand = self._models(cmd["wseed"])
        args = self.inputs.make_inputs(self.reference, cmd["seed"], self.device)
        start = _perf_counter()
        with self.torch.no_grad():
            cand(*args)
        self._sync()
        return {"ok": True, "seconds": _perf_counter() - start}

    def trial(self, cmd: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        torch, check = self.torch, self.correctness
        _, cand = self._models(cmd["wseed"])
        dist = self.inputs.Distribution.from_dict(cmd.get("dist") or {})
        args = self.inputs.make_inputs(self.reference, cmd["seed"], self.device, dist)
        pristine = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        spec = cmd["spec"]
        sizes = [int(torch.empty(0, dtype=getattr(torch, s["dtype"])).element_size() * _numel(s["shape"])) for s in spec]
        reply: dict[str, Any] = {"ok": True, "fingerprint": self.inputs.fingerprint(pristine)}
        outputs: list[Any] = []
        for run, byte in enumerate((0xFF, 0x3F) if cmd.get("repeat") else (0xFF,)):
            call_args = args if run == 0 else [a.clone() if isinstance(a, torch.Tensor) else a for a in pristine]
            check.poison(sizes, self.device, byte)
            start = _perf_counter()
            with torch.no_grad():
                result = cand(*call_args)
            seen = self._as_the_caller_sees(result)
            self._sync()
            reply["call_s"] = max(reply.get("call_s", 0.0), _perf_counter() - start)  # the judge's timing deadline
            problem = check.structure_problem(result, spec, call_args, cmd.get("may_alias", False))
            if problem is None and not cmd.get("may_mutate", False):
                problem = check.inputs_changed(call_args, pristine)
            if problem is not None:
                return {**reply, "problem": problem}, []
            outputs.extend(seen if seen is not None else check.flatten(result))
        return reply, outputs

    def _as_the_caller_sees(self, result: Any) -> list[Any] | None:
        """On a GPU: copies of the outputs taken once the caller's stream alone is synchronised.

        A caller synchronises its own stream, not the device; work a candidate leaves running on
        another stream, never joined to the caller's, may not have written the outputs by then.
        Checking these copies makes that race a wrong answer. None off the GPU, or when the
        result is not tensors (the structure check says so)."""
        flat = self.correctness.flatten(result) if self.device == "cuda" else None
        if not flat:
            return None
        stream = self.torch.cuda.current_stream()
        stream.synchronize()
        copies = [t.clone() for t in flat]
        stream.synchronize()
        return copies

    def time(self, cmd: dict[str, Any]) -> dict[str, Any]:
        torch = self.torch
        ref, cand = self._models(cmd["wseed"])
        pool = [self.inputs.make_inputs(self.reference, s, self.device) for s in cmd["seeds"]]
        atol, rtol = cmd["atol"], cmd["rtol"]
        bad: list[Any] = []
        flatten = self.correctness.flatten

        def fresh(i: int) -> list[Any]:
            return [self.inputs.perturb(a) for a in pool[i % len(pool)]]

        def check(outputs: dict[str, Any]) -> None:
            got, want = flatten(outputs["candidate"]), flatten(outputs["reference"])
            if got is None or want is None or len(got) != len(want):
                bad.append(torch.ones((), dtype=torch.bool))
                return
            for g, w in zip(got, want):
                if type(g) is not torch.Tensor or g.shape != w.shape or g.dtype != w.dtype:
                    bad.append(torch.ones((), dtype=torch.bool))
                else:
                    bad.append(~torch.isclose(g.double(), w.double(), rtol=rtol, atol=atol, equal_nan=True).all())

        options = self.timing.TimingOptions(**cmd["options"])
        result = self.timing.measure({"reference": ref, "candidate": cand}, fresh, check, options, self.device)
        result["timed_outputs_bad"] = int(sum(int(b) for b in bad))
        result["timed_outputs"] = len(bad)
        return {"ok": True, **result}

    def graph(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """CUDA-graph replay time of forward (asked for last: a failed capture can upset the process)."""
        _, cand = self._models(cmd["wseed"])
        args = self.inputs.make_inputs(self.reference, cmd["seed"], self.device)
        with self.torch.no_grad():
            return {"ok": True, "graph_ms": self.timing.graph_time(cand, args)}

    def launches(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """One forward after warm-up: recorded Triton launches, and on a GPU the profiler's kernels."""
        _, cand = self._models(cmd["wseed"])
        args = self.inputs.make_inputs(self.reference, cmd["seed"], self.device)
        reply: dict[str, Any] = {"ok": True}
        with self.torch.no_grad():
            cand(*args)
            self._sync()
            if self.recorder is not None:
                from evaluators.kernel.launches import summarize

                with self.recorder.recording() as calls:
                    cand(*args)
                    self._sync()
                reply["triton"] = summarize(calls)
            if self.device == "cuda":
                from torch.autograd import DeviceType
                from torch.profiler import ProfilerActivity, profile

                from evaluators.kernel.launches import streams_besides_first

                marker = self.torch.empty(1, device="cuda")
                with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                    marker.fill_(0.0)  # on the caller's stream, first: names that stream in the trace
                    cand(*args)
                    self._sync()
                device = sorted((e for e in prof.events() if e.device_type == DeviceType.CUDA),
                                key=lambda e: e.time_range.start)
                kernels = [e.name for e in device[1:] if not e.name.lower().startswith(("memcpy", "memset"))]
                times: dict[str, float] = {}
                for e in device[1:]:
                    times[e.name] = times.get(e.name, 0.0) + float(e.time_range.end - e.time_range.start)
                if self.profiler_warmup_s is not None:
                    reply["profiler_warmup_s"] = self.profiler_warmup_s  # spent at the process's start
                reply.update(kernels=kernels[:200], launches=len(kernels),
                             kernel_times=sorted(times.items(), key=lambda item: -item[1])[:200],
                             side_streams=streams_besides_first([e.device_resource_id for e in device]))
        return reply

    def profile_once(self) -> int:
        """Profile mode (under ncu): warm up, then one forward between cudaProfilerStart/Stop."""
        if not self.load_candidate()["ok"]:
            return 1
        _, cand = self._models(self.config["wseed"])
        args = self.inputs.make_inputs(self.reference, self.config["seed"], self.device)
        cudart = self.torch.cuda.cudart()
        with self.torch.no_grad():
            for _ in range(2):
                cand(*args)
            self._sync()
            cudart.cudaProfilerStart()
            cand(*args)
            self._sync()
            cudart.cudaProfilerStop()
        return 0

    def serve(self) -> None:
        loaded = self.load_candidate()
        self.pipe.send({"op": "loaded", **loaded, "tamper": self.tamper()})
        if not loaded["ok"]:
            return
        handlers = {"warmup": self.warmup, "time": self.time, "launches": self.launches, "graph": self.graph}
        while True:
            cmd, _ = self.pipe.recv()
            op = cmd.get("op")
            if op == "exit":
                return
            tensors: list[Any] = []
            try:
                self._use(cmd)
                if op == "trial":
                    reply, tensors = self.trial(cmd)
                else:
                    reply = handlers[op](cmd)
            except BaseException as exc:  # noqa: BLE001 - reported to the judge
                reply, tensors = self._failure(exc), []
                self._sync_quietly()
            self.pipe.send({"op": op, **reply, "tamper": self.tamper()}, tensors)

    def _failure(self, exc: BaseException) -> dict[str, Any]:
        """_failure, with an out-of-memory error under a memory share said plainly (whose it is)."""
        reply = _failure(exc)
        if self.memory_share is not None:
            line = self._explain_oom(self.torch, exc, self.memory_share)
            if line is not None:
                reply["error"] = line
        return reply

    def _sync_quietly(self) -> None:
        try:
            self._sync()
        except Exception:  # noqa: BLE001 - a broken CUDA context: the next command will say so
            pass


def _numel(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def main() -> int:
    config = json.loads(sys.argv[1])
    if config.get("mode") == "profile":
        return Runner(config).profile_once()
    for fd in (config["cmd_fd"], config["res_fd"]):
        os.set_inheritable(fd, False)  # nothing the candidate starts inherits the pipes
    Runner(config).serve()
    return 0


if __name__ == "__main__":
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
