import time

import torch
import torch.nn as nn


class Model(nn.Module):
    """A reference whose forward never ends on real data (shapes alone, on the meta device, are fine)."""

    def __init__(self):
        super().__init__()

    def forward(self, x):
        while x.device.type != "meta":
            time.sleep(0.1)
        return x


N = 4096


def get_inputs():
    return [torch.rand(N, N)]


def get_init_inputs():
    return []
