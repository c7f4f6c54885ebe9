"""One judgement, stage by stage (the protocol is described in judge.py; the timing stages are in
timing_stages.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from evaluators.kernel import correctness, profile
from evaluators.kernel.child import Child
from evaluators.kernel.compile_errors import BUILD_FAILED, compile_message, is_compile_error
from evaluators.kernel.gpu_lock import GpuLock
from evaluators.kernel.inputs import derive_seed
from evaluators.kernel.ipc import ProtocolError, Timeout
from evaluators.kernel.judge import (JudgeOptions, describe_death, policy_problems, static_metrics, tolerance_for,
                                     trial_plan)
from evaluators.kernel.reference import Reference
from evaluators.kernel.report import Report
from evaluators.kernel.timing_stages import TimingStages

_VENDOR_KERNEL = re.compile(r"gemm|cutlass|cublas|cudnn|nvjet|xmma|fmha|flash|cufft|_fft|conv2d|implicit_convolve|"
                            r"magma|cusparse|sgemm|hgemm", re.IGNORECASE)
DERIVED_SHAPES = 2  # further shapes the judge checks when a task names none


class Judgement(TimingStages):
    def __init__(self, reference_path: str, candidate_path: str, options: JudgeOptions, build_dir: Path,
                 report: Report) -> None:
        self.reference_path, self.candidate_path = reference_path, candidate_path
        self.options, self.build_dir, self.report = options, build_dir, report
        self.cuda = options.device == "cuda"
        self.compile_only = options.language == "cuda" and not self.cuda
        self.child: Child | None = None
        self.ref: Reference | None = None
        self.spec_dtype = "float32"
        self.native_err = 0.0
        self.side_streams = 0  # streams besides the caller's that the profiled forward used
        self.call_times: list[float] = []  # seconds of each checked call (the timing stage's deadline)
        self.ref_times: list[float] = []  # seconds the reference's answers took, per trial (likewise)
        self.gpu = GpuLock(options.gpu_lock if self.cuda else None)

    # ----- the flow -----------------------------------------------------------------------

    def run(self) -> None:
        report, options = self.report, self.options
        try:
            if options.await_candidate_s > 0 and not self._primed():
                report.text["primed"] = "no candidate arrived"
                return
            source = Path(self.candidate_path).read_text(encoding="utf-8")
            ref_source = Path(self.reference_path).read_text(encoding="utf-8")
            with report.stage("policy"):
                problems = policy_problems(source, ref_source, options)
                if problems:
                    report.fail(problems[0], "\n".join(problems))
            for name, value in static_metrics(source, options.language).items():
                report.metric(name, value)
            if self.child is None:
                self._start_child()
            self._compile()
            if self.compile_only:
                report.metric("correctness_checked", 0.0)
                report.text["correctness"] = "not checked: CUDA kernels compiled but not run (no GPU on this machine)"
                report.text["timing"] = "not measured: no GPU on this machine"
                return
            # Checks share the GPU with other judges' checks, each trial holding it (gpu_lock.py);
            # timing holds it alone.
            self._correctness()
            report.metric("correctness_checked", 1.0)
            self._kernels(source)
            if self.cuda and options.time:
                self._timing()
                self._roofline()
            else:
                why = "no GPU on this machine" if not self.cuda else "timing switched off"
                report.text["timing"] = f"not measured: {why}"
            self._finish_child()
            if self.cuda and options.profile == "ncu":
                with self.gpu.exclusive():
                    self._profile()
        finally:
            self._finish_child()
            if self.gpu.path is not None:
                report.metric("gpu_wait_s", self.gpu.waited)
                report.metric("gpu_alone_s", self.gpu.held_alone)
            if self.gpu.waited > 0.5:
                report.note(f"waited {self.gpu.waited:.1f} s for the GPU")

    # ----- stages -------------------------------------------------------------------------

    def _primed(self) -> bool:
        """A primed job (priming.py): start the candidate's process and load the reference before
        the candidate exists, then wait for it; False when none arrives."""
        from evaluators.kernel.candidate_inbox import wait_for

        self._start_child()
        try:
            self.ref = self._reference()
        except Exception:  # noqa: BLE001 - the compile stage loads it again and says why it fails
            self.ref = None
        ready = time.monotonic()
        arrived = wait_for(self.candidate_path, self.options.await_candidate_s)
        self.report.metric("primed_wait_s", time.monotonic() - ready)  # how long the judge waited for it
        return arrived

    def _reference(self) -> Reference:
        ref = Reference(self.reference_path, self.options.device)
        ref.set_shape(self.options.shape)
        return ref

    def _start_child(self) -> None:
        config = {"reference": str(Path(self.reference_path).resolve()),
                  "candidate": str(Path(self.candidate_path).resolve()), "device": self.options.device,
                  "language": self.options.language, "compile_only": self.compile_only, "shape": self.options.shape,
                  "memory_share": self.options.memory_share, "profiler_warmup": self.options.profiler_warmup,
                  "await_candidate_s": self.options.await_candidate_s}
        self.child_config = config
        self.child = Child(config, self.build_dir, self.options.python)
        self.child_env = self.child.env

    def _compile(self) -> None:
        report, options = self.report, self.options
        with report.stage("compile") as stage:
            try:
                self.ref = self.ref or self._reference()
            except Exception as exc:  # noqa: BLE001 - the task's reference is broken: say so
                report.fail(f"the reference could not be loaded: {type(exc).__name__}: {exc}")
            loaded = self._receive(options.compile_timeout, "while importing the candidate")
            report.metric("compile_s", loaded.get("seconds"))
            if not loaded.get("ok"):
                report.fail(loaded.get("error", "import failed"), loaded.get("log", "") + "\n" + self._tail())
            self._tamper(loaded)
            if self.compile_only:
                info = [str(line) for line in loaded.get("build_info", [])]
                if info:
                    report.text["ptxas"] = "\n".join(info)
                stage["message"] = "compiled only (no GPU to run it on)" + (f"; {info[0]}" if info else "")
                return
            with self.gpu.shared():  # the first call runs (and may autotune) on the GPU
                warm = self._request({"op": "warmup", "seed": derive_seed(options.seed, "warmup"),
                                      "wseed": derive_seed(options.seed, "weights", 0)}, options.compile_timeout,
                                     "during its first call")
            if not warm.get("ok") and is_compile_error(warm):
                report.fail(compile_message(warm), warm.get("log", ""))
            self._tamper(warm)
            report.metric("compile_s", loaded.get("seconds", 0.0) + warm.get("seconds", 0.0))
        if not warm.get("ok"):
            with report.stage("correctness"):
                report.fail(f"the first call raised {warm.get('error')}", warm.get("log", ""))

    def _correctness(self, plan: list[dict[str, Any]] | None = None, stage_name: str = "correctness") -> None:
        report = self.report
        with report.stage(stage_name) as stage:
            worst_abs = worst_rel = 0.0
            notes = []
            outcomes = [self._trial(trial) for trial in plan or trial_plan(self.options)]
            if plan is None:
                outcomes += self._further_shapes()
            for abs_err, rel_err, note in outcomes:
                worst_abs, worst_rel = max(worst_abs, abs_err), max(worst_rel, rel_err)
                if note:
                    notes.append(note)
            self.ref.set_shape(self.options.shape)
            report.metric("max_abs_err", max(worst_abs, report.metrics.get("max_abs_err", 0.0)))
            report.metric("max_rel_err", max(worst_rel, report.metrics.get("max_rel_err", 0.0)))
            stage["message"] = "; ".join(notes)[:400]

    def _further_shapes(self) -> list[tuple[float, float, str]]:
        """Without the task's odd shapes: trials at shapes derived from the reference's sizes
        (further_shapes.py) until two ran; one the reference fails at is skipped with a note."""
        from evaluators.kernel import further_shapes
        from evaluators.kernel.inputs import Distribution

        options, report = self.options, self.report
        if options.extra_shapes or not options.derive_shapes:
            count = len({further_shapes.key(s) for s in options.extra_shapes})
            report.metric("shapes_checked", 1 + count)
            report.text["shapes"] = (f"correctness checked at the benchmark shape and the task's {count} further "
                                     "shape(s)" if count else "correctness checked at the benchmark shape only "
                                     "(further shapes switched off)")
            return []
        derived, why = further_shapes.derive(Path(self.reference_path).read_text(encoding="utf-8"), options.shape,
                                             options.seed)
        outcomes, checked, skipped = [], [], []
        for k, shape in enumerate(derived):
            if len(checked) == DERIVED_SHAPES:
                break
            trial = {"label": f"shape {further_shapes.shown(shape)} (derived from the reference's sizes)",
                     "seed": derive_seed(options.seed, "derived-shape", k), "dist": Distribution(), "shape": shape,
                     "wseed": derive_seed(options.seed, "derived-shape-weights", k), "repeat": False, "optional": True}
            outcome = self._trial(trial)
            if outcome is None:
                skipped.append(f"{further_shapes.shown(shape)} ({trial['skipped']})")
            else:
                outcomes.append(outcome)
                checked.append(further_shapes.shown(shape))
        report.metric("shapes_checked", 1 + len(checked))
        if checked:
            line = (f"correctness checked at {1 + len(checked)} shapes: the benchmark shape and, derived from the "
                    f"reference's sizes, {'; '.join(checked)}")
        else:
            line = f"{why or further_shapes.CANNOT}: correctness checked at the benchmark shape only"
        if skipped:
            line += f"; skipped, the reference fails there: {'; '.join(skipped)}"
        report.text["shapes"] = line[:600]
        return outcomes

    def _trial(self, trial: dict[str, Any]) -> tuple[float, float, str] | None:
        """One trial's errors and note; None when an optional trial's reference fails (trial["skipped"] says how)."""
        shape = {**(self.options.shape or {}), **(trial["shape"] or {})}
        self.ref.set_shape(shape)
        with self.gpu.shared():  # one trial at a time: a judge waiting to time waits for this trial only
            return self._trial_on_gpu(trial, shape)

    def _trial_on_gpu(self, trial: dict[str, Any], shape: dict[str, Any]) -> tuple[float, float, str] | None:
        report, options = self.report, self.options
        try:
            began = time.perf_counter()
            expected = self.ref.expected(trial["seed"], trial["wseed"], trial["dist"])
            if not trial["shape"]:  # the reference is timed beside the candidate too (deadline.py)
                self.ref_times.append(time.perf_counter() - began)
        except Exception as exc:  # noqa: BLE001 - the reference itself failed on these inputs
            hint = (" (the reference puts its tensors on the GPU itself, so it needs one: on this machine, drop its "
                    "device='cuda' and let the judge place them)") if not self.cuda and "CUDA" in str(exc) else ""
            if trial.get("optional"):
                trial["skipped"] = f"{type(exc).__name__}: {str(exc)[:160]}".splitlines()[0]
                return None
            report.fail(f"the reference failed on {trial['label']}: {type(exc).__name__}: {exc}{hint}")
        command = {"op": "trial", "seed": trial["seed"], "wseed": trial["wseed"], "shape": shape,
                   "dist": vars(trial["dist"]), "repeat": trial["repeat"], "spec": expected.spec,
                   "may_alias": expected.may_alias, "may_mutate": expected.may_mutate}
        reply, outputs = self._request_tensors(command, options.run_timeout, f"during {trial['label']}")
        if isinstance(reply.get("call_s"), (int, float)) and not trial["shape"]:  # another shape may compile anew
            self.call_times.append(float(reply["call_s"]))
        self._tamper(reply)
        if not reply.get("ok"):
            if is_compile_error(reply):  # a specialisation first compiled at this trial's shape or inputs
                report.stages[-1]["status"] = BUILD_FAILED
                report.fail(f"{trial['label']}: {compile_message(reply)}", reply.get("log", ""))
            report.fail(f"{trial['label']}: forward raised {reply.get('error')}", reply.get("log", ""))
        if reply.get("problem"):
            report.fail(f"{trial['label']}: {reply['problem']}")
        if reply.get("fingerprint") != expected.fingerprint:
            report.fail(f"{trial['label']}: the task's get_inputs() gave different inputs in the candidate's process "
                        "under the same seed (the task must make its inputs with torch's random functions)")
        count = len(expected.answers)
        runs = [outputs[i * count:(i + 1) * count] for i in range(len(outputs) // count)] if count else [[]]
        if len(runs) != (2 if trial["repeat"] else 1) or any(len(r) != count for r in runs):
            report.fail(f"{trial['label']}: the candidate's process sent {len(outputs)} outputs, expected {count}")
        abs_err = rel_err = 0.0
        for run_index, run in enumerate(runs):
            for k, (got, answer) in enumerate(zip(run, expected.answers)):
                atol, rtol = tolerance_for(expected.spec[k]["dtype"], options, expected.native_err)
                name = "output" if count == 1 else f"output {k}"
                verdict = correctness.compare(got.to(answer.device), answer, atol, rtol, name)
                abs_err, rel_err = max(abs_err, verdict.max_abs_err), max(rel_err, verdict.max_rel_err)
                if not verdict.ok:
                    report.text["worst_mismatch"] = verdict.worst
                    again = " on the second run (after memory was scrambled: uninitialised reads or a race?)" \
                        if run_index else ""
                    report.fail(f"{trial['label']}{again}: {verdict.worst}")
        self.spec_dtype = expected.spec[0]["dtype"] if expected.spec else "float32"
        self.native_err = max(self.native_err, expected.native_err)
        note = ""
        if trial["repeat"] and any(not bool((a.view(-1) == b.view(-1)).all()) for a, b in zip(*runs) if a.numel()):
            note = "not bitwise deterministic (both runs within tolerance)"
        if expected.precision != "float64":
            note = f"reference compared in {expected.precision} (float64 unsupported)"
        return abs_err, rel_err, note

    def _kernels(self, source: str) -> None:
        """What ran in one forward: the descriptors from the launches; on a GPU, own kernels and no vendor ones."""
        report = self.report
        with report.stage("kernels") as stage:
            with self.gpu.shared():
                reply = self._request({"op": "launches", "seed": derive_seed(self.options.seed, "launches"),
                                       "wseed": derive_seed(self.options.seed, "weights", 0)},
                                      self.options.run_timeout, "while its launches were recorded")
            self._tamper(reply)
            if not reply.get("ok"):
                report.fail(f"recording one forward failed: {reply.get('error')}", reply.get("log", ""))
            for name, value in (reply.get("triton") or {}).items():
                if name != "launches" or not self.cuda:
                    report.metric(name, value)
            if not self.cuda:
                return
            names = [str(n) for n in reply.get("kernels", [])]
            report.metric("launches", float(reply.get("launches", len(names))))
            if isinstance(reply.get("profiler_warmup_s"), (int, float)):
                report.metric("profiler_warmup_s", float(reply["profiler_warmup_s"]))
            if reply.get("side_streams") is not None:
                self.side_streams = int(reply["side_streams"])
                report.metric("side_streams", float(self.side_streams))
            from evaluators.kernel.policy import VENDOR_OPS, own_kernels

            own = own_kernels(source, self.options.language)
            if not any(k in name for k in own for name in names):
                shown = ", ".join(sorted(set(names))[:4]) or "no kernels"
                report.fail(f"none of the candidate's kernels ({', '.join(own[:4])}) ran in forward; it ran {shown}")
            vendor = [n for n in names if _VENDOR_KERNEL.search(n) and not any(k in n for k in own)]
            if vendor and not set(self.options.allow_ops) & VENDOR_OPS:
                report.fail(f"forward ran a vendor library kernel ({vendor[0][:80]}): compute with your own kernels")
            self._own_share([(str(n), float(us)) for n, us in reply.get("kernel_times") or []], own)
            stage["message"] = f"{len(names)} launch(es): " + ", ".join(sorted(set(names))[:4])

    def _own_share(self, kernel_times: list[tuple[str, float]], own: list[str]) -> None:
        """Reject a candidate whose own kernels did less than `min_own_share` of the forward's GPU time."""
        from evaluators.kernel.own_share import own_share, shortfall_message

        found = own_share(kernel_times, own)
        if found is None:
            return
        self.report.metric("own_kernel_share", round(found.share, 4))
        if found.share < self.options.min_own_share:
            self.report.fail(shortfall_message(found, self.options.min_own_share))

    def _profile(self) -> None:
        with self.report.stage("profile"):
            config = {**self.child_config, "seed": derive_seed(self.options.seed, "profile"),
                      "wseed": derive_seed(self.options.seed, "weights", 0)}
            env = dict(self.child_env)
            env.pop("CUDA_LAUNCH_BLOCKING", None)
            metrics, note = profile.run_ncu(config, self.build_dir, env, self.options.run_timeout, self.options.python)
            for name, value in metrics.items():
                if not name.startswith("_"):
                    self.report.metric(name, value)
            self.report.text["profile"] = note

    # ----- talking to the candidate's process ---------------------------------------------------------

    def _receive(self, timeout: float, when: str) -> dict[str, Any]:
        try:
            header, _ = self.child.receive(timeout)
            return header
        except Timeout:
            self.child.kill()
            self.report.fail(f"no answer within {timeout:g} s {when}", self._tail())
        except ProtocolError:
            self.report.fail(describe_death(self.child, when), self._tail())

    def _request(self, command: dict[str, Any], timeout: float, when: str, on_timeout: str = "") -> dict[str, Any]:
        return self._request_tensors(command, timeout, when, on_timeout)[0]

    def _request_tensors(self, command: dict[str, Any], timeout: float, when: str,
                         on_timeout: str = "") -> tuple[dict[str, Any], list[Any]]:
        try:
            return self.child.request(command, timeout)
        except Timeout:
            self.child.kill()
            self.report.fail(on_timeout or f"no answer within {timeout:g} s {when}", self._tail())
        except ProtocolError as exc:
            if "closed" in str(exc) or "gone" in str(exc):
                self.report.fail(describe_death(self.child, when), self._tail())
            self.child.kill()
            self.report.fail(f"the candidate's process sent a malformed message {when}: {exc}", self._tail())

    def _tamper(self, reply: dict[str, Any]) -> None:
        found = reply.get("tamper") or []
        if found:
            self.report.fail(f"the candidate {found[0]}", "\n".join(str(f) for f in found))

    def _tail(self) -> str:
        return self.child.output.text(wait=0.5)[-3000:] if self.child else ""

    def _finish_child(self) -> None:
        if self.child is not None:
            self.child.close()
            output = self.child.output.text(wait=0.5)
            if output.strip():
                self.report.text.setdefault("output", output[-2000:])
            self.child = None
