"""Runtime guards in the candidate's process: patches of torch, timers and the dispatcher are seen.

Every patch is applied in a forked copy of one fresh interpreter: none leaks into another or
into the test process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[3]


_RUNNER = textwrap.dedent("""
    import json, os, sys, warnings
    warnings.filterwarnings("ignore")
    import torch, time, threading
    from evaluators.kernel import guards
    actions = json.loads(sys.stdin.read())
    results = []
    for action in actions:  # each in a forked copy of this process: patches never leak
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            snapshot = guards.Snapshot.take()
            exec(action, {"torch": torch, "time": time, "threading": threading})
            os.write(write, repr(snapshot.changes()).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as fh:
            results.append(fh.read())
        os.waitpid(pid, 0)
    print(json.dumps(results))
""")


def _changes_of(actions: list[str]) -> list[str]:
    import json

    done = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(actions), capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


PATCHES = [
    ("torch.nn.functional.softmax = lambda *a, **k: None", "replaced or removed torch.nn.functional.softmax"),
    ("torch.cuda.synchronize = lambda *a: None", "torch.cuda.synchronize"),
    ("torch.Tensor.__eq__ = lambda a, b: True", "torch.Tensor.__eq__"),
    ("time.perf_counter = lambda: 0.0", "time.perf_counter"),
    ("import builtins\nbuiltins.isinstance = lambda a, b: True", "builtins.isinstance"),
    ("torch.cuda.Event.elapsed_time = lambda a, b: 0.001", "torch.cuda.Event.elapsed_time"),
    ("torch.backends.cuda.matmul.allow_tf32 = not torch.backends.cuda.matmul.allow_tf32", "allow_tf32"),
    ("torch.set_default_dtype(torch.float64)", "default_dtype"),
    ("lib = torch.library.Library('aten', 'IMPL')\nlib.impl('_softmax', lambda x, d, h: x, 'CPU')",
     "re-registered the operator aten::_softmax"),
    ("t = threading.Thread(target=time.sleep, args=(5,), daemon=True)\nt.start()", "started 1 thread"),
    ("from torch.overrides import TorchFunctionMode\nTorchFunctionMode().__enter__()", "torch function modes"),
]
HONEST = """
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU]):
    torch.ones(3) + 1
import triton
torch.manual_seed(3); torch.randn(4).softmax(0)
"""


@pytest.fixture(scope="module")
def reported() -> dict[str, str]:
    actions = [a for a, _ in PATCHES] + [HONEST]
    return dict(zip(actions, _changes_of(actions)))


@pytest.mark.parametrize("action, expected", PATCHES)
def test_a_patch_is_reported(reported, action, expected):
    assert expected in reported[action]


def test_torch_loading_its_own_subsystems_is_not_a_patch(reported):
    # The profiler imports torch._dynamo, which wraps torch.manual_seed from torch's own files.
    assert reported[HONEST] == "[]"
