"""Further shapes the judge derives itself when a task names no odd_shapes (further_shapes.py).

A kernel right at the benchmark shape alone must fail at a smaller shape that is not a power of
two; a shape the reference itself fails at is skipped with a note, never charged to the
candidate; a reference whose shape cannot be varied gets a plain note and `shapes_checked` 1.
The judge runs in this process, the candidate in Triton's interpreter.
"""

from __future__ import annotations

import ast
import secrets
from pathlib import Path

import pytest

from evaluators.kernel.further_shapes import CANNOT, derive
from evaluators.kernel.shapes import ProblemShapes, is_power_of_two

ROOT = Path(__file__).resolve().parents[3]
HOSTILE = Path(__file__).resolve().parent / "hostile"
TASK = ROOT / "tasks" / "softmax_triton"
SOFTMAX = (TASK / "reference.py").read_text()
# The reference: its shape set by a tuple assignment.
TUPLE_SOFTMAX = SOFTMAX.replace("batch_size = 4096\ndim = 8192", "M, N = 8192, 4096").replace(
    "torch.randn(batch_size, dim)", "torch.randn(M, N)")


def _sizes(shape: dict) -> list[int]:
    return [v for value in shape.values() for v in (value if isinstance(value, list) else [value])]


# ----- derivation, without torch ---------------------------------------------------------------

@pytest.mark.parametrize("source, bench", [(SOFTMAX, {"batch_size": 8, "dim": 300}), (SOFTMAX, None),
                                           (TUPLE_SOFTMAX, {"M": 8, "N": 300}), (TUPLE_SOFTMAX, None)])
def test_derived_shapes_are_smaller_and_not_powers_of_two(source, bench):
    shapes, why = derive(source, bench, secret=7)
    assert why == "" and len(shapes) >= 2
    at_bench = ProblemShapes(ast.parse(source)).values_after(bench or {})
    for shape in shapes[:2]:
        assert set(shape) == set(at_bench)
        assert all(shape[k] <= at_bench[k] for k in shape) and shape != at_bench
        assert all(not is_power_of_two(v) for k, v in shape.items() if v != at_bench[k]), shape
    assert shapes[0] != shapes[1]


def test_derived_shapes_follow_the_secret_seed():
    """Sizes are lowered by secret steps: the same seed gives the same shapes, others mostly differ."""
    first = derive(TUPLE_SOFTMAX, None, secret=1)[0]
    assert derive(TUPLE_SOFTMAX, None, secret=1)[0] == first
    others = [derive(TUPLE_SOFTMAX, None, secret=s)[0][0] for s in range(2, 8)]
    assert any(o != first[0] for o in others)


def test_equal_sizes_stay_equal():
    """`batch_size = 32768` and `input_shape = (32768,)` broadcast together: both change alike."""
    source = ("batch_size = 32768\ninput_shape = (32768,)\n\ndef get_inputs():\n"
              "    return [torch.rand(batch_size, *input_shape), torch.rand(batch_size)]\n\n"
              "def get_init_inputs():\n    return []\n")
    shapes, _ = derive(source, {"batch_size": 64, "input_shape": [64]}, secret=3)
    assert shapes and all(s["input_shape"] == [s["batch_size"]] and s["batch_size"] < 64 for s in shapes)


def test_a_reference_with_sizes_written_inside_get_inputs_cannot_be_varied():
    shapes, why = derive(SOFTMAX.replace("torch.randn(batch_size, dim)", "torch.randn(8, 300)"), None, secret=1)
    assert shapes == [] and why.startswith(CANNOT) and "\n" not in why


# ----- the judge, in the interpreter ---------------------------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from evaluators.kernel.judge import JudgeOptions, judge  # noqa: E402


def _judge(reference: Path, candidate: Path, shape: dict | None, **extra) -> dict:
    options = JudgeOptions(language="triton", device="cpu", seed=secrets.randbits(62), trials=2, shape=shape, **extra)
    return judge(str(reference), str(candidate), options)


def _failed(result: dict) -> dict:
    return next(s for s in result["stages"] if not s["ok"])


@pytest.fixture()
def tuple_reference(tmp_path) -> Path:
    path = tmp_path / "reference.py"
    path.write_text(TUPLE_SOFTMAX)
    return path


def test_a_kernel_right_at_the_benchmark_shape_only_is_rejected_naming_the_shape(tuple_reference):
    result = _judge(tuple_reference, HOSTILE / "shape_specialised.py", {"M": 8, "N": 300})
    failed = _failed(result)
    assert failed["name"] == "correctness", failed
    assert "derived from the reference's sizes" in failed["message"] and "M=" in failed["message"], failed
    assert "shape M=" in result["text"]["error"] and "\n" not in failed["message"]
    assert "speedup" not in result["metrics"]


def test_the_honest_kernel_passes_at_the_derived_shapes(tuple_reference):
    result = _judge(tuple_reference, TASK / "initial.py", {"M": 8, "N": 300})
    assert all(s["ok"] for s in result["stages"]), result["stages"]
    assert result["metrics"]["shapes_checked"] == 3
    assert result["text"]["shapes"].startswith("correctness checked at 3 shapes"), result["text"]["shapes"]


def test_the_tasks_odd_shapes_replace_the_derived_ones(tuple_reference):
    result = _judge(tuple_reference, HOSTILE / "shape_specialised.py", {"M": 8, "N": 300},
                    extra_shapes=[{"M": 3, "N": 77}])
    assert "shape M=3, N=77" in _failed(result)["message"]
    honest = _judge(tuple_reference, TASK / "initial.py", {"M": 8, "N": 300}, extra_shapes=[{"M": 3, "N": 77}])
    assert honest["metrics"]["shapes_checked"] == 2


def test_a_shape_the_reference_fails_at_is_skipped_not_charged(tmp_path):
    """A batch that is not a multiple of 4 is refused by the reference (as a group count can be):
    those shapes are skipped with a note; two that vary the other size are checked."""
    path = tmp_path / "reference.py"
    path.write_text(SOFTMAX.replace("        return torch.softmax(x, dim=1)",
                                    "        if x.shape[0] % 4:\n"
                                    "            raise ValueError('the batch must be a multiple of 4')\n"
                                    "        return torch.softmax(x, dim=1)"))
    result = _judge(path, TASK / "initial.py", {"batch_size": 8, "dim": 300})
    assert all(s["ok"] for s in result["stages"]), result["stages"]
    assert result["metrics"]["shapes_checked"] == 3
    assert "skipped, the reference fails there" in result["text"]["shapes"]
    assert "multiple of 4" in result["text"]["shapes"]


def test_a_reference_whose_shape_cannot_be_varied_gets_the_plain_note(tmp_path):
    path = tmp_path / "reference.py"
    path.write_text(SOFTMAX.replace("torch.randn(batch_size, dim)", "torch.randn(8, 300)"))
    result = _judge(path, TASK / "initial.py", None)
    assert all(s["ok"] for s in result["stages"]), result["stages"]
    assert result["metrics"]["shapes_checked"] == 1
    assert result["text"]["shapes"].startswith(CANNOT) and "benchmark shape only" in result["text"]["shapes"]
