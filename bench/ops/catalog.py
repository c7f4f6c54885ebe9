"""The benchmark's operators: one folder per op holding a KernelBench-format pair.

`<op>/reference.py` defines `Model`, `get_inputs()` and `get_init_inputs()`;
`<op>/candidate.py` defines `ModelNew` with the same constructor arguments and the same
parameter names (so the judge can give both the same weights). Sizes are module-level
constants in the reference, as in KernelBench; `tiny` names CPU-sized values for them (the CI
check in tests/bench/test_ops_cpu.py runs the candidates in Triton's interpreter at those).

`bytes` is the least DRAM traffic at the benchmark sizes (every input and parameter read once,
every output written once; the CPU test recomputes it from the shapes), `flops` the arithmetic
(2*M*N*K for a product; elementwise ops count each add, multiply, exp or division as one).
Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

OPS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Op:
    name: str
    kind: str  # elementwise | reduction | normalisation | matmul-epilogue
    language: str  # triton | cuda
    bytes: int
    flops: int
    tiny: dict[str, int] = field(default_factory=dict)  # reference globals for CPU-sized inputs
    note: str = ""

    @property
    def reference(self) -> Path:
        return OPS_DIR / self.name / "reference.py"

    @property
    def candidate(self) -> Path:
        return OPS_DIR / self.name / "candidate.py"


_MIB = 1 << 20
_BIG = 16384 * 4096  # elements of the large memory-bound inputs (64 Mi fp32 = 256 MiB)

OPS: tuple[Op, ...] = (
    Op("swish", "elementwise", "triton", bytes=2 * 4 * _BIG, flops=4 * _BIG,
       tiny={"rows": 37, "cols": 129}, note="x*sigmoid(x), 16384x4096 fp32"),
    Op("add_small", "elementwise", "triton", bytes=3 * 4 * _MIB, flops=_MIB,
       tiny={"n": 5000}, note="a+b, 1M fp32: launch-bound, under 20 us"),
    Op("row_sum", "reduction", "triton", bytes=4 * 16384 * 8192 + 4 * 16384, flops=16384 * 8192,
       tiny={"rows": 19, "cols": 3000}, note="sum over dim 1 keepdim, 16384x8192 fp32"),
    Op("softmax", "normalisation", "triton", bytes=2 * 4 * 8192 * 8192, flops=5 * 8192 * 8192,
       tiny={"batch_size": 13, "dim": 1000}, note="softmax dim 1, 8192x8192 fp32"),
    Op("layernorm", "normalisation", "triton", bytes=2 * 4 * _BIG + 2 * 4 * 4096, flops=8 * _BIG,
       tiny={"rows": 11, "features": 300}, note="nn.LayerNorm(4096), 16384 rows fp32"),
    Op("matmul_bias_relu", "matmul-epilogue", "triton",
       bytes=2 * (3 * 4096 * 4096 + 4096), flops=2 * 4096**3 + 2 * 4096 * 4096,
       tiny={"batch": 70, "in_features": 100, "out_features": 90},
       note="relu(x@W^T+b), 4096^3 fp16, fp32 accumulation"),
    Op("relu", "elementwise", "triton", bytes=2 * 4 * _BIG, flops=_BIG,
       tiny={"rows": 37, "cols": 129}, note="max(x, 0), 16384x4096 fp32"),
    Op("sigmoid", "elementwise", "triton", bytes=2 * 4 * _BIG, flops=4 * _BIG,
       tiny={"batch_size": 41, "dim": 257}, note="1/(1+exp(-x)), 16384x4096 fp32"),
    Op("gelu_tanh", "elementwise", "triton", bytes=2 * 4 * _BIG, flops=9 * _BIG,
       tiny={"rows": 23, "cols": 301}, note="GELU, tanh approximation, 16384x4096 fp32"),
    Op("scale_shift", "elementwise", "triton", bytes=2 * 4 * _BIG + 2 * 4 * 4096, flops=2 * _BIG,
       tiny={"rows": 31, "features": 97}, note="x*w+b, w and b per column, 16384x4096 fp32"),
    Op("log_softmax", "normalisation", "triton", bytes=2 * 4 * 8192 * 8192, flops=5 * 8192 * 8192,
       tiny={"batch_size": 13, "dim": 1000}, note="log_softmax dim 1, 8192x8192 fp32"),
    Op("l2_norm", "normalisation", "triton", bytes=2 * 4 * _BIG, flops=3 * _BIG,
       tiny={"batch_size": 9, "dim": 777}, note="x/||x||_2 per row, 16384x4096 fp32"),
    Op("column_mean", "reduction", "triton", bytes=4 * 16384 * 8192 + 4 * 8192, flops=16384 * 8192,
       tiny={"rows": 300, "cols": 77}, note="mean over dim 0, 16384x8192 fp32"),
    Op("rmsnorm_cuda", "normalisation", "cuda", bytes=2 * 4 * _BIG + 4 * 4096, flops=4 * _BIG,
       tiny={"rows": 5, "features": 260}, note="x*rsqrt(mean(x^2)+eps)*w, 16384x4096 fp32, CUDA C++"),
)


def by_name(name: str) -> Op:
    for op in OPS:
        if op.name == name:
            return op
    raise KeyError(f"no op named {name!r}; known: {', '.join(o.name for o in OPS)}")
