"""Check Triton candidates on the CPU in Triton's interpreter; prints one JSON object.

    python -m bench.ops.check_cpu [OP[=CANDIDATE_PATH] ...]

Each op's candidate runs at the catalog's tiny sizes on several input distributions and is
compared with its reference computed in float64 (bench.ops.pairs). With no ops named, every
Triton op of the catalog is checked. Output: {"op": ["problem", ...], ...}, an empty list
meaning correct. Its own process, because TRITON_INTERPRET must be set before triton is
imported (a test process may already hold a compiled-mode triton).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ["TRITON_INTERPRET"] = "1"

# (scale, offset) of the inputs: plain, large with a shift, small and negative
DISTRIBUTIONS = ((1.0, 0.0), (10.0, 3.0), (0.1, -2.0))


def check(op_name: str, candidate: Path | None = None) -> list[str]:
    import torch

    from bench.ops import pairs
    from bench.ops.catalog import by_name

    op = by_name(op_name)
    model, model_new, ref = pairs.build_pair(op, device="cpu", seed=7, sizes=op.tiny, candidate=candidate)
    problems = []
    for trial, (scale, offset) in enumerate(DISTRIBUTIONS):
        inputs = pairs.make_inputs(ref, device="cpu", seed=100 + trial, scale=scale, offset=offset)
        pristine = [x.clone() for x in inputs]
        try:
            with torch.no_grad():
                out = model_new(*inputs)
        except Exception as exc:  # noqa: BLE001 - the candidate's failure is the finding
            problems.append(f"trial {trial}: raised {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            continue
        problem = pairs.mismatch(out, pairs.fp64_reference(model, pristine))
        if problem:
            problems.append(f"trial {trial} (scale {scale}, offset {offset}): {problem}")
        if any(not torch.equal(a, b) for a, b in zip(inputs, pristine)):
            problems.append(f"trial {trial}: the candidate changed its inputs")
    return problems


def main(argv: list[str]) -> int:
    from bench.ops.catalog import OPS

    wanted = argv or [op.name for op in OPS if op.language == "triton"]
    report = {}
    for item in wanted:
        name, _, path = item.partition("=")
        report[name] = check(name, Path(path) if path else None)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
