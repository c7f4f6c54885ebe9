"""The static policy: honest candidates pass; fallbacks, reference ops and judge tampering do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.kernel.policy import check, own_kernels, reference_ops

TASKS = Path(__file__).resolve().parents[3] / "tasks"
SOFTMAX_REF = (TASKS / "softmax_triton/reference.py").read_text()
SOFTMAX = (TASKS / "softmax_triton/initial.py").read_text()
GELU_REF = (TASKS / "gelu_cuda/reference.py").read_text()
GELU = (TASKS / "gelu_cuda/initial.py").read_text()

LINEAR_REF = '''
import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.scale = nn.Parameter(torch.randn(n))

    def forward(self, x):
        return torch.relu(self.fc(x)) * self.scale
'''


def test_the_example_candidates_pass():
    assert check(SOFTMAX, SOFTMAX_REF, "triton") == []
    assert check(GELU, GELU_REF, "cuda") == []


def test_reference_ops_come_from_forward_and_module_classes_not_weight_init():
    ops = reference_ops(LINEAR_REF)
    assert {"relu", "Linear", "linear"} <= ops
    assert "randn" not in ops and "Parameter" not in ops


@pytest.mark.parametrize("snippet, reason", [
    ("def f(x):\n    return torch.softmax(x, 1)", "torch.softmax"),
    ("def f(x):\n    return x.softmax(1)", "x.softmax"),
    ("import torch.nn.functional as G\ndef f(x):\n    return G.softmax(x, -1)", "G.softmax"),
    ("sm = torch.softmax", "uses torch.softmax"),
    ("def f(x):\n    return nn.Softmax(dim=1)(x)", "Softmax module"),
    ("def f(a, b):\n    return a @ b", "@ operator"),
    ("def f(a, b):\n    return torch.matmul(a, b)", "torch.matmul"),
    ("def f(x):\n    try:\n        return x\n    except Exception:\n        return None", "try/except"),
    ("import gc", "imports gc"),
    ("import ctypes", "imports ctypes"),
    ("from cuda.bindings import driver", "imports cuda.bindings"),
    ("import reference", "imports the reference"),
    ("x = eval('1')", "calls eval"),
    ("def f():\n    return open('/etc/passwd').read()", "calls open"),
    ("y = getattr(torch, 'soft' + 'max')", "computed name"),
    ("y = torch.__dict__", "__dict__"),
    ("import sys\nsys.modules['torch'] = None", "sys.modules"),
    ("import os as o\no._exit(3)", "os._exit"),
    ("from os import system", "os.system"),
    ("import torch as T\nT.cuda.synchronize = lambda: None", "assigns T.cuda.synchronize"),
    ("import time\ntime.perf_counter = lambda: 0.0", "assigns time.perf_counter"),
])
def test_a_violation_is_named_in_one_line(snippet, reason):
    problems = check(SOFTMAX + "\n" + snippet + "\n", SOFTMAX_REF, "triton")
    assert problems, snippet
    assert reason in problems[0]
    assert "\n" not in problems[0]


def test_triton_device_code_may_use_tl_reductions_named_like_reference_ops():
    ref = SOFTMAX_REF.replace("torch.softmax(x, dim=1)", "torch.sum(torch.exp(x), dim=1)")
    assert "sum" in reference_ops(ref)
    assert check(SOFTMAX, ref, "triton") == []  # tl.sum / tl.exp in the kernel are its own work


def test_a_module_may_hold_weights_but_not_be_called():
    holds = LINEAR_CANDIDATE.replace("CALL", "torch.empty(1)")
    calls = LINEAR_CANDIDATE.replace("CALL", "self.fc(x)")
    assert check(holds, LINEAR_REF, "triton") == []
    assert "calls self.fc (a Linear)" in check(calls, LINEAR_REF, "triton")[0]


def test_allowed_ops_are_not_reported():
    snippet = SOFTMAX + "\ndef f(a, b):\n    return torch.matmul(a, b)\n"
    assert check(snippet, SOFTMAX_REF, "triton", allow_ops=frozenset({"matmul"})) == []


def test_code_under_main_guard_is_ignored():
    assert check(SOFTMAX + "\nif __name__ == '__main__':\n    import gc\n", SOFTMAX_REF, "triton") == []


def test_a_candidate_without_model_new_or_kernel_is_rejected():
    problems = check("import torch\n", SOFTMAX_REF, "triton")
    assert any("no class ModelNew" in p for p in problems)
    assert any("no @triton.jit kernel" in p for p in problems)
    assert any("no __global__" in p for p in check("class ModelNew:\n    def forward(self): pass\n", GELU_REF, "cuda"))


def test_cuda_kernels_are_found_whatever_the_qualifier_order():
    source = 's = r"""\n' + "\n".join([
        "__global__ void __launch_bounds__(256) rms_kernel(const float* x) {}",
        "template <typename T> __global__ void add_k(T* a) {}",
        "__global__ __launch_bounds__(128, 2) void other_k(float *o) {}",
        'extern "C" __global__ void simple(int n) {}',
        "__global__ static void* ptr_k (int n) {}",
        "__global__ void\nmulti_line(int n) {}",
    ]) + '\n"""\n'
    assert own_kernels(source, "cuda") == ["add_k", "multi_line", "other_k", "ptr_k", "rms_kernel", "simple"]


def test_a_syntax_error_is_reported_not_raised():
    assert check("def f(:\n", SOFTMAX_REF, "triton")[0].startswith("SyntaxError")


LINEAR_CANDIDATE = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl

@triton.jit
def k(x_ptr):
    pass

class ModelNew(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.scale = nn.Parameter(torch.randn(n))

    def forward(self, x):
        return CALL
'''
