import torch
import torch.nn as nn


class Model(nn.Module):
    """relu(x @ W^T + b) in half precision: a matrix product with a fused epilogue."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        scale = in_features ** -0.5
        self.weight = nn.Parameter(torch.randn(out_features, in_features, dtype=torch.float16) * scale)
        self.bias = nn.Parameter(torch.randn(out_features, dtype=torch.float16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.weight.t() + self.bias)


batch = 4096
in_features = 4096
out_features = 4096


def get_inputs():
    return [torch.randn(batch, in_features, dtype=torch.float16)]


def get_init_inputs():
    return [in_features, out_features]
