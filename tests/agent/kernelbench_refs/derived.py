import torch
import torch.nn as nn


class Model(nn.Module):
    """A linear layer from hidden to dim = 4 * hidden features."""

    def __init__(self, hidden, dim):
        super().__init__()
        self.linear = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.linear(x)


batch = 2 ** 12
hidden = 1024
dim = hidden * 4


def get_inputs():
    return [torch.rand(batch, hidden)]


def get_init_inputs():
    return [hidden, dim]
