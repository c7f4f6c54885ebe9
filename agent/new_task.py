"""`agent new-task --from-kernelbench FILE`: a ready-to-run kernel task from a KernelBench problem file.

Writes into the output folder:

- `reference.py`: the problem file, unchanged;
- `initial.py`: the starting candidate, the reference's own `Model` renamed `ModelNew`. The
  judge's policy rejects it (it calls the torch operators it should replace), and that
  reason is what the first prompt shows the LLM, whose first job is to write the kernel: no
  kernel for an arbitrary operator can be generated without one;
- `task.yaml`: kind kernel, the language, a description from the Model's docstring, a tiny
  `cpu_shape` (every module-level integer over 64 set to 64: check it suits the operator)
  so the task also runs without a GPU, kernel descriptors for the grid, and a commented LLM
  section.

The file is read, never run: the controller does not import torch.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from agent.config import ConfigError

CPU_LIMIT = 64  # module-level integers above this are shrunk to it in cpu_shape


def _check_reference(tree: ast.Module, path: Path) -> ast.ClassDef:
    names = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    missing = [n for n in ("Model", "get_inputs", "get_init_inputs") if n not in names]
    if missing:
        raise ConfigError(f"{path}: not a KernelBench problem file: it defines no {', '.join(missing)}")
    model = names["Model"]
    if not isinstance(model, ast.ClassDef):
        raise ConfigError(f"{path}: Model is not a class")
    return model


def _int_constants(tree: ast.Module) -> dict[str, int]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and type(node.value.value) is int:
                found[node.targets[0].id] = node.value.value
    return found


def starting_candidate(source: str) -> str:
    """The reference with Model renamed ModelNew (and its test functions dropped)."""
    tree = ast.parse(source)
    kept = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name in ("get_inputs", "get_init_inputs"))]
    kept = [n for n in kept if not (isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) for t in n.targets)
                                    and isinstance(n.value, ast.Constant))]
    body = ast.unparse(ast.Module(body=kept, type_ignores=[]))
    body = re.sub(r"\bclass Model\b", "class ModelNew", body)
    body = re.sub(r"super\(Model, self\)", "super(ModelNew, self)", body)
    header = ("# The starting point: the reference itself, renamed ModelNew. The judge rejects it until forward\n"
              "# computes with the candidate's own kernels instead of the torch operators below.\n")
    return header + body + "\n"


def _yaml_map(values: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"


def task_yaml(name: str, language: str, description: str, cpu_shape: dict[str, int], where: str) -> str:
    timeout = 900 if language == "cuda" else 600
    shape_line = (f"  cpu_shape: {_yaml_map(cpu_shape)}   # without a GPU (Triton interpreter / CUDA compile-only): "
                  "keep it tiny; check it suits the operator\n") if cpu_shape else ""
    lines = [
        f"# Made by `agent new-task --from-kernelbench`. Run: agent evolve {where} --model <litellm model>",
        f"name: {name}",
        "kind: kernel",
        f"language: {language}",
        "description: >-",
        f"  {description}",
        "reference: reference.py",
        "program: initial.py",
        "budget: {evaluations: 50}",
        "kernel:",
        shape_line.rstrip("\n") if shape_line else "  {}",
        "  # odd_shapes: [{...}]            # extra shapes checked for correctness (keep them small)",
        "  # inputs: [{scale: 100}, {offset: 5}, {edge: true}]   # input distributions for later trials",
        "evaluate: {workers: 2, timeout_seconds: %d, memory_mb: 16384}" % timeout,
        "search:",
        "  map_elites:",
        "    descriptors:",
        "      - {name: block_size, low: 16, high: 16384, bins: 11, log: true}",
        "      - {name: launches, low: 1, high: 8, bins: 8}",
        "# llm:",
        "#   models: [openai/gpt-4o-mini]",
    ]
    if not shape_line:
        lines[lines.index("kernel:")] = "kernel: {}"
        lines.remove("  {}")
    return "\n".join(lines) + "\n"


def new_task_from_kernelbench(reference: Path, language: str, out: Path | None) -> Path:
    """Write the task folder; returns its task.yaml. Raises ConfigError for the user's mistakes."""
    if language not in ("triton", "cuda"):
        raise ConfigError(f"--language: expected triton or cuda, got {language!r}")
    try:
        source = reference.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except FileNotFoundError:
        raise ConfigError(f"{reference}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{reference}: cannot read: {exc}") from None
    except SyntaxError as exc:
        raise ConfigError(f"{reference}: not valid Python: {exc.msg} (line {exc.lineno})") from None
    model = _check_reference(tree, reference)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", reference.stem).strip("_") or "kernel"
    name = f"{stem}_{language}"
    folder = out or Path(name)
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"{folder}: exists and is not empty; pass --out to choose another folder")
    doc = (ast.get_docstring(model) or f"Make the PyTorch operator in reference.py faster with {language} kernels.")
    description = " ".join(doc.split())
    cpu_shape = {k: CPU_LIMIT for k, v in _int_constants(tree).items() if v > CPU_LIMIT}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reference.py").write_text(source, encoding="utf-8")
    (folder / "initial.py").write_text(starting_candidate(source), encoding="utf-8")
    target = folder / "task.yaml"
    target.write_text(task_yaml(name, language, description, cpu_shape, str(target)), encoding="utf-8")
    return target
