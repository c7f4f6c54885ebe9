"""Timing: interleaved, flushed, whole-device-synchronised measurements of one or more callables.

`measure` times callables (the reference and the candidate) in one loop, alternating which
goes first, each call on fresh inputs, and returns the raw samples; the judge turns them into
statistics (stats.py) outside the candidate's process. Per call:

1. persisting L2 lines are reset (`cudaCtxResetPersistingL2Cache`, before the call's inputs
   are copied), then the L2 cache is flushed by writing a buffer of at least twice its size
   (read from the device at run time), enqueued right before the call so that it overlaps the
   call's launch, as in `triton.testing.do_bench`;
2. a spin kernel holds the stream for twice as long as the host takes to issue the call, plus
   20 us (measured in the warm-up, raised from the loop's own host times every 10
   iterations; at most `HIDE_LAUNCH_MAX_MS`), so the start event does not run while the host
   is still launching: the time is the device's, not the launch latency (nvbench's blocking
   kernel does the same). Twice the median, because a busy host issues some calls much
   slower than its median (on an H200 beside five other judges: 70-170 us for one Triton
   launch). Nothing the candidate does can run in that spin (it is called after the start
   event is recorded): the cap bounds only the GPU time spent spinning, and a candidate whose
   host work takes longer is timed as launch-bound; `host_ms` (the host's time to issue each
   call) is reported beside;
3. events are recorded on the calling stream around the call (`event_ms`, what
   `triton.testing.do_bench` measures), then the whole device is synchronised and a third
   event is recorded (`sync_ms`: it counts work the callable left on other streams or
   threads), and the host wall time is taken around it all (`wall_ms`);
4. the outputs are checked against the reference's on the same inputs (`check`).

Warm-up runs each callable at least `warmup_reps` times and `warmup_seconds`. Repetition is
adaptive: it stops once the median of every callable has a relative standard error under
`target_rel_se` (after `min_reps`), or at `max_reps`, or after `max_seconds`.
`honest_gap_ms` is what sync_ms - event_ms is for a spin kernel of the same duration on the
calling stream alone (the host's wake-up and a launch), so the judge can tell work left on
side streams (a gap well beyond it) from the sync's own cost. `graph_time` times CUDA-graph
replays (no launch gaps); the judge asks for it last, for candidates under 20 us.

On a CPU there are no events: `HostTimer` measures with `time.perf_counter` (used by tests
of the loop; the judge reports CPU timing as not measured).
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from typing import Any, Callable

from evaluators.kernel.stats import median, median_rel_se

_perf_counter = time.perf_counter  # captured before any candidate code is imported
_CUDA: dict[str, Any] = {}  # torch.cuda's timing functions, captured by capture_cuda()
HIDE_LAUNCH_MAX_MS = 0.3  # the longest launch latency the spin before a call hides


def capture_cuda() -> None:
    """Keep torch.cuda's events, sync, streams and graphs as they are now (before candidate import)."""
    import torch

    if not _CUDA:
        cuda = torch.cuda
        _CUDA.update(Event=cuda.Event, synchronize=cuda.synchronize, Stream=cuda.Stream, stream=cuda.stream,
                     current_stream=cuda.current_stream, CUDAGraph=cuda.CUDAGraph, graph=cuda.graph,
                     get_device_properties=cuda.get_device_properties, current_device=cuda.current_device,
                     _sleep=getattr(cuda, "_sleep", None))


@dataclass(frozen=True)
class TimingOptions:
    min_reps: int = 10
    max_reps: int = 2000
    target_rel_se: float = 0.002
    max_seconds: float = 10.0
    warmup_reps: int = 3
    warmup_seconds: float = 0.05
    flush_l2: bool = True


class HostTimer:
    """Wall-clock timing (CPU devices): every column is the same host measurement."""

    def begin(self) -> Any:
        return _perf_counter()

    def end(self, token: Any) -> Any:
        return _perf_counter() - token

    def resolve(self, token: Any) -> tuple[float, float, float]:
        ms = token * 1e3
        return ms, ms, ms

    def honest_gap(self, duration_ms: float, flusher: Any = None) -> float | None:
        return 0.0

    def hold_stream(self, ms: float) -> None:
        """Nothing to hold: the host clock counts from the call on."""


class CudaTimer:
    """Three CUDA events per call (start, end on the stream, end after a device sync) + host time."""

    def __init__(self) -> None:
        import torch

        capture_cuda()
        self._torch = torch
        self._event = _CUDA["Event"]
        self._sync = _CUDA["synchronize"]
        self._events: list[tuple[Any, Any, Any]] = []
        self._cycles_per_ms = 0.0  # torch.cuda._sleep's rate; 0: not measured yet

    def begin(self) -> Any:
        start, end, after = self._events.pop() if self._events else self._new_events()
        host = _perf_counter()
        start.record()
        return start, end, after, host

    def end(self, token: Any) -> Any:
        start, end, after, host = token
        end.record()
        self._sync()  # the whole device: work left on other streams is waited for
        after.record()
        return start, end, after, _perf_counter() - host

    def spin_cycles_per_ms(self) -> float | None:
        """Clock cycles torch.cuda._sleep spins per millisecond here (measured once); None without it."""
        sleep = _CUDA.get("_sleep")
        if sleep is None:
            return None
        if not self._cycles_per_ms:
            probe = 200_000
            sleep(probe)  # the clock ramps up on the first spin
            token = self.begin()
            sleep(probe)
            event_ms, _, _ = self.resolve(self.end(token))
            self._cycles_per_ms = probe / max(event_ms, 1e-6)
        return self._cycles_per_ms

    def hold_stream(self, ms: float) -> None:
        """Keep the calling stream busy for about `ms` (a spin kernel), enqueued before the start event."""
        rate = self.spin_cycles_per_ms()
        if rate is not None and ms > 0:
            _CUDA["_sleep"](max(1, int(rate * ms)))

    def _new_events(self) -> tuple[Any, Any, Any]:
        return tuple(self._event(enable_timing=True) for _ in range(3))  # type: ignore[return-value]

    def prepare(self, count: int) -> None:
        """Create events ahead, so a timed call pays for none."""
        self._events.extend(self._new_events() for _ in range(count))

    def resolve(self, token: Any) -> tuple[float, float, float]:
        start, end, after, wall = token
        after.synchronize()
        times = start.elapsed_time(end), start.elapsed_time(after), wall * 1e3
        self._events.append((start, end, after))  # reused: recorded again only after being read
        return times

    def honest_gap(self, duration_ms: float, flusher: "L2Flusher | None" = None, reps: int = 30) -> float | None:
        """Median (sync_ms - event_ms) of a kernel that runs `duration_ms` on the calling stream only.

        That gap is the host's wake-up after a wait of that length plus a launch; it grows with
        the wait. Work a callable leaves on other streams shows up beyond it. Measured the way
        calls are timed (L2 flush first) with torch.cuda._sleep, a spin kernel scaled to the
        duration; None where _sleep is missing.
        """
        sleep = _CUDA.get("_sleep")
        rate = self.spin_cycles_per_ms()
        if sleep is None or rate is None or duration_ms <= 0:
            return None
        cycles = max(1, int(rate * duration_ms))
        gaps = []
        for _ in range(reps):
            if flusher is not None:
                flusher.flush()
            token = self.begin()
            sleep(cycles)
            event_ms, sync_ms, _ = self.resolve(self.end(token))
            gaps.append(sync_ms - event_ms)
        return median(gaps)


class L2Flusher:
    """Evicts the L2 cache between calls: writes a buffer of >= 2x its size, resets persisting lines."""

    def __init__(self) -> None:
        import torch

        capture_cuda()
        props = _CUDA["get_device_properties"](_CUDA["current_device"]())
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 0) or 128 * 2**20
        self.buffer = torch.empty(2 * self.l2_bytes, dtype=torch.int8, device="cuda")
        self._reset = _cudart_function("cudaCtxResetPersistingL2Cache")
        set_limit = _cudart_function("cudaDeviceSetLimit")
        if set_limit is not None:
            set_limit(ctypes.c_int(0x06), ctypes.c_size_t(0))  # cudaLimitPersistingL2CacheSize = 0

    @property
    def resets_persisting(self) -> bool:
        return self._reset is not None

    def reset_persisting(self) -> None:
        """Drop lines a call marked persisting (a host call, made outside the timed region)."""
        if self._reset is not None:
            self._reset()

    def flush(self) -> None:
        """Evict L2 by writing the buffer; enqueued just before the timed call, whose launch it overlaps."""
        self.buffer.zero_()


def _cudart_function(name: str) -> Any:
    """A function of the CUDA runtime this process loaded, or None where it cannot be found."""
    candidates = []
    try:
        with open("/proc/self/maps") as maps:
            candidates = sorted({line.split()[-1] for line in maps if "libcudart" in line})
    except OSError:
        pass
    for path in [*candidates, "libcudart.so", "libcudart.so.13", "libcudart.so.12"]:
        try:
            return getattr(ctypes.CDLL(path), name)
        except (OSError, AttributeError):
            continue
    return None


def _warm(fn: Callable[..., Any], make_args: Callable[[], list[Any]], reps: int, seconds: float,
          sync: Callable[[], None]) -> float:
    """Call fn on fresh copies of its arguments (synchronised each time) `reps` times and for
    `seconds`; the median host ms to issue a call."""
    start = _perf_counter()
    issued: list[float] = []
    while len(issued) < reps or _perf_counter() - start < seconds:
        args = make_args()
        before = _perf_counter()
        fn(*args)
        issued.append((_perf_counter() - before) * 1e3)
        sync()
        if len(issued) > 1000:
            break
    return median(issued[1:] or issued)


def launch_cover_ms(host_ms: float) -> float:
    """How long the stream is held before a call that takes the host `host_ms` to issue."""
    return min(HIDE_LAUNCH_MAX_MS, 2.0 * host_ms + 0.020)


def measure(fns: dict[str, Callable[..., Any]], fresh_args: Callable[[int], list[Any]],
            check: Callable[[dict[str, Any]], None] | None, options: TimingOptions, device: str) -> dict[str, Any]:
    """Time `fns` interleaved; returns {"samples": {name: {"event_ms", "sync_ms", "wall_ms"}}, ...}.

    `fresh_args(i)` gives new argument tensors for iteration i; every callable gets its own
    copy. `check(outputs_by_name)` sees the outputs of each iteration (while all are alive).
    """
    import torch

    cuda = device == "cuda"
    timer: Any = CudaTimer() if cuda else HostTimer()
    sync = _CUDA["synchronize"] if cuda else (lambda: None)
    flusher = L2Flusher() if cuda and options.flush_l2 else None
    names = list(fns)
    with torch.no_grad():
        warm_args = fresh_args(0)
        cover = {}
        for name in names:
            issued = _warm(fns[name], lambda: _copy(warm_args), options.warmup_reps, options.warmup_seconds, sync)
            cover[name] = launch_cover_ms(issued)
        tokens: dict[str, list[Any]] = {n: [] for n in names}
        times: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
        host: dict[str, list[float]] = {n: [] for n in names}
        start = _perf_counter()
        i = 0
        if cuda:
            timer.prepare(2 * len(names) * min(options.max_reps, 10))
            timer.spin_cycles_per_ms()  # calibrated before the loop, not inside a timed call's lead-in
        while i < options.max_reps:
            args = fresh_args(i + 1)
            order = names if i % 2 == 0 else names[::-1]
            outputs = {}
            for name in order:
                if flusher is not None:
                    flusher.reset_persisting()
                call_args = _copy(args)
                if flusher is not None:
                    flusher.flush()
                timer.hold_stream(cover[name])
                token = timer.begin()
                before = _perf_counter()
                outputs[name] = fns[name](*call_args)
                host[name].append((_perf_counter() - before) * 1e3)
                tokens[name].append(timer.end(token))
            if check is not None:
                check(outputs)
            del outputs
            i += 1
            if i >= options.min_reps and (i % 10 == 0 or _perf_counter() - start > options.max_seconds):
                for name in names:
                    times[name].extend(timer.resolve(t) for t in tokens[name])
                    tokens[name].clear()
                    if cuda:  # the loop's own host times: a busy host issues slower than in the warm-up
                        cover[name] = max(cover[name], launch_cover_ms(median(host[name])))
                rel = max(median_rel_se([t[0] for t in times[name]]) for name in names)
                if rel < options.target_rel_se or _perf_counter() - start > options.max_seconds:
                    break
        for name in names:
            times[name].extend(timer.resolve(t) for t in tokens[name])
        result: dict[str, Any] = {
            "samples": {n: {"event_ms": [t[0] for t in times[n]], "sync_ms": [t[1] for t in times[n]],
                            "wall_ms": [t[2] for t in times[n]]} for n in names},
            "reps": i,
            "seconds": _perf_counter() - start,
            "l2_flush_bytes": flusher.buffer.numel() if flusher else 0,
            "l2_bytes": flusher.l2_bytes if flusher else 0,
            "persisting_l2_reset": bool(flusher and flusher.resets_persisting),
            "host_ms": {n: median(host[n]) for n in names},
            "launch_cover_ms": cover if cuda else {},
            "honest_gap_ms": {n: timer.honest_gap(median([t[0] for t in times[n]]), flusher) for n in names},
        }
    return result


def _copy(args: list[Any]) -> list[Any]:
    import torch

    return [a.clone() if isinstance(a, torch.Tensor) else a for a in args]


def graph_time(fn: Callable[..., Any], args: list[Any], replays: int = 20, rounds: int = 5) -> float | None:
    """Median ms per CUDA-graph replay of fn(*args); None when fn cannot be captured."""
    capture_cuda()
    cuda = _CUDA
    try:
        side = cuda["Stream"]()
        side.wait_stream(cuda["current_stream"]())
        with cuda["stream"](side):
            fn(*args)
        cuda["current_stream"]().wait_stream(side)
        graph = cuda["CUDAGraph"]()
        with cuda["graph"](graph):
            fn(*args)
        graph.replay()
        cuda["synchronize"]()
    except Exception:  # noqa: BLE001 - a candidate that cannot be captured just has no graph time
        cuda["synchronize"]()
        return None
    per_replay = []
    for _ in range(rounds):
        start, end = cuda["Event"](enable_timing=True), cuda["Event"](enable_timing=True)
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        end.synchronize()
        per_replay.append(start.elapsed_time(end) / replays)
    return median(per_replay)
