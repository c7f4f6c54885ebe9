"""`agent new-task --from-kernelbench FILE`: a ready-to-run kernel task from a KernelBench problem file.

Writes into the output folder:

- `reference.py`: the problem file, unchanged;
- `initial.py`: the starting candidate, the reference's own `Model` renamed `ModelNew`. The
  judge's policy rejects it (it calls the torch operators it should replace), and that
  reason is what the first prompt shows the LLM, whose first job is to write the kernel: no
  kernel for an arbitrary operator can be generated without one;
- `task.yaml`: kind kernel, the language, a description from the Model's docstring, the
  kernel settings derived and checked by running the reference (kernelbench_task.py): a small
  `cpu_shape` so the task also runs without a GPU, `odd_shapes` (further, smaller shapes of
  sizes that are not powers of two) and adversarial `inputs` (negative, large and edge values)
  wherever the reference gives finite outputs on them, each omission explained in a comment;
  kernel descriptors for the grid, and a commented LLM section.

The reference runs only in a child process (agent/reference_probe.py): the controller does not
import torch. A reference that fails there is refused with one line (ConfigError).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import ConfigError
from agent.kernelbench_task import DerivedSettings, derive_settings


def _check_reference(tree: ast.Module, path: Path) -> ast.ClassDef:
    names = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    missing = [n for n in ("Model", "get_inputs", "get_init_inputs") if n not in names]
    if missing:
        raise ConfigError(f"{path}: not a KernelBench problem file: it defines no {', '.join(missing)}")
    model = names["Model"]
    if not isinstance(model, ast.ClassDef):
        raise ConfigError(f"{path}: Model is not a class")
    return model


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


def _yaml(value: Any) -> str:
    """A value in YAML flow style: {a: 1, b: [2, 3]}."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _comment(text: str) -> list[str]:
    return [f"  # {text}"] if text else []


def kernel_section(settings: DerivedSettings) -> list[str]:
    """The `kernel:` lines of task.yaml, each omission or doubt said in a comment."""
    lines = ["kernel:"]
    if settings.cpu_shape:
        lines.append(f"  cpu_shape: {_yaml(settings.cpu_shape)}   # without a GPU (Triton interpreter / CUDA "
                     f"compile-only): {settings.cpu_inputs:,} input elements")
    elif settings.cpu_shape == {}:
        lines += _comment(f"no cpu_shape: the file's own shape is small ({settings.cpu_inputs:,} input elements)")
    lines += _comment(settings.cpu_note)
    if settings.odd_shapes:
        lines.append(f"  odd_shapes: {_yaml(list(settings.odd_shapes))}   # further shapes (smaller, not powers "
                     "of two): a kernel specialised to one shape fails")
    lines += _comment(f"odd_shapes: {settings.odd_note}" if settings.odd_note else "")
    if settings.inputs:
        lines.append(f"  inputs: {_yaml(list(settings.inputs))}   # trials 2, 3, ...: the reference stays finite "
                     "on each")
    lines += _comment(f"inputs: {settings.inputs_note}" if settings.inputs_note else "")
    lines += [f"  # not in inputs: {_yaml(dist)} ({label}): {why}" for dist, label, why in settings.left_out]
    return lines if len(lines) > 1 else ["kernel: {}"]


def task_yaml(name: str, language: str, description: str, settings: DerivedSettings, where: str) -> str:
    timeout = 900 if language == "cuda" else 600
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
        *kernel_section(settings),
        "evaluate: {workers: 2, timeout_seconds: %d, memory_mb: 16384}" % timeout,
        "search:",
        "  map_elites:",
        "    descriptors:",
        "      - {name: block_size, low: 16, high: 16384, bins: 11, log: true}",
        "      - {name: launches, low: 1, high: 8, bins: 8}",
        "# llm:",
        "#   models: [openai/gpt-4o-mini]",
    ]
    return "\n".join(lines) + "\n"


def summary(settings: DerivedSettings) -> list[str]:
    """What new-task chose and what it could not, for the console."""
    out = []
    if settings.cpu_shape is not None:
        out.append(f"cpu_shape: {_yaml(settings.cpu_shape)} ({settings.cpu_inputs:,} input elements; the reference "
                   f"took {settings.cpu_seconds:.2f} s per trial there)")
    if settings.cpu_note:
        out.append(f"cpu_shape: {settings.cpu_note}")
    if settings.odd_shapes:
        out.append(f"odd_shapes: {_yaml(list(settings.odd_shapes))}")
    if settings.odd_note:
        out.append(f"odd_shapes: {settings.odd_note}")
    out.append(f"inputs: {_yaml(list(settings.inputs)) if settings.inputs else 'as get_inputs() makes them'}")
    if settings.inputs_note:
        out.append(f"inputs: {settings.inputs_note}")
    out += [f"inputs: left out {_yaml(dist)} ({label}): {why}" for dist, label, why in settings.left_out]
    return out


@dataclass(frozen=True)
class NewTask:
    task_yaml: Path
    summary: tuple[str, ...]  # what was chosen and what could not be, one line each
    settings: DerivedSettings


def make_kernelbench_task(reference: Path, language: str, out: Path | None, *, timeout: float = 60.0) -> NewTask:
    """Write the task folder. Raises ConfigError for the user's mistakes and for a reference that fails."""
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
    settings = derive_settings(reference, tree, timeout=timeout)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reference.py").write_text(source, encoding="utf-8")
    (folder / "initial.py").write_text(starting_candidate(source), encoding="utf-8")
    target = folder / "task.yaml"
    target.write_text(task_yaml(name, language, description, settings, str(target)), encoding="utf-8")
    return NewTask(target, tuple(summary(settings)), settings)


def new_task_from_kernelbench(reference: Path, language: str, out: Path | None) -> Path:
    """Write the task folder; returns its task.yaml (make_kernelbench_task also says what it chose)."""
    return make_kernelbench_task(reference, language, out).task_yaml
