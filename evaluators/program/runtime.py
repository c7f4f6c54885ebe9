"""The Python that runs a program task's evaluator, and the packages the task says it needs.

A task may name the evaluator's interpreter (`evaluate.python`, or a virtual environment with
`evaluate.venv`), folders to put on its `PYTHONPATH` (`evaluate.pythonpath`) and a requirements
file (`evaluate.requirements`). Without them the evaluator runs with the Python that runs
evoforge (or, with `sandbox.image`, the image's Python).

- A declared interpreter on this machine is run once here to learn its installation: its
  prefixes and `sys.path` folders become read-only paths of every job (the Docker backend
  mounts them, the process backend keeps them visible). With `sandbox.image` the path names
  the interpreter inside the image and is not looked at here.
- A venv's `bin` folder goes first on the job's `PATH` (and `VIRTUAL_ENV` is set), so a
  `python` the evaluator starts by name is the venv's.
- `check_requirements` runs one small job in the task's sandbox, with the evaluator's
  interpreter and environment, that reads the installed distributions' versions; the
  controller compares them with the file's requirements (names, version specifiers and
  markers, PEP 508). Options lines (`--index-url`, `-e ...`, hashes) are not checked; `-r`
  includes are followed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import TaskConfig
    from sandbox.base import Sandbox

_PROBE = (
    "import json, sys; print(json.dumps({'prefixes': [sys.prefix, sys.exec_prefix, sys.base_prefix, "
    "sys.base_exec_prefix], 'path': sys.path, 'version': list(sys.version_info[:3])}))"
)
# Runs in the sandbox with the evaluator's interpreter: installed versions and marker values.
_INSTALLED = r"""
import json, os, platform, sys
from importlib import metadata
found = {}
for name in json.loads(sys.argv[1]):
    try:
        found[name] = metadata.version(name)
    except Exception:
        found[name] = None
env = {
    "implementation_name": sys.implementation.name,
    "implementation_version": "%d.%d.%d" % sys.implementation.version[:3],
    "os_name": os.name, "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(), "platform_python_implementation":
    platform.python_implementation(), "python_version": "%d.%d" % sys.version_info[:2], "sys_platform": sys.platform,
}
print("EVOFORGE-INSTALLED " + json.dumps({"found": found, "env": env, "python": sys.executable}))
"""


class RuntimeProblem(ValueError):
    """The declared interpreter or requirements cannot be used; `str()` is one line naming the key."""


@dataclass(frozen=True)
class EvaluatorRuntime:
    """How the evaluator's interpreter is started in a sandbox job."""

    python: str
    """argv[0] of the job: the declared interpreter, else this process's Python."""
    read_paths: tuple[str, ...] = ()
    """Host folders the job must read: the declared interpreter's installation and the
    `evaluate.pythonpath` folders."""
    pythonpath: tuple[str, ...] = ()
    """`evaluate.pythonpath`, absolute, in order: first on the job's PYTHONPATH."""
    env: dict[str, str] = field(default_factory=dict)
    """Set in the job's environment on top of PYTHONPATH (PATH and VIRTUAL_ENV for a venv)."""
    declared: bool = False
    """The task named the interpreter (evaluate.python or evaluate.venv)."""


def declared_python(task: TaskConfig) -> tuple[str | None, str]:
    """(the interpreter the task names or None, the key that named it)."""
    cfg = task.evaluate
    if cfg.venv is not None:
        return str(Path(cfg.venv) / "bin" / "python"), "evaluate.venv"
    if cfg.python is not None:
        return str(cfg.python), "evaluate.python"
    return None, ""


def evaluator_runtime(task: TaskConfig, *, timeout: float = 60.0) -> EvaluatorRuntime:
    """The runtime for the task's evaluator; raises RuntimeProblem for an unusable interpreter."""
    cfg = task.evaluate
    pythonpath = tuple(str(Path(p)) for p in cfg.pythonpath)
    python, key = declared_python(task)
    if python is None:
        return EvaluatorRuntime(sys.executable, pythonpath, pythonpath)
    env: dict[str, str] = {}
    if cfg.venv is not None and task.sandbox.image is None:
        bin_dir = str(Path(cfg.venv) / "bin")
        env = {"VIRTUAL_ENV": str(cfg.venv), "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)])}
    if task.sandbox.image is not None:  # a path inside the image: nothing here to look at
        return EvaluatorRuntime(python, pythonpath, pythonpath, env, declared=True)
    installation = _installation(python, key, timeout)
    return EvaluatorRuntime(python, _outermost([*installation, *pythonpath]), pythonpath, env, declared=True)


def _installation(python: str, key: str, timeout: float) -> list[str]:
    """The folders the interpreter's installation and import path live in (those that exist)."""
    if not os.path.exists(python):
        hint = " (is it a virtual environment? it has no bin/python)" if key == "evaluate.venv" else ""
        raise RuntimeProblem(f"{key}: {python} does not exist{hint}")
    if not os.access(python, os.X_OK) or os.path.isdir(python):
        raise RuntimeProblem(f"{key}: {python} is not an executable file")
    try:
        done = subprocess.run([python, "-E", "-s", "-c", _PROBE], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeProblem(f"{key}: {python} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise RuntimeProblem(f"{key}: {python} cannot be run: {exc.strerror or exc}") from None
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise RuntimeProblem(f"{key}: {python} is not a working Python: {why[:300]}") from None
    if tuple(found["version"][:2]) < (3, 10):
        version = ".".join(str(v) for v in found["version"])
        raise RuntimeProblem(f"{key}: {python} is Python {version}; the evaluator harness needs 3.10 or later")
    paths = [*found["prefixes"], *found["path"], os.path.dirname(os.path.realpath(python))]
    return [p for p in paths if p and os.path.isabs(p) and os.path.exists(p)]


def _outermost(paths: list[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for path in sorted({os.path.normpath(p) for p in paths}):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


@dataclass(frozen=True)
class Requirement:
    line: str  # as written (without comments)
    name: str
    specifier: str
    marker: object | None  # packaging.markers.Marker


def read_requirements(path: Path, _seen: frozenset[Path] = frozenset()) -> list[Requirement]:
    """The requirements of a pip requirements file (following `-r` includes); raises RuntimeProblem."""
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as Parsed

    path = Path(path).resolve()
    if path in _seen:
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuntimeProblem(f"evaluate.requirements: file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RuntimeProblem(f"evaluate.requirements: cannot read {path}: {exc}") from None
    found: list[Requirement] = []
    for number, raw in enumerate(_joined_lines(text), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        target = _included(line)
        if target is not None:
            found += read_requirements(path.parent / target, _seen | {path})
            continue
        if line.startswith("-"):  # --index-url, -e, -c, --hash...: how to install, nothing to check
            continue
        line = line.split(" --hash", 1)[0].strip()
        try:
            parsed = Parsed(line)
        except InvalidRequirement as exc:
            raise RuntimeProblem(f"evaluate.requirements: {path}, line {number}: not a requirement: {exc}") from None
        found.append(Requirement(line, parsed.name, str(parsed.specifier), parsed.marker))
    return found


def _included(line: str) -> str | None:
    """The file a `-r` / `--requirement` line includes, else None."""
    for prefix in ("--requirement=", "--requirement ", "-r "):
        if line.startswith(prefix):
            return line[len(prefix):].strip()
    if line.startswith("-r") and not line.startswith("-r-"):
        return line[2:].strip() or None
    return None


def _joined_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined (numbering follows the joined lines)."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def unmet(requirements: list[Requirement], installed: dict[str, str | None], env: dict[str, str]) -> list[str]:
    """The requirements `installed` does not satisfy, each as "line (found X)" or "line"."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    missing = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        version = installed.get(req.name)
        if version is None:
            missing.append(req.line)
            continue
        if not req.specifier:
            continue
        try:
            ok = SpecifierSet(req.specifier).contains(Version(version), prereleases=True)
        except InvalidVersion:
            ok = SpecifierSet(req.specifier).contains(version, prereleases=True)
        if not ok:
            missing.append(f"{req.line} (found {version})")
    return missing


def check_requirements(task: TaskConfig, sandbox: Sandbox, runtime: EvaluatorRuntime, job_env: dict[str, str],
                       read_paths: tuple[str, ...]) -> None:
    """Raise RuntimeProblem naming every requirement the evaluator's interpreter lacks, in the
    sandbox the evaluations run in, with the command that installs them."""
    requirements_file = task.evaluate.requirements
    if requirements_file is None:
        return
    from sandbox.base import Limits, SandboxJob

    requirements = read_requirements(Path(requirements_file))
    if not requirements:
        return
    names = sorted({r.name for r in requirements})
    job = SandboxJob(argv=(runtime.python, "-c", _INSTALLED, json.dumps(names)), env=job_env,
                     limits=Limits(wall_seconds=120, memory_mb=max(512, task.evaluate.memory_mb)),
                     label="requirements", read_paths=read_paths)
    outcome = sandbox.run(job)
    answer = next((ln for ln in outcome.stdout.splitlines() if ln.startswith("EVOFORGE-INSTALLED ")), None)
    if answer is None:
        why = (outcome.stderr.strip().splitlines() or [outcome.killed_reason or f"exit code {outcome.exit_code}"])[-1]
        raise RuntimeProblem(f"evaluate.requirements: the evaluator's Python ({runtime.python}) could not list its "
                             f"packages in the sandbox: {why[:300]}")
    try:
        data = json.loads(answer.split(" ", 1)[1])
        missing = unmet(requirements, dict(data["found"]), dict(data["env"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeProblem(f"evaluate.requirements: the evaluator's Python ({runtime.python}) answered the "
                             f"package check unreadably: {exc}") from None
    if missing:
        raise RuntimeProblem(f"evaluate.requirements: not installed for the evaluator's Python ({runtime.python}): "
                             f"{', '.join(missing)}; {install_hint(task, runtime, Path(requirements_file))}")


def install_hint(task: TaskConfig, runtime: EvaluatorRuntime, requirements_file: Path) -> str:
    """What to do about missing requirements, as one clause."""
    if task.sandbox.image is not None:
        return f"install them into the image {task.sandbox.image} (e.g. pip install -r in its Dockerfile)"
    command = f"{runtime.python} -m pip install -r {requirements_file}"
    if runtime.declared:
        return f"install them with: {command}"
    return (f"install them with: {command} (this is evoforge's own environment; or give the evaluator its own "
            "with evaluate.venv)")


def python_on_path(name: str) -> str | None:
    """A bare interpreter name (python3.12) found on PATH, as an absolute path; None if absent."""
    found = shutil.which(name)
    return os.path.abspath(found) if found else None
