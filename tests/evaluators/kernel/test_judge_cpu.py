"""The judge without a GPU: Triton in the interpreter, CUDA compiled only, timing never invented."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

from evaluators.kernel.judge import JudgeOptions, judge, trial_plan  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
SOFTMAX = ROOT / "tasks" / "softmax_triton"
GELU = ROOT / "tasks" / "gelu_cuda"


def test_trials_use_fresh_secret_seeds_each_distribution_and_every_extra_shape():
    plan = trial_plan(JudgeOptions(trials=5, seed=7, distributions=[{"scale": 10.0}], extra_shapes=[{"dim": 3}]))
    assert len(plan) == 6
    assert len({t["seed"] for t in plan}) == 6 and len({t["wseed"] for t in plan}) == 6
    assert [t["dist"].scale for t in plan[:5]] == [1.0, 10.0, 1.0, 10.0, 1.0]
    assert [t["repeat"] for t in plan] == [False, False, False, False, True, False]
    assert plan[-1]["shape"] == {"dim": 3}
    other = trial_plan(JudgeOptions(trials=5, seed=8))
    assert not {t["seed"] for t in plan} & {t["seed"] for t in other}


def test_a_reference_with_weights_and_two_outputs_is_judged_with_fresh_weights(tmp_path):
    reference = tmp_path / "reference.py"
    reference.write_text(textwrap.dedent("""
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.scale = nn.Parameter(torch.randn(n))

            def forward(self, x):
                y = x * self.scale
                return y, y.sum(dim=1)

        rows, n = 5, 33

        def get_inputs():
            return [torch.randn(rows, n)]

        def get_init_inputs():
            return [n]
    """))
    candidate = tmp_path / "candidate.py"
    candidate.write_text(textwrap.dedent("""
        import torch
        import torch.nn as nn
        import triton
        import triton.language as tl

        @triton.jit
        def scale_sum(x_ptr, s_ptr, y_ptr, t_ptr, n, BLOCK: tl.constexpr):
            row = tl.program_id(0)
            offs = tl.arange(0, BLOCK)
            mask = offs < n
            y = tl.load(x_ptr + row * n + offs, mask=mask, other=0.0) * tl.load(s_ptr + offs, mask=mask, other=0.0)
            tl.store(y_ptr + row * n + offs, y, mask=mask)
            tl.store(t_ptr + row, tl.sum(y, axis=0))

        class ModelNew(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.scale = nn.Parameter(torch.ones(n))  # the judge loads the reference's weights

            def forward(self, x):
                x = x.contiguous()
                y = torch.empty_like(x)
                t = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
                scale_sum[(x.shape[0],)](x, self.scale, y, t, x.shape[1], BLOCK=triton.next_power_of_2(x.shape[1]))
                return y, t
    """))
    options = JudgeOptions(language="triton", device="cpu", seed=11, extra_shapes=[{"rows": 2, "n": 7}])
    result = judge(str(reference), str(candidate), options)
    assert all(s["ok"] for s in result["stages"]), result["stages"]
    list_result = candidate.read_text().replace("return y, t", "return [y, t]")
    candidate.write_text(list_result)
    rejected = judge(str(reference), str(candidate), options)
    assert "forward returned list, expected a tuple of 2 tensor(s)" in rejected["text"]["error"]


def test_integer_inputs_a_scalar_output_and_shape_constants_computed_from_sizes_are_judged(tmp_path):
    """A cross-entropy problem written as KernelBench writes them (input_shape = (num_classes,))."""
    folder = Path(__file__).parent / "kernelbench_style"
    reference, candidate = folder / "cross_entropy_reference.py", folder / "cross_entropy_candidate.py"
    options = JudgeOptions(language="triton", device="cpu", seed=11, shape={"batch_size": 37, "num_classes": 50},
                           extra_shapes=[{"batch_size": 5, "num_classes": 7}], distributions=[{"scale": 10.0}])
    result = judge(str(reference), str(candidate), options)
    assert all(s["ok"] for s in result["stages"]), result["stages"]
    assert result["metrics"]["max_abs_err"] < 1e-4
    wrong = tmp_path / "candidate.py"  # the sum instead of the mean: caught at every shape
    wrong.write_text(candidate.read_text().replace("tl.sum(total, axis=0) / n", "tl.sum(total, axis=0)"))
    assert judge(str(reference), str(wrong), options)["text"]["error"].startswith("correctness: trial 1")


def test_a_broken_triton_kernel_fails_to_compile_with_the_compilers_words(tmp_path):
    candidate = tmp_path / "candidate.py"
    candidate.write_text((SOFTMAX / "initial.py").read_text().replace("tl.max(x, axis=0)", "tl.maximum_of(x)"))
    result = judge(str(SOFTMAX / "reference.py"), str(candidate),
                   JudgeOptions(language="triton", device="cpu", shape={"batch_size": 4, "dim": 50}))
    failed = next(s for s in result["stages"] if not s["ok"])
    assert failed["name"] in ("compile", "correctness")
    assert "maximum_of" in failed["message"] + failed["log"]


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (the CUDA compiler) is not installed")
def test_cuda_is_compiled_but_not_run_without_a_gpu(tmp_path):
    options = JudgeOptions(language="cuda", device="cpu", shape={"batch_size": 4, "dim": 1000}, compile_timeout=900)
    result = judge(str(GELU / "reference.py"), str(GELU / "initial.py"), options)
    assert [(s["name"], s["ok"]) for s in result["stages"]] == [("policy", True), ("compile", True)], result["stages"]
    assert result["metrics"]["correctness_checked"] == 0.0
    assert "runtime_ms" not in result["metrics"] and "speedup" not in result["metrics"]
    assert result["text"]["correctness"].startswith("not checked")
    assert "registers" in result["text"]["ptxas"]

    broken = tmp_path / "candidate.py"
    broken.write_text((GELU / "initial.py").read_text().replace("erff(", "no_such_function("))
    failed = judge(str(GELU / "reference.py"), str(broken), options)
    stage = next(s for s in failed["stages"] if not s["ok"])
    assert stage["name"] == "compile"
    assert "no_such_function" in stage["message"] and "error" in stage["message"]
