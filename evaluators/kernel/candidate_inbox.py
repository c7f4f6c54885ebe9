"""Where a primed judge finds its candidate (harness side; standard library only).

A primed kernel job (priming.py) starts before its candidate exists: the judge loads the
reference and starts the candidate's process (which imports torch and triton, starts CUDA and
the profiler) while the LLM is still writing the candidate. The candidate then arrives in the
job's inbox (sandbox/started_job.py, the folder named by EVOFORGE_INBOX) as `candidate.py`; a
file named `cancel` there means none will come (the run ended).
"""

from __future__ import annotations

import os
import time

from sandbox.started_job import INBOX_VAR
CANDIDATE = "candidate.py"
CANCEL = "cancel"
_POLL_S = 0.01


def candidate_path() -> str:
    """The candidate's path in this job's inbox (where it will appear)."""
    return os.path.join(os.environ[INBOX_VAR], CANDIDATE)


def wait_for(path: str, timeout: float) -> bool:
    """Wait until the file at `path` exists; False when its folder's `cancel` appears first or
    `timeout` seconds pass."""
    cancel = os.path.join(os.path.dirname(path), CANCEL)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if os.path.exists(cancel) or time.monotonic() > deadline:
            return False
        time.sleep(_POLL_S)
    return True
