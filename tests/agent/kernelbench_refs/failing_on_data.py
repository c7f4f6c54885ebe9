import torch
import torch.nn as nn


class Model(nn.Module):
    """Cholesky factor of a matrix that is not positive-definite: fails on the data, not on the shapes."""

    def __init__(self):
        super().__init__()

    def forward(self, A):
        return torch.linalg.cholesky(A - 10.0)


N = 1024


def get_inputs():
    return [torch.rand(N, N)]


def get_init_inputs():
    return []
