"""The example program tasks in tasks/: configs load, evaluators score honestly and reject cheats."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from agent.config import TaskConfig, load_task

TASKS = Path(__file__).resolve().parents[2] / "tasks"
TASK_NAMES = ("tsp_anneal", "circle_packing")
SUMMARY_METRICS = {"tsp_anneal": ("mean_length",), "circle_packing": ("sum_radii",)}


def _load_evaluator(task: str) -> ModuleType:
    path = TASKS / task / "evaluator.py"
    spec = importlib.util.spec_from_file_location(f"_example_evaluator_{task}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tsp() -> ModuleType:
    return _load_evaluator("tsp_anneal")


@pytest.fixture(scope="module")
def circles() -> ModuleType:
    return _load_evaluator("circle_packing")


def _program(tmp_path: Path, body: str, name: str = "candidate.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def _printing(tmp_path: Path, answer: object, extra: str = "") -> str:
    """A candidate that prints `answer` as its JSON line (then `extra` lines, if any)."""
    text = json.dumps(answer)
    return _program(tmp_path, f"import sys\nsys.stdout.write({text!r} + '\\n')\n{extra}")


# ---------------------------------------------------------------- task files


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_yaml_validates(name: str) -> None:
    task = load_task(TASKS / name / "task.yaml")
    assert task.name == name
    assert task.kind == "program"
    assert task.program == TASKS / name / "initial.py"
    assert task.evaluator == TASKS / name / "evaluator.py"
    assert task.budget.evaluations == 40
    assert task.search.strategy == "pq"  # the README's recommended default
    assert task.llm.models == ()  # the built-in tuner runs without an API key
    assert len(task.description) > 200
    assert task.summary_metrics == SUMMARY_METRICS[name]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_summary_metrics_are_reported_by_the_evaluator(name: str) -> None:
    result = _load_evaluator(name).evaluate(str(TASKS / name / "initial.py"))
    assert not result.get("error"), result
    for metric in load_task(TASKS / name / "task.yaml").summary_metrics:
        assert isinstance(result[metric], float) and math.isfinite(result[metric])


@pytest.mark.parametrize("name", TASK_NAMES)
def test_commented_llm_example_validates(name: str) -> None:
    text = (TASKS / name / "task.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("# llm:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(re.sub(r"^# ?", "", line))
    raw = yaml.safe_load(text)
    raw.update(yaml.safe_load("\n".join(block)))
    raw["task_dir"] = TASKS / name
    task = TaskConfig.model_validate(raw)
    assert task.llm.models


@pytest.mark.parametrize("name", TASK_NAMES)
def test_initial_program_has_markers_and_tunables(name: str) -> None:
    source = (TASKS / name / "initial.py").read_text(encoding="utf-8")
    assert source.count("# EVOLVE-BLOCK-START") == 1
    assert source.count("# EVOLVE-BLOCK-END") == 1
    start, end = source.index("# EVOLVE-BLOCK-START"), source.index("# EVOLVE-BLOCK-END")
    marked = [m.start() for m in re.finditer(r"# evoforge: tune ", source)]
    assert len(marked) >= 4
    assert all(start < pos < end for pos in marked)


# ---------------------------------------------------------------- tsp_anneal


def test_tsp_initial_program_scores_about_one(tsp: ModuleType) -> None:
    result = tsp.evaluate(str(TASKS / "tsp_anneal" / "initial.py"))
    assert not result.get("error"), result
    assert 0.9 < result["combined_score"] < 1.1
    for key in ("mean_length", "best_length", "mean_gap_percent", "cpu_s", "wall_s"):
        assert isinstance(result[key], float) and math.isfinite(result[key])
    assert 0 < result["cpu_s"] < tsp.CPU_ALLOWANCE_S
    assert "instance 1" in result["summary"] and "s of CPU per run" in result["summary"]


def test_tsp_initial_quality_is_stable(tsp: ModuleType) -> None:
    # The solver is seeded and the score counts CPU time, far below the allowance: two
    # evaluations give the same tour lengths and the same score, whatever the machine's load.
    first = tsp.evaluate(str(TASKS / "tsp_anneal" / "initial.py"))
    second = tsp.evaluate(str(TASKS / "tsp_anneal" / "initial.py"))
    assert first["mean_length"] == second["mean_length"]
    assert first["combined_score"] == second["combined_score"]
    assert first["mean_length"] == pytest.approx(sum(tsp.REFERENCE_LENGTHS.values()) / 3, abs=0.1)


def _initial_with(prelude_of_print: str) -> str:
    """The TSP initial program with a statement run just before it prints its tour."""
    source = (TASKS / "tsp_anneal" / "initial.py").read_text(encoding="utf-8")
    marker = '    print(json.dumps({"tour"'
    assert source.count(marker) == 1
    return source.replace(marker, f"    {prelude_of_print}\n{marker}")


def test_tsp_score_ignores_wall_clock_time(tsp: ModuleType, tmp_path: Path) -> None:
    # What a loaded machine does to a run: more wall-clock time for the same CPU work.
    reference = tsp.evaluate(str(TASKS / "tsp_anneal" / "initial.py"))
    slow = _program(tmp_path, _initial_with(f"__import__('time').sleep({tsp.CPU_ALLOWANCE_S + 0.5})"))
    result = tsp.evaluate(slow)
    assert not result.get("error"), result
    assert result["wall_s"] > tsp.CPU_ALLOWANCE_S
    assert result["combined_score"] == reference["combined_score"]


def test_tsp_cpu_over_the_allowance_scales_the_score(tsp: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsp, "CPU_ALLOWANCE_S", 0.01)
    result = tsp.evaluate(str(TASKS / "tsp_anneal" / "initial.py"))
    quality = sum(tsp.REFERENCE_LENGTHS[i] / length for i, length in _lengths(tsp, result).items()) / 3
    assert result["combined_score"] == pytest.approx(quality * 0.01 / result["cpu_s"], rel=1e-4)  # lengths: 0.1
    assert "over the 0.01 s allowance" in result["summary"]


def _lengths(tsp: ModuleType, result: dict) -> dict[int, float]:
    """Per-instance tour lengths as the evaluator's summary states them."""
    found = re.findall(r"instance (\d+): length ([\d.]+)", result["summary"])
    assert len(found) == len(tsp.RUNS)
    return {int(i): float(length) for i, length in found}


def test_tsp_cpu_limit_stops_a_busy_program(tsp: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsp, "CPU_LIMIT_S", 1)
    result = tsp.evaluate(_program(tmp_path, "while True:\n    pass\n"))
    assert result["combined_score"] == 0.0
    assert "used more than the limit of 1 s of CPU time" in result["error"]


def test_tsp_broken_program_is_rejected(tsp: ModuleType, tmp_path: Path) -> None:
    result = tsp.evaluate(_program(tmp_path, "raise RuntimeError('solver exploded')\n"))
    assert result["combined_score"] == 0.0
    assert "exited with status 1" in result["error"]
    assert "solver exploded" in result["error"]


@pytest.mark.parametrize(
    ("tour", "reason"),
    [
        ([0] + list(range(79)), "not a permutation: city 0 repeats"),
        (list(range(79)), "tour has 79 entries, expected 80"),
        (list(range(79)) + [80], "out of range"),
        (list(range(79)) + [79.0], "not an integer"),
        ("0 1 2", "must be a list"),
    ],
)
def test_tsp_invalid_tour_is_rejected(tsp: ModuleType, tmp_path: Path, tour: object, reason: str) -> None:
    result = tsp.evaluate(_printing(tmp_path, {"tour": tour}))
    assert result["combined_score"] == 0.0
    assert reason in result["error"]


def test_tsp_forged_metrics_do_not_count(tsp: ModuleType, tmp_path: Path) -> None:
    # A valid (identity) tour plus self-reported numbers: only the recomputed length counts.
    forged = {"tour": list(range(80)), "combined_score": 100.0, "length": 1.0, "mean_length": 1.0}
    result = tsp.evaluate(_printing(tmp_path, forged))
    assert not result.get("error"), result
    expected = [tsp.tour_length(list(range(80)), tsp.make_cities(i)) for i, _ in tsp.RUNS]
    assert result["mean_length"] == pytest.approx(sum(expected) / len(expected))
    assert result["combined_score"] < 0.5  # the identity tour is far worse than annealing
    # A trailing non-JSON "score" line makes the answer unreadable rather than better.
    result = tsp.evaluate(_printing(tmp_path, forged, "print('combined_score: 100')\n"))
    assert result["combined_score"] == 0.0 and "not JSON" in result["error"]


def test_tsp_slow_program_times_out(tsp: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tsp, "RUN_TIMEOUT_S", 0.5)
    result = tsp.evaluate(_program(tmp_path, "import time\ntime.sleep(30)\n"))
    assert result["combined_score"] == 0.0
    assert "did not finish within 0.5 s of wall-clock time" in result["error"]


def test_tsp_program_runs_in_a_private_folder(tsp: ModuleType, tmp_path: Path) -> None:
    # The candidate's working folder is a fresh temporary one, not the program's folder.
    program = _program(
        tmp_path,
        """
        import json, os, sys
        assert os.path.abspath(os.getcwd()) != os.path.dirname(os.path.abspath(sys.argv[0]))
        print(json.dumps({"tour": list(range(80))}))
        """,
    )
    assert not tsp.evaluate(program).get("error")


# ---------------------------------------------------------------- circle_packing


def _valid_packing() -> dict:
    """A simple valid packing: a 6 x 5 grid of equal circles, first 26 cells."""
    r = 0.5 / 6
    centers = [[(2 * c + 1) * r, (2 * row + 1) * r] for row in range(5) for c in range(6)][:26]
    return {"centers": centers, "radii": [r] * 26}


def test_circles_initial_program_is_valid(circles: ModuleType) -> None:
    result = circles.evaluate(str(TASKS / "circle_packing" / "initial.py"))
    assert not result.get("error"), result
    assert result["combined_score"] > 0.5
    assert result["combined_score"] == pytest.approx(result["sum_radii"] / 2.635)
    assert "sum of radii" in result["summary"]
    assert 0 < result["cpu_s"] < circles.CPU_LIMIT_S and result["wall_s"] > 0
    again = circles.evaluate(str(TASKS / "circle_packing" / "initial.py"))
    assert again["sum_radii"] == result["sum_radii"]  # a construction: the same packing every time


def test_circles_cpu_limit_stops_a_busy_program(
    circles: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(circles, "CPU_LIMIT_S", 1)
    result = circles.evaluate(_program(tmp_path, "while True:\n    pass\n"))
    assert result["combined_score"] == 0.0
    assert "used more than the limit of 1 s of CPU time" in result["error"]


def test_circles_valid_packing_scores_its_sum(circles: ModuleType, tmp_path: Path) -> None:
    packing = _valid_packing()
    result = circles.evaluate(_printing(tmp_path, packing))
    assert not result.get("error"), result
    assert result["sum_radii"] == pytest.approx(26 * 0.5 / 6)


def test_circles_broken_program_is_rejected(circles: ModuleType, tmp_path: Path) -> None:
    result = circles.evaluate(_program(tmp_path, "import sys\nsys.exit('no packing today')\n"))
    assert result["combined_score"] == 0.0
    assert "exited with status 1" in result["error"] and "no packing today" in result["error"]


def _overlapping() -> dict:
    p = _valid_packing()
    p["centers"][1] = [p["centers"][0][0] + 0.1, p["centers"][0][1]]  # 0.1 apart, radii sum 1/6
    return p


def _outside() -> dict:
    p = _valid_packing()
    p["centers"][5] = [0.95, p["centers"][5][1]]  # radius 1/12 sticks out past x = 1
    return p


def _with(key: str, index: int, value: object) -> dict:
    p = _valid_packing()
    p[key][index] = value
    return p


@pytest.mark.parametrize(
    ("packing", "reasons"),
    [
        (_overlapping(), ["overlap", "circles 0 and 1", "overlap by 0.0667"]),
        (_outside(), ["outside the unit square", "circle 5", "right edge x=1", "by 0.0333"]),
        (_with("radii", 3, float("nan")), ["radii[3]", "not finite"]),
        (_with("centers", 2, [float("inf"), 0.5]), ["centers[2][0]", "not finite"]),
        (_with("radii", 4, -0.01), ["radii[4]", "negative"]),
        (_with("radii", 4, "0.1"), ["radii[4]", "not a number"]),
        ({"centers": _valid_packing()["centers"][:25], "radii": [0.05] * 25}, ["expected 26 centers, got 25"]),
        ({"centers": _valid_packing()["centers"], "radii": [0.05] * 27}, ["expected 26 radii, got 27"]),
        ({"radii": [0.05] * 26}, ['no "centers" key']),
        (_with("centers", 0, [0.1, 0.1, 0.1]), ["centers[0]", "not a pair"]),
    ],
)
def test_circles_invalid_packing_is_rejected(
    circles: ModuleType, tmp_path: Path, packing: dict, reasons: list[str]
) -> None:
    result = circles.evaluate(_printing(tmp_path, packing))
    assert result["combined_score"] == 0.0
    for reason in reasons:
        assert reason in result["error"], result["error"]


def test_circles_tolerance_is_tiny(circles: ModuleType, tmp_path: Path) -> None:
    p = _valid_packing()
    p["radii"][0] += 1e-12  # within 1e-9: accepted
    assert not circles.evaluate(_printing(tmp_path, p)).get("error")
    p["radii"][0] += 1e-7  # beyond it: rejected (circle 0 touches both walls and circle 1)
    result = circles.evaluate(_printing(tmp_path, p))
    assert result["combined_score"] == 0.0 and "circle 0" in result["error"]


def test_circles_forged_score_does_not_count(circles: ModuleType, tmp_path: Path) -> None:
    honest = circles.evaluate(_printing(tmp_path, _valid_packing()))
    forged = {**_valid_packing(), "sum_radii": 99.0, "combined_score": 99.0}
    # An earlier line with a big fake packing and a last line with forged numbers.
    fake_first = json.dumps({"centers": [[0.5, 0.5]] * 26, "radii": [5.0] * 26})
    result = circles.evaluate(_program(tmp_path, f"print({fake_first!r})\nprint({json.dumps(forged)!r})\n"))
    assert not result.get("error"), result
    assert result["combined_score"] == pytest.approx(honest["combined_score"])
    assert result["sum_radii"] == pytest.approx(26 * 0.5 / 6)
    # A final non-JSON line claiming a score is not an answer at all.
    result = circles.evaluate(_printing(tmp_path, forged, "print('combined_score: 99')\n"))
    assert result["combined_score"] == 0.0 and "not JSON" in result["error"]


# ---------------------------------------------------------------- the demo, end to end


def test_tsp_demo_summary_shows_the_tour_length(tsp: ModuleType, tmp_path: Path) -> None:
    from archives.records import Status
    from archives.store import Store
    from tests.e2e.helpers import only_run, run_agent

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    done = run_agent("evolve", str(TASKS / "tsp_anneal" / "task.yaml"), "--evaluations", "3", "--store", url,
                     cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    initial = sum(tsp.REFERENCE_LENGTHS.values()) / len(tsp.REFERENCE_LENGTHS)
    row = next(line for line in done.stderr.splitlines() if "mean_length" in line)
    assert f"initial {initial:.6g} -> best " in row
    run = only_run(url).run
    assert run.config["summary_metrics"] == ["mean_length"]  # stored with the run
    with Store(url) as store:
        assert {p.status for p in store.programs(run.id)} <= {Status.CORRECT, Status.DUPLICATE}
