"""Why a run cannot do its job, as opposed to a user's mistake in the task file.

`ConfigError` (agent/config.py) is a user's mistake: one line, exit code 2, no run created.
`RunFailed` is a run that cannot do its job: an LLM that cannot be reached or refuses the key,
an evaluator that is broken on the initial program, a store that cannot be written, a sandbox
backend that went away, proposals that stopped giving anything new to evaluate (40 in a row, or
the failure memory with nothing left to change). Its message is one line naming the cause; `agent evolve` prints it and
exits with code 1, and a run already created is left with status `failed` and the message as
its notes. It is raised by whichever box found the cause (the preflight, the controller, the
session) and caught only by the session and the CLI.
"""

from __future__ import annotations


class RunFailed(Exception):
    """The run cannot go on; `str()` is one line naming the cause. `best_so_far`: set by the
    session when the run had found a correct program before it failed (one line, with the
    command that exports it)."""

    best_so_far: str | None = None
