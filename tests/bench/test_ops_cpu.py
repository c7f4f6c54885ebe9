"""The GPU benchmark's candidates stay honest in CI: each is checked on the CPU.

Triton candidates run in Triton's interpreter (TRITON_INTERPRET=1) at tiny, odd sizes (masks
exercised) on several input distributions, against the reference computed in float64. The CUDA
candidate cannot run without a GPU: its kernel source is compiled for sm_90 with nvcc and its
torch wrapper is syntax-checked with the host compiler against torch's headers.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bench.ops import pairs
from bench.ops.catalog import OPS, by_name

pytest.importorskip("torch", reason="the kernel benchmark's checks need torch")

TRITON_OPS = [op for op in OPS if op.language == "triton"]
CUDA_OPS = [op for op in OPS if op.language == "cuda"]
REPO = Path(__file__).resolve().parents[2]


def _check_in_interpreter(*ops: str) -> dict[str, list[str]]:
    """Run bench.ops.check_cpu in its own process (TRITON_INTERPRET must precede triton's import)."""
    pytest.importorskip("triton", reason="the Triton candidates need triton")
    done = subprocess.run([sys.executable, "-m", "bench.ops.check_cpu", *ops], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def interpreter_report() -> dict[str, list[str]]:
    return _check_in_interpreter()


@pytest.mark.parametrize("op", TRITON_OPS, ids=lambda op: op.name)
def test_triton_candidate_matches_fp64_reference_in_interpreter(op, interpreter_report) -> None:
    assert interpreter_report[op.name] == []


def test_check_catches_a_candidate_with_a_mask_bug(tmp_path: Path) -> None:
    op = by_name("layernorm")
    source = op.candidate.read_text()
    assert "tl.sum(x, axis=0) / cols" in source
    wrong = tmp_path / "candidate.py"
    wrong.write_text(source.replace("tl.sum(x, axis=0) / cols", "tl.sum(x, axis=0) / BLOCK"))
    problems = _check_in_interpreter(f"layernorm={wrong}")["layernorm"]
    assert len(problems) == 3 and all("out of tolerance" in p for p in problems)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_declared_roofline_bytes_equal_inputs_params_and_outputs(op) -> None:
    assert op.bytes == pairs.least_bytes(op)


def _source_constants(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


@pytest.mark.skipif(shutil.which("nvcc") is None or shutil.which("g++") is None,
                    reason="compile-only check of CUDA candidates needs nvcc and g++ on PATH")
@pytest.mark.parametrize("op", CUDA_OPS, ids=lambda op: op.name)
def test_cuda_candidate_compiles_for_sm90(op, tmp_path: Path) -> None:
    from torch.utils.cpp_extension import include_paths

    sources = _source_constants(op.candidate)
    (tmp_path / "kernel.cu").write_text(sources["CUDA_SRC"])
    (tmp_path / "wrapper.cpp").write_text(sources["CPP_SRC"])
    includes = [f"-I{p}" for p in [*include_paths(), sysconfig.get_paths()["include"]]]
    jobs = {
        "nvcc": subprocess.Popen(
            ["nvcc", "-c", "-O3", "-gencode=arch=compute_90,code=sm_90", "-Xptxas", "-warn-spills",
             "kernel.cu", "-o", "kernel.o"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
        "g++": subprocess.Popen(
            ["g++", "-std=c++20", "-fsyntax-only", "-w", *includes, "wrapper.cpp"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
    }
    for name, job in jobs.items():
        out, _ = job.communicate(timeout=240)
        assert job.returncode == 0, f"{name} failed:\n{out[-3000:]}"
        assert "spill" not in out.lower(), f"{name}: the kernel spills registers:\n{out}"
    assert (tmp_path / "kernel.o").stat().st_size > 0


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_candidate_passes_the_judges_static_policy(op) -> None:
    from evaluators.kernel import policy

    assert policy.check(op.candidate.read_text(), op.reference.read_text(), op.language) == []
