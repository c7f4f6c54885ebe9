# Hostile: look for the judge's secret seed in the environment and in /proc, and print what it finds.
# The seed never reaches this process; the harness's own environment is blanked and non-dumpable.
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def softmax_kernel(x_ptr, out_ptr, row_stride, n_cols, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    offsets = tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_cols
    x = tl.load(x_ptr + row * row_stride + offsets, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    e = tl.exp(x)
    tl.store(out_ptr + row * row_stride + offsets, e / tl.sum(e, axis=0), mask=mask)


def softmax(x):
    x = x.contiguous()
    out = torch.empty_like(x)
    softmax_kernel[(x.shape[0],)](x, out, x.stride(0), x.shape[1], BLOCK_SIZE=triton.next_power_of_2(x.shape[1]))
    return out

import os
from pathlib import Path

found = [f"{k}={v}" for k, v in os.environ.items()]
status = Path("/proc/self/status").read_text()
parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
for pid in ["self", "1", parent] + [p for p in os.listdir("/proc") if p.isdigit()][:64]:
    for name in ("environ", "cmdline"):
        try:
            found.append(Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError):
            pass
suspects = sorted({text[max(0, i - 20):i + 60] for text in found for i in
                   [text.find(word) for word in ("EVOFORGE", "SECRET", "KERNEL_") if word in text] if i >= 0})
print("FOUND:", suspects, "in", sum(len(t) for t in found), "characters")


class ModelNew(nn.Module):
    def forward(self, x):
        return softmax(x)
