"""The built-in tuner: finding tunables (markers, declarations), errors, and mutation."""

from __future__ import annotations

import random

import pytest

from agent.config import Tunable
from agent.tuner import Tuner, TunerError, find_tunables, has_tunables

PY = """\
import math

BLOCK = 64  # evoforge: tune choices=[16, 32, 64, 128]
T0 = 100.0  # evoforge: tune low=0.1 high=10000 log
ITERS = 20  # evoforge: tune low=1 high=200 int


def run():
    return BLOCK * T0 * ITERS
"""

CUDA = """\
#define BLOCK 64 // evoforge: tune choices=[16, 32, 64]
const int WARPS = 4; // evoforge: tune low=1 high=16 int
constexpr float ALPHA = 1.5f; // evoforge: tune low=0.5 high=8 log
__global__ void k(float* x) { x[threadIdx.x] *= ALPHA; }
"""


def test_markers_in_all_three_forms_are_found_with_their_specs():
    sites = find_tunables(PY, {})
    assert list(sites) == ["BLOCK", "T0", "ITERS"]
    assert sites["BLOCK"].spec.choices == (16, 32, 64, 128) and sites["BLOCK"].value == 64
    t0 = sites["T0"]
    assert (t0.spec.low, t0.spec.high, t0.spec.log, t0.value, t0.line) == (0.1, 10000.0, True, 100.0, 4)
    assert PY[t0.start:t0.end] == "100.0"
    assert sites["ITERS"].spec.integer and sites["ITERS"].value == 20


def test_double_slash_markers_work_for_c_and_cuda_sources():
    sites = find_tunables(CUDA, {})
    assert {n: s.text for n, s in sites.items()} == {"BLOCK": "64", "WARPS": "4", "ALPHA": "1.5f"}
    assert sites["WARPS"].spec.integer and sites["ALPHA"].spec.log


def test_declared_tunables_are_found_by_their_assignment():
    source = 'MODE = "fast"\nSCALE: float = 0.5\ndef f():\n    return SCALE\n'
    declared = {"MODE": Tunable(choices=["fast", "slow"]), "SCALE": Tunable(low=0.1, high=1.0)}
    sites = find_tunables(source, declared)
    assert sites["MODE"].text == '"fast"' and sites["MODE"].value == "fast"
    assert sites["SCALE"].value == 0.5 and sites["SCALE"].line == 2
    assert has_tunables(source, declared) and not has_tunables("x = 1\n", {})


def test_a_declared_name_the_source_does_not_assign_is_an_error_naming_it():
    with pytest.raises(TunerError, match="'WIDTH' is declared"):
        find_tunables(PY, {"WIDTH": Tunable(low=1, high=4)})
    with pytest.raises(TunerError, match="'WIDTH'"):
        has_tunables("WIDTH == 3\n", {"WIDTH": Tunable(low=1, high=4)})


@pytest.mark.parametrize(
    "line, message",
    [
        ("X = 3  # evoforge: tune low=1 hi=9", "unknown tune option 'hi=9'"),
        ("X = 3  # evoforge: tune low=9 high=1", "low must be below high"),
        ("X = 3  # evoforge: tune low=1", "give either choices or both low and high"),
        ("X = 3  # evoforge: tune choices=[1, 2", "unknown tune option"),
        ("X = 3  # evoforge: tune low=a high=2", "low must be a number"),
        ("print(3)  # evoforge: tune low=1 high=2", "needs `NAME = literal`"),
        ('X = "a"  # evoforge: tune low=1 high=2', "needs choices"),
    ],
)
def test_a_bad_marker_is_an_error_naming_its_line(line, message):
    with pytest.raises(TunerError, match=f"^line 2: .*{message}".replace("(", r"\(").replace("[", r"\[")):
        find_tunables("import os\n" + line + "\n", {})


def test_mutation_stays_in_range_and_choices_and_keeps_types():
    tuner = Tuner({}, random.Random(0))
    for _ in range(300):
        edit = tuner.propose(PY)
        sites = find_tunables(edit.source, {})
        assert sites["BLOCK"].value in (16, 32, 64, 128) and isinstance(sites["BLOCK"].value, int)
        assert 0.1 <= sites["T0"].value <= 10000 and isinstance(sites["T0"].value, float)
        assert 1 <= sites["ITERS"].value <= 200 and isinstance(sites["ITERS"].value, int)
        assert 1 <= len(edit.changes) <= 2
        for name, (old, new) in edit.changes.items():
            assert old != new and type(old) is type(new) and f"{name}: " in edit.description


def test_mutation_of_c_literals_keeps_suffixes():
    tuner = Tuner({}, random.Random(1))
    seen = set()
    for _ in range(100):
        edit = tuner.propose(CUDA)
        sites = find_tunables(edit.source, {})
        assert sites["ALPHA"].text.endswith("f") and 0.5 <= sites["ALPHA"].value <= 8
        assert "." in sites["ALPHA"].text and "." not in sites["WARPS"].text
        seen.update(edit.changes)
    assert seen == {"BLOCK", "WARPS", "ALPHA"}


def test_the_tuner_never_returns_the_parent_unchanged():
    tiny = "N = 1  # evoforge: tune low=1 high=2 int\nMODE = 'a'  # evoforge: tune choices=['a', 'b']\n"
    tuner = Tuner({}, random.Random(2))
    source, modes = tiny, set()
    for _ in range(100):
        edit = tuner.propose(source)
        assert edit is not None and edit.source != source
        source = edit.source
        modes.add(find_tunables(source, {})["MODE"].text)
    assert modes == {"'a'", "'b'"}  # the quote style is kept
    assert Tuner({}, random.Random(0)).propose("x = 1\n") is None
    assert Tuner({}, random.Random(0)).propose("N = 1  # evoforge: tune choices=[1]\n") is None


def test_the_tuner_is_deterministic_with_a_seed():
    def run(seed):
        tuner, source, out = Tuner({}, random.Random(seed)), PY, []
        for _ in range(20):
            edit = tuner.propose(source)
            source = edit.source
            out.append(edit.description)
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_a_parent_with_a_broken_marker_is_still_tuned_on_its_other_constants():
    broken = PY.replace("low=1 high=200 int", "low=1 hgh=200")
    with pytest.raises(TunerError, match="line 5"):
        find_tunables(broken, {})
    edit = Tuner({}, random.Random(0)).propose(broken)
    assert edit is not None and "ITERS" not in edit.changes
