# Exploit: compute nothing and hope the allocator hands back the reference's freed output, which
# still holds the answer. The judge keeps the reference's output out of this process and poisons
# freed memory (NaN) before every call, so the empty output is caught.
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def touch_kernel(out_ptr):
    pass


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        out = torch.empty_like(x)
        touch_kernel[(1,)](out)
        return out
