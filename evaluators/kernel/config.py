"""The options of a kernel task, under the task file's `kernel:` key (evaluators/kernel/kind.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InputDistribution", "KernelConfig"]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class InputDistribution(_Options):
    """How a correctness trial transforms the floating-point inputs get_inputs() makes."""

    scale: float = 1.0
    """Multiply the inputs by this."""
    offset: float = 0.0
    """Then add this."""
    edge: bool = False
    """Replace about 1% of the elements with edge values (zeros, +-tiny, +-large)."""


class KernelConfig(_Options):
    """Kernel tasks: how candidates are checked and timed (evaluators/kernel/README.md)."""

    device: Literal["auto", "cuda", "cpu"] = "auto"
    """"auto": the GPU when this machine has one, else the CPU (Triton in its interpreter,
    CUDA compiled only, no timing)."""
    trials: int = Field(5, ge=5, le=100)
    """Correctness trials at the benchmark shape, each with fresh secret-seeded inputs and weights."""
    shape: dict[str, int | float | tuple[int, ...]] | None = None
    """Module-level constants of the reference to set for the benchmark (e.g. {batch_size: 64};
    a tuple constant as a list: {input_shape: [64]}); None: the reference's own. Module-level
    names the file computes from them follow."""
    cpu_shape: dict[str, int | float | tuple[int, ...]] | None = None
    """The shape used without a GPU, where Triton runs in its slow interpreter: keep it tiny."""
    odd_shapes: tuple[dict[str, int | float | tuple[int, ...]], ...] = ()
    """Extra shapes checked for correctness (one trial each; also without a GPU: keep them small),
    e.g. sizes that are not multiples of a block."""
    inputs: tuple[InputDistribution, ...] = ()
    """Input distributions for trials 2, 3, ... in turn (trial 1 uses get_inputs() as it is)."""
    atol: float | None = Field(None, ge=0)
    """Absolute tolerance; None: by the output's dtype (the table in evaluators/kernel/correctness.py)."""
    rtol: float | None = Field(None, ge=0)
    """Relative tolerance; None: by the output's dtype."""
    allow_ops: tuple[str, ...] = ()
    """torch operators a candidate may call although they do the reference's work (e.g. "matmul")."""
    min_own_share: float | None = Field(None, ge=0, le=1)
    """On a GPU: the least share of one forward's GPU time that must run in the candidate's own
    kernels (the rest ran in torch's or a vendor library's); below it the candidate is rejected,
    naming the library kernels that did the work. None: 0.5, or 0 when `allow_ops` is set."""
    bytes: float | None = Field(None, gt=0)
    """Bytes the op must move at the benchmark shape (roofline); None: estimated."""
    flops: float | None = Field(None, ge=0)
    """FLOPs the op must do at the benchmark shape (roofline); None: estimated."""
    compile_timeout_seconds: float = Field(300.0, gt=0)
    """Limit for a candidate's import and first call (where CUDA and Triton compile)."""
    timing_seconds: float = Field(10.0, gt=0)
    """Time budget of the adaptive timing loop per candidate."""
    target_rel_se: float = Field(0.002, gt=0, lt=1)
    """Repeat timed calls until the median's relative standard error is below this."""
    prime_jobs: bool = False
    """Start each candidate's job (its processes, imports, CUDA's and the profiler's start, the
    reference) before the candidate exists, and hand it the candidate when it comes
    (evaluators/kernel/priming.py): the start-up leaves the candidate's path, for twice the
    processes. Off by default: on a 2-core CPU machine it was slower (the start-ups compete for
    the cores); not yet measured on a GPU host (bench/throughput.py --priming on|off)."""
    compile_reference: bool = True
    """Also time torch.compile of the reference for speedup_vs_compile: once per problem and device,
    kept for later runs in baselines.json beside the ceilings' cache (evaluators/kernel/baseline_cache.py)."""
    ceilings: Path | None = None
    """JSON file caching measured device ceilings; None: ~/.cache/evoforge/ceilings.json."""
