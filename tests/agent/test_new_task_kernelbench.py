"""`agent new-task --from-kernelbench` as a user runs it, on small KernelBench-format files.

Each file in kernelbench_refs/ sets its sizes one way (a constant expression, a chained or a
tuple assignment, a derived name, a tuple constant that must shrink with a name) or fails one
way. The task written must load, carry a small CPU shape, further shapes and the adversarial
inputs the reference allows, and the reference must run (the judge's own code, every trial the
judge will run) at that CPU shape. A reference that fails is refused with one line, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.config import load_task
from agent.kernelbench_shapes import is_power_of_two
from agent.kernelbench_task import DISTRIBUTIONS, MAX_INPUTS
from tests.e2e.helpers import run_agent

pytest.importorskip("torch")

REFS = Path(__file__).parent / "kernelbench_refs"
ALL_INPUTS = [d for d, _ in DISTRIBUTIONS]


def _new_task(tmp_path: Path, name: str):
    done = run_agent("new-task", "--from-kernelbench", str(REFS / f"{name}.py"), "--out", name, cwd=tmp_path,
                     timeout=600)
    return done, tmp_path / name / "task.yaml"


def _made(tmp_path: Path, name: str):
    done, target = _new_task(tmp_path, name)
    assert done.returncode == 0, done.stderr
    assert f"wrote {name}/task.yaml" in done.stdout
    return done, load_task(target), target.read_text()


def _as_the_judge_gets_it(value):
    """The evaluator sends the judge's options as JSON: tuples arrive as lists."""
    return json.loads(json.dumps(value))


def _reference_runs_in_every_trial(task) -> dict:
    """Run the judge's reference side of every correctness trial (5 trials with the task's inputs
    at the CPU shape, one per odd shape); returns the module's values at the CPU shape."""
    from evaluators.kernel.judge import JudgeOptions, trial_plan
    from evaluators.kernel.reference import Reference

    kc = task.kernel
    cpu = _as_the_judge_gets_it(kc.cpu_shape or {})
    odd = _as_the_judge_gets_it([dict(s) for s in kc.odd_shapes])
    options = JudgeOptions(device="cpu", shape=cpu, extra_shapes=odd, distributions=[d.model_dump() for d in kc.inputs])
    ref = Reference(str(task.reference), "cpu")
    for trial in trial_plan(options):
        ref.set_shape({**cpu, **(trial["shape"] or {})})
        expected = ref.expected(trial["seed"], trial["wseed"], trial["dist"])
        assert all(a.isfinite().all() for a in expected.answers if a.is_floating_point()), trial["label"]
    ref.set_shape(cpu)
    import torch

    with torch.device("meta"):
        elements = sum(t.numel() for t in ref.module.get_inputs() if isinstance(t, torch.Tensor))
    assert elements <= MAX_INPUTS
    return vars(ref.module)


def _inputs(task) -> list[dict]:
    return [d.model_dump(exclude_defaults=True) for d in task.kernel.inputs]


def _check_odd_shapes(task, sizes: set[str]) -> None:
    assert len(task.kernel.odd_shapes) == 2
    for odd in task.kernel.odd_shapes:
        assert set(odd) >= set(task.kernel.cpu_shape)
        for name in sizes:
            assert odd[name] < task.kernel.cpu_shape[name] and not is_power_of_two(odd[name]), odd


def test_a_constant_expression_is_shrunk_and_adversarial_inputs_are_on(tmp_path):
    done, task, text = _made(tmp_path, "constant_expression")  # M = 1024 * 2, K = 512 * 3, N = 2048 * 2
    assert task.kernel.cpu_shape == {"M": 64, "K": 64, "N": 64}
    _check_odd_shapes(task, {"M", "K", "N"})
    assert len(set(task.kernel.odd_shapes[0].values())) == 3  # M, K and N apart: a kernel mixing them up fails
    assert _inputs(task) == ALL_INPUTS and any(d.scale < 0 or d.offset < 0 for d in task.kernel.inputs)
    assert "cpu_shape: {M: 64, K: 64, N: 64}" in done.stdout and "odd_shapes: [{" in done.stdout
    _reference_runs_in_every_trial(task)


def test_a_chained_assignment_shrinks_both_names(tmp_path):
    _, task, _ = _made(tmp_path, "chained")  # batch_size = 16, channels = 3, height = width = 256
    cpu = task.kernel.cpu_shape
    assert cpu["height"] == cpu["width"] < 256 and "channels" not in cpu
    values = _reference_runs_in_every_trial(task)
    assert values["height"] == values["width"] == cpu["height"]
    _check_odd_shapes(task, {"height", "width"})


def test_a_tuple_assignment_is_read(tmp_path):
    _, task, _ = _made(tmp_path, "tuple_assignment")  # M, N = 8192, 4096
    assert task.kernel.cpu_shape == {"M": 64, "N": 64}
    _check_odd_shapes(task, {"M", "N"})
    assert all(odd["M"] != odd["N"] for odd in task.kernel.odd_shapes)
    _reference_runs_in_every_trial(task)


def test_a_derived_name_follows_the_name_it_is_computed_from(tmp_path):
    _, task, _ = _made(tmp_path, "derived")  # batch = 2 ** 12, hidden = 1024, dim = hidden * 4
    assert task.kernel.cpu_shape == {"batch": 64, "hidden": 64}
    values = _reference_runs_in_every_trial(task)
    assert values["dim"] == 4 * values["hidden"] == 256


def test_a_tuple_constant_shrinks_with_the_name_it_must_equal(tmp_path):
    # level1/100_HingeLoss: (batch, n) predictions times (batch,) targets only broadcast while n == batch;
    # shrinking batch_size alone left input_shape = (32768,) and the reference failed
    _, task, text = _made(tmp_path, "hinge_like")
    assert task.kernel.cpu_shape == {"batch_size": 64, "input_shape": (64,)}
    assert "input_shape: [64]" in text
    assert all(odd["input_shape"] == (odd["batch_size"],) for odd in task.kernel.odd_shapes)
    _reference_runs_in_every_trial(task)


def test_inputs_a_log_cannot_take_are_left_out_with_the_reason(tmp_path):
    done, task, text = _made(tmp_path, "log_of_input")
    assert _inputs(task) == [{"scale": 1000.0}]  # the only one that keeps torch.rand's inputs positive
    for shown in ("{scale: 2, offset: -1}", "{scale: -100}", "{edge: true}"):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"  # not in inputs: {shown}"))
        assert "NaN" in line or "infinities" in line, line
        assert f"left out {shown}" in done.stdout
    _reference_runs_in_every_trial(task)


def test_when_no_constant_drives_the_inputs_the_task_says_so(tmp_path):
    done, task, text = _made(tmp_path, "fixed_size")  # torch.randn(5, 6) inside get_inputs()
    assert task.kernel.cpu_shape is None and task.kernel.odd_shapes == ()
    assert "# odd_shapes: the shape cannot be varied" in text
    assert "odd_shapes: the shape cannot be varied" in done.stdout
    _reference_runs_in_every_trial(task)


@pytest.mark.parametrize(("name", "says"), [
    ("failing_on_data", "the reference fails at the CPU shape {N: 64}: _LinAlgError: linalg.cholesky"),
    ("mismatched_sizes", "the reference fails at its own shape (run on torch's meta device, without data): "
                         "RuntimeError:"),
    ("missing_import", "the reference does not load: ModuleNotFoundError: No module named "
                       "'no_such_module_for_evoforge_tests'"),
    ("random_forward", "the reference fails at the CPU shape {N: 64}: ValueError: the reference gives different "
                       "outputs for the same inputs"),
])
def test_a_reference_that_fails_is_refused_in_one_line(tmp_path, name, says):
    done, target = _new_task(tmp_path, name)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"error: {REFS / name}.py: {says}"), done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not target.parent.exists()


def test_sizes_keep_their_proportions_when_the_operator_needs_them(tmp_path):
    # every size capped (64) breaks dim_out == 2 * width; sizes divided by one factor keep it
    _, task, _ = _made(tmp_path, "in_proportion")
    cpu = task.kernel.cpu_shape
    assert cpu["dim_out"] == 2 * cpu["width"] and cpu["width"] < 2048
    assert all(odd["dim_out"] == 2 * odd["width"] for odd in task.kernel.odd_shapes)
    _check_odd_shapes(task, {"width", "dim_out"})
    _reference_runs_in_every_trial(task)


def test_a_reference_that_hangs_is_refused_after_the_time_limit(tmp_path):
    from agent.config import ConfigError
    from agent.new_task import make_kernelbench_task

    with pytest.raises(ConfigError, match=r"hangs.py: the reference fails at the CPU shape \{N: 64\}: no answer "
                                          r"within 5 s \(too slow at this shape, or it hangs\)"):
        make_kernelbench_task(REFS / "hangs.py", "triton", tmp_path / "hangs", timeout=5)
    assert not (tmp_path / "hangs").exists()
