import torch
import torch.nn as nn
import triton
import triton.language as tl

NUM_WARPS = 8  # evoforge: tune choices=[1, 2, 4, 8, 16, 32]
ROWS_PER_PROGRAM = 1  # evoforge: tune choices=[1, 2, 4]


@triton.jit
def softmax_kernel(x_ptr, out_ptr, row_stride, n_rows, n_cols, BLOCK_SIZE: tl.constexpr, ROWS: tl.constexpr):
    # Each program handles ROWS rows: load a row, subtract its max, exponentiate, normalise.
    offsets = tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_cols
    for r in tl.static_range(ROWS):
        row = tl.program_id(0) * ROWS + r
        if row < n_rows:
            x = tl.load(x_ptr + row * row_stride + offsets, mask=mask, other=-float("inf"))
            x = x - tl.max(x, axis=0)
            e = tl.exp(x)
            tl.store(out_ptr + row * row_stride + offsets, e / tl.sum(e, axis=0), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        rows, cols = x.shape
        block = triton.next_power_of_2(cols)
        grid = (triton.cdiv(rows, ROWS_PER_PROGRAM),)
        softmax_kernel[grid](x, out, x.stride(0), rows, cols, BLOCK_SIZE=block, ROWS=ROWS_PER_PROGRAM,
                             num_warps=NUM_WARPS)
        return out
