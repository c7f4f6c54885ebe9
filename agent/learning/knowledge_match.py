"""How relevant a knowledge entry is to a task: context match and similarity of reference code.

An entry is written on one task and read on others (agent/learning/knowledge.py). Its
relevance to a task is the sum of

- the cosine similarity (0..1) between the task's reference code and the reference excerpt
  stored with the entry, over identifier counts (damped by log) with the boilerplate every
  program of a language or of the KernelBench format carries left out (keywords, `self`,
  `torch`, `forward`, `get_inputs`, `tl`, `threadIdx`, the EVOLVE-BLOCK markers, ...): two ReLU references are alike,
  a ReLU and a matmul reference are not, though both import torch and define `Model`;
- the overlap (Jaccard, 0..1) of the words of the two op or task names ("19_ReLU" and
  "relu_triton" share "relu"; numbers, single letters and words like "level", "triton",
  "kernel" do not count);
- small bonuses for the same language (0.25) and the same GPU (0.1), which order entries but
  never make one relevant on their own.

An entry of another task kind (kernel, program, prompt) is never relevant, and an entry is
relevant only if its code is similar enough (`MIN_SIMILARITY`) or its op name overlaps enough
(`MIN_OP_OVERLAP`): same-language entries of unrelated tasks are not shown.
"""

from __future__ import annotations

import keyword
import math
import re
from collections import Counter
from collections.abc import Mapping

__all__ = ["MIN_OP_OVERLAP", "MIN_SIMILARITY", "code_similarity", "op_overlap", "relevance", "tokens"]

MIN_SIMILARITY = 0.35
MIN_OP_OVERLAP = 0.5
_LANGUAGE_BONUS = 0.25
_GPU_BONUS = 0.1

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[a-z]+")
# Names every program of a language, or every file of the KernelBench format, carries.
_BOILERPLATE = frozenset(
    {kw.lower() for kw in keyword.kwlist}
    | {
        "self", "super", "init", "__init__", "torch", "nn", "module", "model", "modelnew", "forward",
        "get_inputs", "get_init_inputs", "tensor", "float32", "float16", "bfloat16", "dtype", "device",
        "cuda", "cpu", "int", "float", "bool", "str", "list", "tuple", "dict", "range", "len", "print",
        "triton", "tl", "jit", "constexpr", "program_id", "arange", "load", "store", "mask", "other",
        "grid", "meta", "block_size", "num_warps", "num_stages", "x", "y", "i", "j", "n",
        "include", "void", "const", "auto", "unsigned", "size_t", "__global__", "__device__", "threadidx",
        "blockidx", "blockdim", "griddim", "std", "at", "load_inline", "cpp_sources", "cuda_sources",
        "functions", "extra_cuda_cflags", "empty_like", "zeros_like", "numel", "contiguous", "out", "output",
        "input", "inputs", "the", "a", "an", "of", "to", "and", "in", "on", "for", "is", "by", "with",
        # sizes and random inputs: every reference declares some
        "batch_size", "batch", "dim", "dims", "dimension", "size", "shape", "rand", "randn", "randint",
        "matrix", "functional", "features", "in_features", "out_features", "channels", "height", "width",
        "hidden", "seq_len", "math", "np", "numpy", "args", "kwargs",
        # evoforge's markers and a script's entry point
        "evolve", "block", "start", "end", "__name__", "__main__", "main",
    }
)  # fmt: skip
_OP_NOISE = frozenset({"level", "triton", "cuda", "kernel", "kernels", "task", "kb", "kernelbench", "op", "test"})


def tokens(code: str) -> Counter[str]:
    """The identifiers of `code` (lower-cased) that are not boilerplate, with their counts."""
    words = (w.lower() for w in _IDENTIFIER.findall(code))
    return Counter(w for w in words if w not in _BOILERPLATE and len(w) > 1)


def code_similarity(a: str | Counter[str], b: str | Counter[str]) -> float:
    """Cosine similarity (0..1) of two sources' identifier counts, each count damped by log."""
    ta = a if isinstance(a, Counter) else tokens(a)
    tb = b if isinstance(b, Counter) else tokens(b)
    if not ta or not tb:
        return 0.0
    wa = {k: 1.0 + math.log(v) for k, v in ta.items()}
    wb = {k: 1.0 + math.log(v) for k, v in tb.items()}
    dot = sum(w * wb[k] for k, w in wa.items() if k in wb)
    norm = math.sqrt(sum(w * w for w in wa.values())) * math.sqrt(sum(w * w for w in wb.values()))
    return dot / norm


def _op_words(name: str) -> set[str]:
    return {w for w in _WORD.findall(name.lower()) if w not in _OP_NOISE and len(w) > 1}


def op_overlap(a: str, b: str) -> float:
    """Jaccard overlap (0..1) of the words of two op or task names; 0 when either has none."""
    wa, wb = _op_words(a), _op_words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


def _same(a: Mapping[str, str], b: Mapping[str, str], key: str) -> bool:
    x, y = (a.get(key) or "").strip().lower(), (b.get(key) or "").strip().lower()
    return bool(x) and x == y


def relevance(
    task: Mapping[str, str],
    reference: str | Counter[str],
    entry_context: Mapping[str, str],
    entry_reference: str | Counter[str],
) -> float | None:
    """How relevant an entry (its context and reference excerpt) is to a task (its context and
    reference code); None when it is not relevant at all (see the module docstring). The codes
    may be given as their `tokens`."""
    kind, entry_kind = (task.get("kind") or "").lower(), (entry_context.get("kind") or "").lower()
    if kind and entry_kind and kind != entry_kind:
        return None
    similarity = code_similarity(reference, entry_reference)
    overlap = op_overlap(task.get("op") or "", entry_context.get("op") or "")
    if similarity < MIN_SIMILARITY and overlap < MIN_OP_OVERLAP:
        return None
    score = similarity + overlap
    if _same(task, entry_context, "language"):
        score += _LANGUAGE_BONUS
    if _same(task, entry_context, "gpu"):
        score += _GPU_BONUS
    return score
