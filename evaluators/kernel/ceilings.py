"""Device ceilings: what this GPU can move and compute at best, measured once and cached.

`measure_ceilings(device)` measures, with CUDA events and medians of several runs:

- `copy_gbps`: a 1 GiB device-to-device copy, counting bytes read plus bytes written;
- `fp16_tflops`, `bf16_tflops`: an 8192^3 matrix product on random data;
- `tf32_tflops`: the same in float32 with TF32 allowed (the fastest a float32 product can go);
- `fp32_tflops`: float32 without TF32 (CUDA cores).

`load_or_measure(path)` keeps them in a JSON file keyed by device name, measuring only when
this device is not in it yet. Run as `python -m evaluators.kernel.ceilings [PATH]` it prints
the current device's ceilings as JSON (and caches them in PATH when given).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any


def _median_ms(fn: Any, reps: int = 10) -> float:
    import torch

    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def measure_ceilings(device: str = "cuda") -> dict[str, Any]:
    """Measured copy bandwidth (GB/s) and matmul rates (TFLOP/s) of `device` (a CUDA device)."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        raise ValueError("device ceilings are measured on a CUDA device only")
    with torch.cuda.device(dev):
        src = torch.randn(2**28, device=dev)  # 1 GiB of float32
        dst = torch.empty_like(src)
        copy_ms = _median_ms(lambda: dst.copy_(src))
        del src, dst
        out: dict[str, Any] = {"device": torch.cuda.get_device_name(dev), "copy_gbps": 2 * 2**30 / copy_ms / 1e6}
        n = 8192
        flops = 2 * n**3
        previous = torch.backends.cuda.matmul.allow_tf32
        try:
            for key, dtype, tf32 in (("fp16_tflops", torch.float16, False), ("bf16_tflops", torch.bfloat16, False),
                                     ("tf32_tflops", torch.float32, True), ("fp32_tflops", torch.float32, False)):
                torch.backends.cuda.matmul.allow_tf32 = tf32
                a = torch.randn(n, n, device=dev, dtype=dtype)
                b = torch.randn(n, n, device=dev, dtype=dtype)
                out[key] = flops / _median_ms(lambda: a @ b, reps=5) / 1e9
                del a, b
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous
        props = torch.cuda.get_device_properties(dev)
        out["l2_bytes"] = int(getattr(props, "L2_cache_size", 0) or 0)
        out["sms"] = props.multi_processor_count
        out["torch"] = torch.__version__
        torch.cuda.empty_cache()
    return out


def load_or_measure(path: str | os.PathLike[str] | None, device: str = "cuda") -> dict[str, Any]:
    """This device's ceilings from the JSON cache at `path`, measured and stored if missing."""
    import torch

    name = torch.cuda.get_device_name(torch.device(device))
    cache: dict[str, Any] = {}
    if path is not None and Path(path).is_file():
        try:
            cache = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
    if isinstance(cache.get(name), dict):
        return cache[name]
    measured = measure_ceilings(device)
    if path is not None:
        cache[name] = measured
        target = Path(path)
        try:  # a read-only place (inside a sandbox) keeps nothing; the caller may store them
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".ceilings-")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(cache, fh, indent=2)
            os.replace(tmp, target)
        except OSError:
            pass
    return measured


def main(argv: list[str]) -> int:
    print(json.dumps(load_or_measure(argv[0] if argv else None)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
