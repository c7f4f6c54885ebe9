"""Kernel behaviour descriptors for the MAP-Elites grid: how a candidate computes, not how fast.

Three numbers that separate the strategies a kernel writer actually chooses between:

- `block_size`: work per program / thread block. Triton: the largest literal given to a
  `BLOCK*` constexpr (keyword at a launch, in `triton.Config`, or a module/function constant);
  CUDA: threads per block (`<<<grid, N>>>`, `dim3 block(N)`, a `threads`/`block_size`
  constant in the sources, or a module-level Python `THREADS`/`BLOCK*` constant passed to them). Small blocks with many programs vs. wide tiles are different designs.
- `num_warps`: Triton's `num_warps` (largest literal; 4, Triton's default, when none is set);
  CUDA: threads per block / 32. Separates latency-hiding choices at a given block size.
- `launches`: kernel launches per forward. Measured with the profiler on a GPU (the judge's
  metric overrides this one); without a GPU, the number of launch sites in the source
  (`kernel[grid](...)` or `<<<...>>>`). One fused kernel vs. a pipeline of several.

Read from source with the syntax tree and regular expressions; values a kernel computes at
run time (e.g. `triton.next_power_of_2(n)`) count as unknown, reported as 1, the bottom bin.
"""

from __future__ import annotations

import ast
import re

_THREADS = re.compile(r"<<<[^,>]+,\s*(\d+)\s*[,>]")
_DIM3 = re.compile(r"dim3\s+\w+\s*\(\s*(\d+)")
_THREAD_CONST = re.compile(r"(?:int|const\s+int|constexpr\s+int|#define)\s+\w*(?:threads|THREADS|block_size|BLOCK_SIZE|"
                           r"blockSize|BLOCK|block_dim)\w*\s*=?\s*(\d+)")


def _constants(tree: ast.Module) -> dict[str, int]:
    """Module-level NAME = <int literal> assignments (e.g. NUM_WARPS = 8)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and type(node.value.value) is int:
                found[node.targets[0].id] = node.value.value
    return found


def _literal_int(node: ast.AST, consts: dict[str, int]) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    return None


def _triton(tree: ast.Module) -> dict[str, float]:
    consts = _constants(tree)
    blocks, warps, sites = [], [], 0
    jit_names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                 and any("jit" in ast.unparse(d) for d in n.decorator_list)}
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            value = _literal_int(node.value, consts)
            if value is not None and "BLOCK" in node.arg.upper():
                blocks.append(value)
            if value is not None and node.arg == "num_warps":
                warps.append(value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and "BLOCK" in key.value.upper():
                    if (v := _literal_int(value, consts)) is not None:
                        blocks.append(v)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if "BLOCK" in node.targets[0].id.upper() and (v := _literal_int(node.value, consts)) is not None:
                blocks.append(v)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript):
            if isinstance(node.func.value, ast.Name) and node.func.value.id in jit_names:
                sites += 1
    return {"block_size": float(max(blocks, default=1)), "num_warps": float(max(warps, default=4)),
            "launches": float(max(sites, 1))}


def _cuda(tree: ast.Module) -> dict[str, float]:
    text = "\n".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    threads = [int(x) for pattern in (_THREADS, _DIM3, _THREAD_CONST) for x in pattern.findall(text)]
    threads += [v for k, v in _constants(tree).items() if "THREAD" in k.upper() or "BLOCK" in k.upper()]
    threads = [t for t in threads if 0 < t <= 1024]
    block = max(threads, default=1)
    return {"block_size": float(block), "num_warps": float(max(1, block // 32)),
            "launches": float(max(text.count("<<<"), 1))}


def static_descriptors(source: str, language: str) -> dict[str, float]:
    """block_size, num_warps and launches (launch sites) read from a candidate's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {"block_size": 1.0, "num_warps": 1.0, "launches": 1.0}
    return _triton(tree) if language == "triton" else _cuda(tree)


KERNEL_DESCRIPTORS = ("block_size", "num_warps", "launches")
