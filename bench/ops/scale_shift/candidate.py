import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def _scale_shift_kernel(x_ptr, w_ptr, b_ptr, out_ptr, n, cols, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    col = offs % cols
    x = tl.load(x_ptr + offs, mask=mask)
    w = tl.load(w_ptr + col, mask=mask)
    b = tl.load(b_ptr + col, mask=mask)
    tl.store(out_ptr + offs, x * w + b, mask=mask)


class ModelNew(nn.Module):
    """One flat pass over x; the per-column weight and bias come from cache."""

    def __init__(self, features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        n = x.numel()
        block = 4096
        _scale_shift_kernel[(triton.cdiv(n, block),)](
            x, self.weight, self.bias, out, n, x.shape[-1], BLOCK=block, num_warps=8
        )
        return out
