import torch
import torch.nn as nn


class Model(nn.Module):
    """Matrix product A @ B."""

    def __init__(self):
        super().__init__()

    def forward(self, A, B):
        return torch.matmul(A, B)


M = 1024 * 2
K = 512 * 3
N = 2048 * 2


def get_inputs():
    return [torch.rand(M, K), torch.rand(K, N)]


def get_init_inputs():
    return []
