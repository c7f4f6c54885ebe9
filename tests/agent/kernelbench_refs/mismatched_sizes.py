import torch
import torch.nn as nn


class Model(nn.Module):
    """A reference whose forward multiplies matrices of sizes that do not fit (at its own shape; equal at 64)."""

    def __init__(self):
        super().__init__()

    def forward(self, A, B):
        return torch.matmul(A, B)


M = 128
K = 256
N = 512


def get_inputs():
    return [torch.rand(M, K), torch.rand(N, K)]


def get_init_inputs():
    return []
