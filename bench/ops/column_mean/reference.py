import torch
import torch.nn as nn


class Model(nn.Module):
    """Mean over one dimension (KernelBench level 1 "Mean reduction over a dimension"), here the rows."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mean(x, dim=self.dim)


rows = 16384
cols = 8192
reduce_dim = 0


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return [reduce_dim]
