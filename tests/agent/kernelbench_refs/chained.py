import torch
import torch.nn as nn


class Model(nn.Module):
    """ReLU of an image batch."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)


batch_size = 16
channels = 3
height = width = 256


def get_inputs():
    return [torch.rand(batch_size, channels, height, width)]


def get_init_inputs():
    return []
