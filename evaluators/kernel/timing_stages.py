"""The judgement's timing stages, mixed into `Judgement` (judgement.py): timing (the candidate and
the reference interleaved while the GPU is held alone, the reference alone, torch.compile of the
reference), the re-check after timing, the CUDA-graph time of fast candidates, and the roofline.
The deadline of the "time" request follows from the calls' times measured by the checks (deadline.py)."""

from __future__ import annotations

import json
from typing import Any

from evaluators.kernel import roofline, stats
from evaluators.kernel.inputs import derive_seed
from evaluators.kernel.judge import tolerance_for, trial_plan
from evaluators.kernel.timing_rules import paired_speedup, reference_time, time_of

_GRAPH_BELOW_MS = 0.1  # CUDA-graph time is reported for candidates faster than this


class TimingStages:
    """Uses the judgement's report, options, GPU lock, reference, checked-call times and requests."""

    report: Any
    options: Any
    gpu: Any
    ref: Any
    call_times: list[float]
    ref_times: list[float]
    side_streams: int
    spec_dtype: Any
    native_err: float

    def _timing(self) -> None:
        from evaluators.kernel.timing import TimingOptions

        report, options = self.report, self.options
        seeds = [derive_seed(options.seed, "time", k) for k in range(3)]
        wseed = derive_seed(options.seed, "weights", 0)
        topts = TimingOptions(min_reps=options.min_reps, max_reps=options.max_reps, target_rel_se=options.target_rel_se,
                              max_seconds=options.max_time_s, flush_l2=options.flush_l2)
        atol, rtol = tolerance_for(self.spec_dtype, options, self.native_err)
        with report.stage("timing") as stage:
            compiled = self._compiled_reference(wseed, seeds[0]) if options.compile_reference else None
            with self.gpu.exclusive():
                reply = self._timed_request({"op": "time", "seeds": seeds, "wseed": wseed, "options": vars(topts),
                                             "atol": 2 * atol + self.native_err, "rtol": 2 * rtol}, topts)
                self._tamper(reply)
                if not reply.get("ok"):
                    report.fail(f"forward raised {reply.get('error')} while being timed", reply.get("log", ""))
                if reply.get("timed_outputs_bad"):
                    report.fail(f"{reply['timed_outputs_bad']} of {reply['timed_outputs']} outputs produced while "
                                "timing were wrong (cached or replayed results?)")
                short = TimingOptions(**{**vars(topts), "max_seconds": min(3.0, options.max_time_s)})
                alone = self.ref.time_alone(wseed, seeds, short)
                compiled_times = self._time_compiled(compiled, wseed, seeds, short) if compiled is not None else None
            cand = time_of(report, reply, "candidate", other_streams=self.side_streams)
            ref = time_of(report, reply, "reference")
            ref_alone = time_of(report, alone, "reference")
            reference_ms = reference_time(report, ref, ref_alone, options.reference_drift)
            paired = paired_speedup(ref, cand) if reference_ms == ref.median else None
            speedup = paired.median if paired is not None else reference_ms / cand.median
            report.metric("runtime_ms", cand.median)
            report.metric("runtime_ms_ci_low", cand.ci_low)
            report.metric("runtime_ms_ci_high", cand.ci_high)
            report.metric("runtime_rel_spread", cand.rel_spread)
            report.metric("runtime_stream_ms", stats.median(reply["samples"]["candidate"]["event_ms"]))
            report.metric("reference_ms", reference_ms)
            report.metric("reference_beside_ms", ref.median)
            report.metric("reference_alone_ms", ref_alone.median)
            report.metric("speedup", speedup)
            report.metric("speedup_of_medians", reference_ms / cand.median)
            if paired is not None:
                report.metric("speedup_rel_spread", paired.rel_spread)
            report.metric("timing_reps", float(reply.get("reps", 0)))
            report.metric("time_s", float(reply.get("seconds", 0.0)))
            report.metric("host_ms", (reply.get("host_ms") or {}).get("candidate"))
            if compiled_times is not None:
                compiled_ms = time_of(report, compiled_times, "reference").median
                report.metric("compile_ref_ms", compiled_ms)
                report.metric("speedup_vs_compile", compiled_ms / cand.median)
            l2 = int(reply.get("l2_flush_bytes", 0)) // 2**20
            report.text["timing"] = (f"{cand.median:.4g} ms (95% CI {cand.ci_low:.4g}-{cand.ci_high:.4g}, {cand.n} runs) vs "
                                     f"reference {reference_ms:.4g} ms: speedup {speedup:.3g}x; "
                                     f"L2 flushed with {l2} MiB, persisting L2 reset: "
                                     f"{'yes' if reply.get('persisting_l2_reset') else 'unavailable'}")
            host = report.metrics.get("host_ms", 0.0)
            if host > cand.median:
                report.text["timing"] += (f"; the host takes {host:.3g} ms to issue one call, more than the GPU "
                                          "runs it: launch-bound when called back to back (fewer launches help)")
            stage["message"] = report.text["timing"][:400]
        recheck = {**trial_plan(self.options)[0], "label": "re-check after timing", "repeat": False,
                   "seed": derive_seed(options.seed, "after"), "wseed": derive_seed(options.seed, "after-weights")}
        with self.gpu.shared():
            self._correctness([recheck], "recheck")
        if report.metrics["runtime_ms"] < _GRAPH_BELOW_MS:  # last: a failed capture can upset the process
            from evaluators.kernel.deadline import GRAPH_CALLS, calls_deadline

            limit = calls_deadline(max(self.call_times, default=0.0), GRAPH_CALLS, options.run_timeout)
            with self.gpu.exclusive():  # held alone: a hang here must cost seconds too (deadline.py)
                reply = self._request({"op": "graph", "seed": seeds[0], "wseed": wseed}, limit,
                                      "while its CUDA graph was timed")
            if reply.get("graph_ms") is not None:
                report.metric("graph_ms", reply["graph_ms"])
            else:
                report.note("no CUDA-graph time: forward cannot be captured in a graph")

    def _compiled_reference(self, wseed: int, seed: int) -> Any:
        """torch.compile of the reference, compiled by a first call while the GPU is shared; None if it fails."""
        try:
            with self.gpu.shared():
                return self.ref.compiled_model(wseed, seed)
        except Exception as exc:  # noqa: BLE001 - torch.compile failing is a note, not the candidate's fault
            self.report.note(f"torch.compile of the reference failed: {type(exc).__name__}: {str(exc)[:200]}")
            return None

    def _time_compiled(self, compiled: Any, wseed: int, seeds: list[int], topts: Any) -> dict[str, Any] | None:
        try:
            return self.ref.time_alone(wseed, seeds, topts, model=compiled)
        except Exception as exc:  # noqa: BLE001 - as in _compiled_reference
            self.report.note(f"torch.compile of the reference failed while timed: {type(exc).__name__}: {str(exc)[:200]}")
            return None

    def _roofline(self) -> None:
        report, options = self.report, self.options
        with report.stage("roofline") as stage:
            wseed = derive_seed(options.seed, "weights", 0)
            if options.reference_work:  # measured by an earlier judgement of this task (the evaluator caches it)
                known = options.reference_work
                moved, flops, dtype = float(known["bytes"]), float(known["flops"]), str(known["dtype"])
            else:
                with self.gpu.shared():  # one forward of the reference under the FLOP counter
                    moved, flops, dtype = self.ref.work(wseed, derive_seed(options.seed, "time", 0))
                report.text["reference_work"] = json.dumps({"bytes": moved, "flops": flops, "dtype": str(dtype)})
            work = roofline.Work(options.bytes or moved, options.flops if options.flops is not None else flops, dtype,
                                 options.bytes is None or options.flops is None)
            ceilings = options.ceilings
            if ceilings is None:
                from evaluators.kernel.ceilings import load_or_measure

                with self.gpu.exclusive():  # measuring the device's peaks needs it to itself
                    ceilings = load_or_measure(options.ceilings_path)
                report.text["ceilings"] = json.dumps(ceilings)  # for the controller to cache
            floor = roofline.floor_ms(work, ceilings)
            if floor is None:
                stage["message"] = "no device ceilings: roofline not computed"
                return
            runtime = report.metrics["runtime_ms"]
            report.metric("roofline_floor_ms", floor)
            report.metric("roofline_fraction", floor / runtime)
            report.metric("work_bytes", work.bytes)
            report.metric("work_flops", work.flops)
            if runtime < roofline.IMPOSSIBLE_FRACTION * floor:
                report.fail(f"{runtime:.4g} ms is faster than the roofline floor of {floor:.4g} ms "
                            f"({work.bytes / 1e6:.4g} MB, {work.flops / 1e9:.4g} GFLOP): physically impossible")
            stage["message"] = (f"floor {floor:.4g} ms ({roofline.bound(work, ceilings)}-bound); the candidate reaches "
                                f"{floor / runtime:.0%} of it")

    def _timed_request(self, command: dict[str, Any], topts: Any) -> dict[str, Any]:
        """The "time" request under a deadline from the checked calls' times (deadline.py): a
        candidate that hangs once timed is killed (its process group) within seconds."""
        from evaluators.kernel.deadline import timing_timeout_message

        limit = self._timing_limit(topts)
        return self._request(command, limit, "while being timed",
                             on_timeout=timing_timeout_message(limit, self.call_times))

    def _timing_limit(self, topts: Any) -> float:
        """The slowest checked call of the candidate, or the reference's median if longer, makes the deadline."""
        from evaluators.kernel.deadline import timing_deadline

        call_s = max(max(self.call_times, default=0.0), stats.median(self.ref_times) if self.ref_times else 0.0)
        return timing_deadline(call_s, topts, self.options.max_time_s * 4 + self.options.run_timeout)
