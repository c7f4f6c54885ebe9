"""Start, talk to and end the candidate's process (runner.py), from the judge's side.

The candidate's process gets a clean environment (no secrets, its own HOME, TMPDIR, Triton
cache and torch-extension build folder inside the build directory), a new session (so its
whole process group, compilers included, can be killed), two pipes for messages, and its
stdout/stderr merged into a third pipe that a thread drains, keeping the first and last
`output_cap` bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from evaluators.kernel.ipc import Pipe, ProtocolError

PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_PATH", "TORCH_CUDA_ARCH_LIST",
             "CC", "CXX", "LD_LIBRARY_PATH", "NVIDIA_VISIBLE_DEVICES", "MAX_JOBS",
             "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class _Output:
    def __init__(self, stream: Any, cap: int) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._cap = cap
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: Any) -> None:
        for chunk in iter(lambda: stream.read1(1 << 16), b""):
            self.total += len(chunk)
            room = self._cap // 2 - len(self.head)
            if room > 0:
                self.head += chunk[:room]
                chunk = chunk[room:]
            self.tail = (self.tail + chunk)[-self._cap // 2:]

    def text(self, wait: float = 0.0) -> str:
        self._thread.join(wait)
        dropped = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {dropped} bytes dropped ...]\n".encode() if dropped > 0 else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", "replace")


def oom_kills() -> int | None:
    """Processes the out-of-memory killer has ended in this process's memory cgroup; None where unknown.

    The judge and the candidate's process share the job's cgroup (a container's, or the process
    sandbox's), so a rise while the candidate runs names why it died.
    """
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    files = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):  # cgroup v1
            files += [Path("/sys/fs/cgroup/memory", path.lstrip("/"), "memory.oom_control"),
                      Path("/sys/fs/cgroup/memory/memory.oom_control")]
        elif controllers == "":  # cgroup v2
            files += [Path("/sys/fs/cgroup", path.lstrip("/"), "memory.events"), Path("/sys/fs/cgroup/memory.events")]
    for file in files:
        try:
            for entry in file.read_text().splitlines():
                key, _, value = entry.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


class Child:
    """The running candidate process; `request` sends a command and waits for its reply."""

    def __init__(self, config: dict[str, Any], build_dir: Path, python: str = sys.executable,
                 output_cap: int = 64_000) -> None:
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        self.build_dir = build_dir
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        tmp = build_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env.update(HOME=str(build_dir), TMPDIR=str(tmp), PYTHONPATH=PACKAGE_ROOT, PYTHONDONTWRITEBYTECODE="1",
                   PYTHONUNBUFFERED="1", TRITON_CACHE_DIR=str(build_dir / "triton"),
                   TORCH_EXTENSIONS_DIR=str(build_dir / "torch_extensions"))
        env.setdefault("PATH", os.defpath)
        if config.get("device") == "cpu":
            env["TRITON_INTERPRET"] = "1"
            env["CUDA_VISIBLE_DEVICES"] = ""
        self.env = env
        config = {**config, "cmd_fd": cmd_r, "res_fd": res_w}
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "evaluators.kernel.runner", json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                env=env, cwd=str(build_dir), pass_fds=(cmd_r, res_w), start_new_session=True,
            )
        finally:
            os.close(cmd_r)
            os.close(res_w)
        self.pipe = Pipe(res_r, cmd_w)
        self.output = _Output(self.proc.stdout, output_cap)
        self.started = time.monotonic()
        self._oom_kills = oom_kills()

    def receive(self, timeout: float) -> tuple[dict[str, Any], list[Any]]:
        return self.pipe.recv(timeout)

    def request(self, command: dict[str, Any], timeout: float) -> tuple[dict[str, Any], list[Any]]:
        try:
            self.pipe.send(command)
        except OSError as exc:
            raise ProtocolError(f"the candidate's process is gone ({exc})") from None
        return self.pipe.recv(timeout)

    def death(self) -> str:
        """Why the process ended, in words (after a ProtocolError), killing it if it has not."""
        try:
            code = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.kill()
            return "stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = str(-code)
            now = oom_kills()
            if -code == signal.SIGKILL and None not in (now, self._oom_kills) and now > self._oom_kills:
                return f"was killed by the out-of-memory killer (signal {-code}, {name}): it used more memory than the job may"
            return f"was killed by signal {-code} ({name})"
        return f"exited with code {code}"

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.pipe.send({"op": "exit"})
                self.proc.wait(timeout=3.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()  # the group: compilers or processes the candidate left behind
        self.pipe.close()
