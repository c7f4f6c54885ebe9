"""Which failed stages are the judge's fault, not the candidate's (controller side, no torch).

A candidate must never be charged with a failure on the judge's side: the reference failing
(it could not be loaded, or ran out of GPU memory beside another job), the device busy, the
profiler failing, or the GPU running out of memory while the candidate held no more than its
share (memory_share.py). The evaluator retries such a result once the GPU is free, and stores
it as the evaluator's error if it happens again (`EvalResult.evaluator_error`).
"""

from __future__ import annotations

import re

from evaluators.kernel.memory_share import JUDGE_SIDE_OOM

REFERENCE_FAULTS = ("the reference could not be loaded", "the reference failed on")
"""Stage messages (judgement.py) of a reference that fails by itself, in the judge's process, where
no candidate code runs. ("The reference ran slower beside the candidate" is the candidate's.)"""
_DEVICE = re.compile(r"busy or unavailable|CUDA-capable device|CUPTI|profiler (?:failed|error)", re.IGNORECASE)


def is_judge_fault(stage: str, message: str) -> bool:
    """True for a failed stage (name, one-line message) the candidate did not cause."""
    if message.startswith(REFERENCE_FAULTS) or JUDGE_SIDE_OOM in message:
        return True
    return stage in ("compile", "correctness", "kernels") and bool(_DEVICE.search(message))
