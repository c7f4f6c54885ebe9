import torch
import torch.nn as nn
import no_such_module_for_evoforge_tests  # noqa: F401


class Model(nn.Module):
    """A reference that does not load."""

    def forward(self, x):
        return x


N = 1024


def get_inputs():
    return [torch.rand(N)]


def get_init_inputs():
    return []
