"""One problem's `agent evolve`, as a process of its own (a crash or a kill stays in it).

`start_evolve` is the seam where problems could go elsewhere (a Ray cluster, issue 17): the
runner only needs a handle it can poll, signal and read the last error line of.

The process gets its own session, so a Ctrl-C at the terminal reaches the suite alone, which
passes exactly one SIGINT on (a second would cut the evolve's clean stop short). On Linux it is
also sent SIGTERM when the suite dies (even by SIGKILL): it then stops as after a Ctrl-C, its
run `stopped`, and the next `agent suite run` continues it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.suites.settings import SuiteSettings

_PR_SET_PDEATHSIG = 1


def evolve_command(task_file: Path, settings: SuiteSettings, store_url: str, run_id: str | None) -> list[str]:
    """`python -m agent.cli evolve TASK --store URL --evaluations N ... -q` for one problem."""
    command = [sys.executable, "-m", "agent.cli", "evolve", str(task_file), "--store", store_url, "-q"]
    if run_id is not None:
        command += ["--run", run_id]
    for option, value in (("--evaluations", settings.evaluations), ("--dollars", settings.dollars),
                          ("--model", settings.model), ("--api-base", settings.api_base),
                          ("--strategy", settings.strategy), ("--workers", settings.workers)):
        if value is not None:
            command += [option, str(value)]
    return command


@dataclass
class EvolveProcess:
    """A started evolve: its process and the file its output goes to."""

    process: subprocess.Popen
    log: Path

    def poll(self) -> int | None:
        return self.process.poll()

    def interrupt(self) -> None:
        """Ask it to stop as Ctrl-C would (it records its run `stopped`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def reason(self, exit_code: int) -> str:
        """Why it failed, in one line: evolve's `error:` line, else its last line."""
        try:
            lines = [line.strip() for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines()]
        except OSError:
            lines = []
        lines = [line for line in lines if line]
        errors = [line for line in lines if line.startswith("error: ")]
        if errors:
            return errors[-1].removeprefix("error: ")
        if exit_code < 0:
            return f"evolve was killed by signal {-exit_code} (its output: {self.log})"
        return lines[-1] if lines else f"evolve ended with exit code {exit_code} and no output"


def start_evolve(command: list[str], log: Path, cwd: Path) -> EvolveProcess:
    """Start `command` with stdout and stderr to `log` (replaced)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
    return EvolveProcess(process, log)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the suite's process ends (Linux prctl)."""
    import ctypes

    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
