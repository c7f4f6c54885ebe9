"""A job started before all of its input exists: it prepares (starts its processes, imports what
it needs) while its caller still waits for the input, which `deliver` then hands it. Used by the
kernel evaluator to hide a candidate's start-up (evaluators/kernel/priming.py).

The job runs as the sandbox's `run` runs it, with the same isolation and limits, in a thread of
its own. Its input arrives in an inbox: a host folder made for the job, named in its environment
(`INBOX_VAR`) and added to what it may read (read-only inside a mount namespace; the job's own
working folder is a tmpfs there, which later host writes would not reach). A delivered file is
written beside its final name and renamed into place, so the job never reads half of one.
`outcome()` returns what `run` would have returned, or raises what it raised.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

from sandbox.base import SandboxJob, SandboxOutcome

INBOX_VAR = "EVOFORGE_INBOX"


class StartedJob:
    def __init__(self, run: Callable[[SandboxJob], SandboxOutcome], job: SandboxJob) -> None:
        self.inbox = Path(tempfile.mkdtemp(prefix="evoforge-inbox-")).resolve()
        os.chmod(self.inbox, 0o755)  # the job's user reads it; only this process writes it
        self.job = replace(job, env={**job.env, INBOX_VAR: str(self.inbox)},
                           read_paths=(*job.read_paths, str(self.inbox)))
        self._done = threading.Event()
        self._outcome: SandboxOutcome | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(run,), name=f"job {job.label or 'started'}",
                                        daemon=True)
        self._thread.start()

    def _main(self, run: Callable[[SandboxJob], SandboxOutcome]) -> None:
        try:
            self._outcome = run(self.job)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the outcome
            self._error = exc
        finally:
            shutil.rmtree(self.inbox, ignore_errors=True)
            self._done.set()

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    def deliver(self, files: dict[str, str | bytes]) -> bool:
        """Put `files` in the job's inbox; False when the job ended first (nothing delivered)."""
        if self.ended:
            return False
        try:
            for name, content in files.items():
                if "/" in name or name.startswith(".") or not name:
                    raise ValueError(f"deliver: {name!r} is not a plain file name")
                target = self.inbox / name
                part = self.inbox / f".{name}.part"
                part.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
                os.chmod(part, 0o644)
                os.rename(part, target)
        except OSError:  # the job ended meanwhile and its inbox went with it
            return False
        return True

    def outcome(self) -> SandboxOutcome:
        """Wait for the job to end: what the sandbox's `run` returned, or its exception raised here."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome
