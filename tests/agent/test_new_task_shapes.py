"""new-task's reading of a KernelBench file's sizes (agent/kernelbench_shapes.py), without torch.

Every shape it proposes is also applied with the judge's own `set_shape`
(evaluators/kernel/inputs.py) to the file loaded as a module: the values the judge ends up with
must be the ones new-task meant, for every pattern (constant expressions, chained and tuple
assignments, derived names, tuple constants, reassignment).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from agent.kernelbench_shapes import ODD_RULES, ProblemShapes, is_power_of_two
from evaluators.kernel.inputs import set_shape

SOURCE = """
N = 2048 * 2
h = w = 256
M, K = 8192, 4096
hidden = 1024
dim = hidden * 4
batch_size = 32768
input_shape = (32768,)
image = (batch_size, 3, 224, 224)
height = width = 2048
height, width = (32, 32)
kernel_size = (3, 5)
unused = 99999


def get_inputs():
    return [(batch_size, *input_shape), (N, M, K, h, w, dim), image, (height, width)]


def get_init_inputs():
    return [hidden, dim, kernel_size]
"""


def _module(tmp_path: Path, source: str, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _judge_values(module, shape, names):
    set_shape(module, shape, {})
    return {n: list(v) if isinstance(v, tuple) else v for n, v in ((n, getattr(module, n)) for n in names)}


def _plain(values):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def test_every_pattern_is_read_and_only_the_names_the_inputs_use():
    shapes = ProblemShapes(ast.parse(SOURCE))
    assert "unused" not in shapes.depends_on
    assert shapes.values["N"] == 4096 and shapes.values["h"] == shapes.values["w"] == 256
    assert (shapes.values["M"], shapes.values["K"]) == (8192, 4096)
    assert shapes.values["dim"] == 4096 and shapes.values["input_shape"] == (32768,)
    assert shapes.values["height"] == 32  # the later tuple assignment wins
    assert 4096 in shapes.leaves and 32768 in shapes.leaves and 99999 not in shapes.leaves


def test_cpu_shape_shrinks_every_size_and_keeps_equal_constants_equal():
    shapes = ProblemShapes(ast.parse(SOURCE))
    shape = shapes.shape_for(shapes.cap_mapping(64))
    # constant expression, chained, tuple, tuple constant, mixed tuple; derived `dim` left to the judge
    assert shape == {"N": 64, "h": 64, "w": 64, "M": 64, "K": 64, "hidden": 64, "batch_size": 64,
                     "input_shape": [64], "image": [64, 3, 64, 64]}
    assert shapes.values_under(shapes.cap_mapping(64))["dim"] == 256
    # kernel sizes and small constants are kept
    assert "kernel_size" not in shapes.shape_for(shapes.cap_mapping(2))


@pytest.mark.parametrize("cap", [64, 16, 4, 1])
def test_the_judge_reaches_the_values_new_task_means(tmp_path, cap):
    shapes = ProblemShapes(ast.parse(SOURCE))
    mapping = shapes.cap_mapping(cap)
    module = _module(tmp_path, SOURCE, f"kb_shapes_{cap}")
    names = sorted(shapes.depends_on)
    assert _judge_values(module, shapes.shape_for(mapping), names) == _plain(shapes.values_under(mapping))


def test_hinge_loss_batch_and_tuple_constant_shrink_together(tmp_path):
    source = ("batch_size = 32768\ninput_shape = (32768,)\ndim = 1\n\n"
              "def get_inputs():\n    return [(batch_size, *input_shape), (batch_size,)]\n\n"
              "def get_init_inputs():\n    return []\n")
    shapes = ProblemShapes(ast.parse(source))
    shape = shapes.shape_for(shapes.cap_mapping(64))
    assert shape == {"batch_size": 64, "input_shape": [64]}
    module = _module(tmp_path, source, "kb_hinge")
    set_shape(module, shape, {})
    assert module.get_inputs() == [(64, 64), (64,)]  # a (batch, n) tensor still broadcasts with a (batch,) one


def test_odd_shapes_are_smaller_not_powers_of_two_and_keep_different_sizes_apart(tmp_path):
    source = ("M = 1024 * 2\nK = 4096 * 2\nN = 2048 * 2\n\n"
              "def get_inputs():\n    return [(M, K), (K, N)]\n\n"
              "def get_init_inputs():\n    return []\n")
    shapes = ProblemShapes(ast.parse(source))
    base = shapes.cap_mapping(64)
    assert shapes.shape_for(base) == {"M": 64, "K": 64, "N": 64}
    module = _module(tmp_path, source, "kb_odd")
    for k in range(len(ODD_RULES)):
        for vary in (lambda v: True, lambda v: v == 4096):
            mapping = shapes.odd_mapping(base, k, vary)
            odd = shapes.shape_for(mapping)
            assert set(odd) == {"M", "K", "N"}
            varied = {n: v for n, v in odd.items() if v != 64}
            assert varied and all(v < 64 and not is_power_of_two(v) for v in varied.values()), (k, odd)
            assert _judge_values(module, odd, ["M", "K", "N"]) == odd
    first = shapes.shape_for(shapes.odd_mapping(base, 0, lambda v: True))
    assert len(set(first.values())) == 3  # M, K and N differ, so a kernel that swaps them fails


def test_a_tiny_cpu_size_gets_a_tiny_odd_size_and_parameters_stay():
    source = ("batch_size = 256\nkernel_size = 11\n\n"
              "def get_inputs():\n    return [(batch_size, 3, 224, 224)]\n\n"
              "def get_init_inputs():\n    return [kernel_size]\n")
    shapes = ProblemShapes(ast.parse(source))
    base = shapes.cap_mapping(1)
    assert shapes.shape_for(base) == {"batch_size": 1}
    odd = [shapes.shape_for(shapes.odd_mapping(base, k, lambda v: True)) for k in range(2)]
    assert odd == [{"batch_size": 3}, {"batch_size": 5}]


def test_no_integer_constant_means_nothing_to_shrink():
    source = "def get_inputs():\n    return [(5, 6)]\n\ndef get_init_inputs():\n    return []\n"
    shapes = ProblemShapes(ast.parse(source))
    assert shapes.leaves == () and shapes.shape_for(shapes.cap_mapping(1)) == {}


def test_proportional_shrinking_keeps_ratios_and_parameters():
    source = ("batch_size = 32\nout_channels = 64\nwidth = 32\nkernel_size = (3, 3, 3)\n\n"
              "def get_inputs():\n    return [(batch_size, width)]\n\n"
              "def get_init_inputs():\n    return [out_channels, kernel_size]\n")
    shapes = ProblemShapes(ast.parse(source))
    shape = shapes.shape_for(shapes.proportional_mapping(4))
    assert shape == {"batch_size": 8, "out_channels": 16, "width": 8}
