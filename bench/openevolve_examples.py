"""OpenEvolve's example tasks in a checkout: where they are, and whether this machine can run them.

An example is a folder under `examples/` holding an evaluator (`evaluator.py`), an initial
program (`initial_program.*`) and an OpenEvolve config (`config.yaml`, `config.yml`, else the
first `config*.yaml` by name, in the folder or a folder above it inside `examples/`). Folders that
hold only part of that (an `evaluator*.py` or `eval.py` without the rest) are listed too, with
what is missing, so that the table accounts for every evaluator of the checkout.

Whether an example can run here is judged from what its files import and run, before anything
is executed: the modules imported by the evaluator, the initial program, the local modules they
import and the local scripts the evaluator names, outside `try` blocks (an import guarded by
`try` is optional). In order, the first reason found wins: no evaluator; a GPU-only package
(mlx, cupy...); an LLM client (openai, litellm...); a network client (requests, datasets...);
no initial program or config; a compiler or interpreter the language needs that is not on PATH; modules that the venv's
Python cannot import.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

GPU_MODULES = {"mlx": "Apple's Metal GPU", "mlx_lm": "Apple's Metal GPU", "cupy": "a CUDA GPU",
               "pycuda": "a CUDA GPU", "triton": "a CUDA GPU", "tensorrt": "a CUDA GPU"}
LLM_MODULES = {"openai", "litellm", "optillm", "anthropic"}
NETWORK_MODULES = {"requests": "web requests", "httpx": "web requests", "aiohttp": "web requests",
                   "datasets": "a Hugging Face dataset download", "huggingface_hub": "a Hugging Face download"}
# What a non-Python initial program needs to be built or run, by file suffix.
TOOLS = {".r": "Rscript", ".rs": "cargo", ".c": "gcc", ".cpp": "g++", ".cc": "g++", ".java": "javac",
         ".go": "go", ".jl": "julia", ".js": "node", ".ts": "node"}
LANGUAGES = {".py": "python", ".r": "r", ".rs": "rust", ".c": "c", ".cpp": "cpp", ".cc": "cpp",
             ".java": "java", ".go": "go", ".jl": "julia", ".js": "javascript", ".ts": "typescript"}
_EVALUATOR_NAMES = re.compile(r"^(evaluator.*|eval)\.py$")


@dataclass(frozen=True)
class Example:
    """One example folder of the checkout, with what is missing for it to be a task."""

    name: str
    """Its folder relative to examples/ ("circle_packing", "algotune/lu_factorization")."""
    folder: Path
    evaluator: Path | None
    program: Path | None
    config: Path | None
    problem: str = ""
    """Why it is not an example task as OpenEvolve runs one ("" when it is)."""

    @property
    def language(self) -> str:
        suffix = self.program.suffix.lower() if self.program else ".py"
        return LANGUAGES.get(suffix, suffix.lstrip(".") or "python")


def find_examples(checkout: Path) -> list[Example]:
    """Every folder under `checkout`/examples that holds an evaluator or an initial program."""
    root = Path(checkout) / "examples"
    if not root.is_dir():
        raise FileNotFoundError(f"{checkout}: no examples/ folder (is it an OpenEvolve checkout?)")
    folders = sorted({p.parent for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                      and (_EVALUATOR_NAMES.match(p.name) or p.name.startswith("initial_program."))})
    return [_example(root, folder) for folder in folders]


def _example(root: Path, folder: Path) -> Example:
    name = folder.relative_to(root).as_posix()
    evaluator = folder / "evaluator.py" if (folder / "evaluator.py").is_file() else None
    programs = sorted(p for p in folder.glob("initial_program.*") if p.suffix not in (".pyc", ".orig", ".bak"))
    program = programs[0] if programs else None
    config = _config(root, folder)
    missing = [what for what, found in (("evaluator.py", evaluator), ("initial_program.*", program),
                                        ("config*.yaml", config)) if found is None]
    problem = ""
    if missing:
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".yaml", ".yml"))
        problem = f"not an example task: no {', no '.join(missing)} (has {', '.join(others[:6]) or 'no Python files'})"
    return Example(name, folder, evaluator, program, config, problem)


def _config(root: Path, folder: Path) -> Path | None:
    current = folder
    while True:
        for name in ("config.yaml", "config.yml"):
            if (current / name).is_file():
                return current / name
        others = sorted(current.glob("config*.yaml")) + sorted(current.glob("config*.yml"))
        if others:
            return others[0]
        if current == root or root not in current.parents:
            return None
        current = current.parent


def imported_modules(example: Example) -> set[str]:
    """Top-level modules the example's evaluator and program need (not stdlib, not local files)."""
    if example.evaluator is None:
        return set()
    local = {p.stem for p in example.folder.glob("*.py")} | {p.name for p in example.folder.iterdir() if p.is_dir()}
    seen: set[Path] = set()
    todo = [example.evaluator] + ([example.program] if example.program and example.program.suffix == ".py" else [])
    todo += [example.folder / name for name in _named_scripts(example.evaluator)]
    found: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for module in _imports(path):
            if module in local:
                todo.append(example.folder / f"{module}.py")
            elif module not in sys.stdlib_module_names and module != "__future__":
                found.add(module)
    return found


def _named_scripts(evaluator: Path) -> list[str]:
    """Local .py files the evaluator names in a string (scripts it runs, e.g. "submit.py")."""
    try:
        tree = ast.parse(evaluator.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return []
    names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return sorted(name for name in names
                  if name.endswith(".py") and "/" not in name and (evaluator.parent / name).is_file())


def _imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return set()
    guarded = {id(node) for t in ast.walk(tree) if isinstance(t, ast.Try) for stmt in t.body for node in ast.walk(stmt)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def missing_modules(python: str, modules: set[str], timeout: float = 120) -> set[str]:
    """The modules among `modules` that `python` cannot find (importlib.util.find_spec)."""
    if not modules:
        return set()
    probe = ("import importlib.util, json, sys\n"
             "names = json.loads(sys.argv[1])\n"
             "def absent(n):\n"
             "    try:\n        return importlib.util.find_spec(n) is None\n"
             "    except (ImportError, ValueError):\n        return True\n"
             "print(json.dumps([n for n in names if absent(n)]))\n")
    done = subprocess.run([python, "-c", probe, json.dumps(sorted(modules))], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{python} could not check its modules: {done.stderr.strip()[-300:]}")
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def why_not_runnable(example: Example, python: str) -> str:
    """Why the example cannot run on this machine's CPU with `python`'s packages, or ""."""
    modules = imported_modules(example)
    if example.problem and example.evaluator is None:
        return example.problem
    gpu = sorted(m for m in modules if m in GPU_MODULES)
    if gpu:
        return f"needs {GPU_MODULES[gpu[0]]} (imports {', '.join(gpu)})"
    llm = sorted(modules & LLM_MODULES)
    if llm:
        return f"needs an LLM (imports {', '.join(llm)})"
    network = sorted(m for m in modules if m in NETWORK_MODULES)
    if network:
        return f"needs the network: {NETWORK_MODULES[network[0]]} (imports {', '.join(network)})"
    if example.problem:
        return example.problem
    tool = TOOLS.get(example.program.suffix.lower()) if example.program else None
    if tool and shutil.which(tool) is None:
        return f"needs {tool} on PATH for its {example.language} program"
    absent = sorted(missing_modules(python, modules - {"openevolve"}))
    if absent:
        return f"missing dependency: {', '.join(absent)} (not importable in the venv)"
    return ""
