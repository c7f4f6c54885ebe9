import torch
import torch.nn as nn


class Model(nn.Module):
    """Sum over one dimension, keeping it (KernelBench level 1 "Sum reduction over a dimension")."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sum(x, dim=self.dim, keepdim=True)


rows = 16384
cols = 8192
reduce_dim = 1


def get_inputs():
    return [torch.randn(rows, cols)]


def get_init_inputs():
    return [reduce_dim]
