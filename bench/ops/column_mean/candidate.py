import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def _column_mean_kernel(x_ptr, out_ptr, rows, cols, stride_row, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    col = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_mask = col < cols
    acc = tl.zeros([BLOCK_R, BLOCK_C], dtype=tl.float32)
    for start in range(0, rows, BLOCK_R):
        row = start + tl.arange(0, BLOCK_R)
        mask = (row[:, None] < rows) & col_mask[None, :]
        ptrs = x_ptr + row[:, None].to(tl.int64) * stride_row + col[None, :]
        acc += tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + col, tl.sum(acc, axis=0) / rows, mask=col_mask)


class ModelNew(nn.Module):
    """Means down the columns of a 2-D tensor (dim 0): each program owns a strip of columns."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 2 and self.dim == 0, "this kernel reduces dim 0 of a 2-D tensor"
        x = x.contiguous()
        rows, cols = x.shape
        out = torch.empty(cols, device=x.device, dtype=x.dtype)
        block_c = 32
        _column_mean_kernel[(triton.cdiv(cols, block_c),)](
            x, out, rows, cols, x.stride(0), BLOCK_R=64, BLOCK_C=block_c, num_warps=4
        )
        return out
