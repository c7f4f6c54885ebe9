"""The profiler's warm-up (evaluators/kernel/profiler_warmup.py): where it cannot run it raises
nothing and says why, and the candidate's process on a CPU does none."""

import pytest

torch = pytest.importorskip("torch")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the failure path needs a machine without CUDA")
def test_a_warmup_that_cannot_start_returns_its_reason():
    from evaluators.kernel.profiler_warmup import warm_up_profiler

    seconds, error = warm_up_profiler(torch)
    assert seconds is None and error and len(error) <= 300


def test_the_runner_warms_up_no_profiler_on_the_cpu(tmp_path):
    from evaluators.kernel.runner import Runner

    reference = tmp_path / "reference.py"
    reference.write_text("import torch\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x\n"
                         "def get_inputs():\n    return [torch.ones(2)]\ndef get_init_inputs():\n    return []\n")
    runner = Runner({"reference": str(reference), "candidate": str(reference), "device": "cpu", "language": "cuda"})
    assert runner.profiler_warmup_s is None
