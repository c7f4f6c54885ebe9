"""bench/openevolve_compat.py end to end on a fake OpenEvolve checkout and a fake venv.

The venv is a real one (`python -m venv --without-pip`) whose site-packages hold a stand-in
`openevolve` package written here: an `Evaluator` with OpenEvolve's calling convention that runs
the example's evaluator (cascade with thresholds, or `evaluate`) in its own process. One example
("skewed") is scored wrong on purpose by the stand-in, so the comparison must call it a mismatch;
one draws a random score, so OpenEvolve's own two runs differ. Configs are written as JSON,
which is also YAML, because the stand-in has no yaml package.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.openevolve_compare import Row, compare, within_spread

STAND_IN = {
    "__init__.py": '__version__ = "0.0-stand-in"\n',
    "config.py": '''
        import json
        from dataclasses import dataclass, field

        @dataclass
        class EvaluatorConfig:
            timeout: int = 300
            max_retries: int = 3
            cascade_evaluation: bool = True
            cascade_thresholds: list = field(default_factory=lambda: [0.5, 0.75, 0.9])
            use_llm_feedback: bool = False

        @dataclass
        class DatabaseConfig:
            feature_dimensions: list = field(default_factory=lambda: ["complexity", "diversity"])

        @dataclass
        class Config:
            evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
            database: DatabaseConfig = field(default_factory=DatabaseConfig)
            language: str = None
            file_suffix: str = ".py"

        def load_config(path):
            raw = json.load(open(path))
            return Config(evaluator=EvaluatorConfig(**raw.get("evaluator", {})))
        ''',
    "evaluator.py": '''
        import importlib.util, os, tempfile

        class Evaluator:
            def __init__(self, config, evaluation_file, suffix=".py"):
                self.config, self.suffix, self.pending = config, suffix, {}
                spec = importlib.util.spec_from_file_location("evaluation_module", evaluation_file)
                self.module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(self.module)
                self.skew = 2.0 if os.path.basename(os.path.dirname(evaluation_file)) == "skewed" else 1.0

            async def evaluate_program(self, code, program_id=""):
                with tempfile.NamedTemporaryFile("w", suffix=self.suffix, delete=False) as f:
                    f.write(code)
                try:
                    metrics = self._run(f.name)
                except Exception as exc:
                    self.pending[program_id] = {"failure_stage": "evaluation", "stderr": str(exc)}
                    return {"error": 0.0}
                if "combined_score" in metrics:
                    metrics["combined_score"] *= self.skew
                return metrics

            def _run(self, path):
                stages = [getattr(self.module, f"evaluate_stage{i}", None) for i in (1, 2, 3)]
                stages = [s for s in stages if s] if self.config.cascade_evaluation else []
                if not stages:
                    return dict(self.module.evaluate(path))
                merged = {}
                for index, stage in enumerate(stages):
                    merged.update(stage(path))
                    limits = self.config.cascade_thresholds
                    if index < len(limits) and merged.get("combined_score", 0.0) < limits[index]:
                        break
                return merged

            def get_pending_artifacts(self, program_id):
                return self.pending.pop(program_id, None)
        ''',
    "utils/__init__.py": "",
    "utils/metrics_utils.py": '''
        def get_fitness_score(metrics, feature_dimensions=None):
            if "combined_score" in metrics:
                return float(metrics["combined_score"])
            values = [float(v) for k, v in metrics.items() if k not in (feature_dimensions or [])
                      and isinstance(v, (int, float)) and not isinstance(v, bool)]
            return sum(values) / len(values) if values else 0.0
        ''',
}

PROGRAM = "# EVOLVE-BLOCK-START\ndef value():\n    return 3\n# EVOLVE-BLOCK-END\n"
LOAD = '''
import importlib.util
def _value(path):
    spec = importlib.util.spec_from_file_location("candidate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.value()
'''
DIRECT = LOAD + '''
def evaluate(program_path):
    value = _value(program_path)
    return {"combined_score": value / 4, "value": float(value), "note": "three"}
'''
# A package only the venv has: it must reach evoforge's evaluator too.
VENV_ONLY = "import venv_only_dep\n" + DIRECT.replace("value / 4", "value / venv_only_dep.DIVISOR")
# Which openevolve the evaluator sees: the venv's stand-in, or (evoforge, by default) not that one.
SEES_STAND_IN = '''
def evaluate(program_path):
    try:
        import openevolve
        seen = 1.0 if getattr(openevolve, "__version__", "") == "0.0-stand-in" else 0.0
    except ImportError:
        seen = 0.0
    return {"combined_score": 1.0, "sees_stand_in": seen}
'''
EXAMPLES = {
    "plain": ({"evaluator": {"timeout": 60, "cascade_evaluation": False}}, VENV_ONLY),
    "which_openevolve": ({"evaluator": {"timeout": 60, "cascade_evaluation": False}}, SEES_STAND_IN),
    "skewed": ({"evaluator": {"timeout": 60, "cascade_evaluation": False}}, DIRECT),
    "group/cascade": ({"evaluator": {"timeout": 60, "cascade_thresholds": [0.5]}}, LOAD + '''
def evaluate_stage1(program_path):
    return {"combined_score": 0.6, "runs": 1.0}

def evaluate_stage2(program_path):
    return {"combined_score": _value(program_path) / 5, "runs": 1.0, "value": float(_value(program_path))}

def evaluate(program_path):
    return evaluate_stage2(program_path)
'''),
    "noisy": ({"evaluator": {"timeout": 60, "cascade_evaluation": False}}, '''
import random
def evaluate(program_path):
    return {"combined_score": random.random()}
'''),
    "gpu_only": ({"evaluator": {"timeout": 60}}, "import mlx.core\n" + DIRECT),
    "needs_dep": ({"evaluator": {"timeout": 60}}, "import surely_absent_module_xyz\n" + DIRECT),
}


@pytest.fixture(scope="module")
def fake_setup(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("oe")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    for name, text in STAND_IN.items():
        path = Path(site) / "openevolve" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (Path(site) / "venv_only_dep.py").write_text("DIVISOR = 4\n")
    checkout = root / "openevolve"
    for name, (config, evaluator) in EXAMPLES.items():
        folder = checkout / "examples" / name
        folder.mkdir(parents=True)
        (folder / "config.yaml").write_text(json.dumps(config))
        (folder / "evaluator.py").write_text(evaluator)
        (folder / "initial_program.py").write_text(PROGRAM)
    (checkout / "examples" / "notes").mkdir()
    (checkout / "examples" / "notes" / "eval.py").write_text("def score(x):\n    return x\n")
    return checkout, venv


def test_scores_each_example_both_ways_and_says_where_they_differ(fake_setup, tmp_path):
    checkout, venv = fake_setup
    out = tmp_path / "results" / "compat.md"
    done = subprocess.run([sys.executable, "-m", "bench.openevolve_compat", str(checkout), str(venv), "--out", str(out),
                           "--timeout", "60", "--sandbox", "process"],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.with_suffix(".json").read_text())
    rows = {row["example"]: row for row in record["rows"]}
    assert set(rows) == {*EXAMPLES, "notes"}

    for name in ("plain", "group/cascade"):
        assert rows[name]["match"] == "yes", rows[name]
    assert rows["plain"]["openevolve"]["fitness"] == rows["plain"]["evoforge"]["fitness"] == 0.75
    assert rows["plain"]["evoforge"]["metrics"] == {"combined_score": 0.75, "value": 3.0}
    assert rows["group/cascade"]["evoforge"]["fitness"] == pytest.approx(0.6)
    assert rows["group/cascade"]["evoforge"]["metrics"]["value"] == 3.0

    skewed = rows["skewed"]
    assert skewed["match"] == "no"
    assert skewed["openevolve"]["fitness"] == 1.5 and skewed["evoforge"]["fitness"] == 0.75
    assert "fitness 1.5 vs 0.75" in skewed["reason"] and "combined_score 1.5 vs 0.75" in skewed["reason"]

    noisy = rows["noisy"]
    assert noisy["match"] == "stochastic", noisy
    assert noisy["openevolve"]["rerun_fitness"] is not None
    assert "OpenEvolve's own two runs" in noisy["reason"]

    assert rows["gpu_only"]["match"] == "not run" and "GPU" in rows["gpu_only"]["reason"]
    assert rows["needs_dep"]["match"] == "not run"
    assert "missing dependency: surely_absent_module_xyz" in rows["needs_dep"]["reason"]
    assert rows["notes"]["match"] == "not run" and "no evaluator.py" in rows["notes"]["reason"]

    hidden = rows["which_openevolve"]  # evoforge's evaluator does not see the venv's openevolve
    assert hidden["match"] == "no" and hidden["reason"] == "sees_stand_in 1 vs 0"

    assert record["summary"] == {"examples": 8, "ran": 5, "yes": 2, "stochastic": 1, "no": 2, "both failed": 0,
                                 "not run": 3}
    table = out.read_text()
    assert "| skewed | 1.5 / 1.5 |" in table and "0.0-stand-in" in table  # scored twice: a steady 1.5
    assert "matched: 2" in table and "mismatched: 2" in table


def test_a_missing_venv_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "examples").mkdir()
    done = subprocess.run([sys.executable, "-m", "bench.openevolve_compat", str(tmp_path), str(tmp_path / "nope")],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2
    expected = f"error: {tmp_path / 'nope'}: not a virtual environment (no bin/python)"
    assert done.stderr.strip().splitlines() == [expected]


def _oe(metrics: dict, fitness: float | None = None, **extra) -> dict:
    fit = metrics.get("combined_score") if fitness is None else fitness
    return {"ok": True, "metrics": metrics, "artifacts": {}, "fitness": fit, **extra}


def _ef(metrics: dict, status: str = "correct", error: str | None = None) -> dict:
    return {"status": status, "fitness": metrics.get("combined_score") if status == "correct" else None,
            "metrics": metrics, "error": error}


def test_a_metric_only_one_side_has_is_a_mismatch_even_with_the_same_fitness():
    row = compare("x", _oe({"combined_score": 0.5, "runs_successfully": 1.0}), _ef({"combined_score": 0.5}))
    assert row.match == "no" and "only OpenEvolve has runs_successfully" in row.reason


def test_metrics_that_move_between_openevolve_runs_or_are_timings_do_not_spoil_a_match():
    first = _oe({"combined_score": 0.5, "sampled": 0.010})
    again = _oe({"combined_score": 0.5, "sampled": 0.013})
    ours = _ef({"combined_score": 0.5, "sampled": 0.020})
    assert compare("x", first, ours).match == "no"  # before the second run: a difference
    row = compare("x", first, ours, rerun=again)
    assert row.match == "yes" and "sampled" in row.reason
    steady = compare("x", first, _ef({"combined_score": 0.25, "sampled": 0.010}), rerun=again)
    assert steady.match == "no" and "fitness 0.5 vs 0.25" in steady.reason
    clocked = _oe({"combined_score": 0.5, "eval_time": 0.01})  # a coarse clock: the same value twice
    timed = compare("x", clocked, _ef({"combined_score": 0.5, "eval_time": 0.02}), rerun=clocked)
    assert timed.match == "yes" and "timings differ" in timed.reason and "eval_time" in timed.reason


def test_stochastic_rows_say_whether_evoforge_lies_within_openevolves_spread():
    row = compare("x", _oe({"combined_score": 0.50, "correct": 1.0}), _ef({"combined_score": 0.56, "correct": 1.0}),
                  rerun=_oe({"combined_score": 0.54, "correct": 1.0}))
    assert row.match == "stochastic" and within_spread(row) is True
    assert "the 1 metric OpenEvolve reproduces agrees" in row.reason
    off = compare("x", _oe({"combined_score": 0.50, "correct": 1.0}), _ef({"combined_score": 0.56, "correct": 0.0}),
                  rerun=_oe({"combined_score": 0.54, "correct": 1.0}))
    assert off.match == "no" and off.reason.startswith("differ where OpenEvolve's two runs agree: correct 1 vs 0")
    far = compare("x", _oe({"combined_score": 0.50}), _ef({"combined_score": 0.9}), rerun=_oe({"combined_score": 0.54}))
    assert far.match == "stochastic" and within_spread(far) is False


def test_failures_are_told_apart_by_side():
    failed = _oe({"error": 0.0}, fitness=0.0, artifacts={"failure_stage": "evaluation", "stderr": "No module named x"})
    both = compare("x", failed, _ef({}, status="error", error="the evaluator raised ModuleNotFoundError"))
    assert both.match == "both failed" and "No module named x" in both.reason and "ModuleNotFoundError" in both.reason
    assert both.openevolve["fitness"] is None  # OpenEvolve's 0.0 for a failure is not a score
    ours_only = compare("x", _oe({"combined_score": 0.5}), _ef({}, status="wrong", error="no combined_score"))
    assert ours_only.match == "no" and "evoforge: wrong: no combined_score" in ours_only.reason
    assert isinstance(ours_only, Row)


def test_an_error_text_that_only_evoforge_rejects_is_named_as_the_cause():
    oe = _oe({"runs_successfully": 0.0}, fitness=0.0, artifacts={"error": "'image'"})
    row = compare("x", oe, _ef({"runs_successfully": 0.0}, status="wrong", error="'image'"))
    assert row.match == "no"
    assert "evoforge marks the program wrong ('image')" in row.reason and "artifact ('image')" in row.reason
    assert row.openevolve["fitness"] == 0.0


def test_metric_names_that_move_between_openevolve_runs_make_a_stochastic_row():
    # a random stage 1 decides whether stage 2 runs: its metrics come and go from run to run
    first = _oe({"combined_score": 1.27, "value": 0.9})
    again = _oe({"combined_score": 1.40, "value": 0.8, "reliability": 1.0})
    ours = _ef({"combined_score": 1.06, "value": 0.7, "reliability": 1.0})
    row = compare("x", first, ours, rerun=again)
    assert row.match == "stochastic" and "different metric names" in row.reason
    assert "only evoforge has reliability" in row.reason
    steady = compare("x", first, ours, rerun=_oe({"combined_score": 1.40, "value": 0.8}))
    assert steady.match == "no" and steady.reason.startswith("only evoforge has reliability")


def _folder(root: Path, name: str, evaluator: str, files: dict[str, str] | None = None) -> Path:
    folder = root / "examples" / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("{}")
    (folder / "evaluator.py").write_text(evaluator)
    (folder / "initial_program.py").write_text(PROGRAM)
    for file, text in (files or {}).items():
        (folder / file).write_text(text)
    return folder


def test_why_an_example_cannot_run_comes_from_what_its_files_import(tmp_path):
    from bench.openevolve_examples import find_examples, why_not_runnable

    _folder(tmp_path, "llm", "import json\nfrom openai import OpenAI\n")
    _folder(tmp_path, "judge", "import subprocess\ndef evaluate(p):\n    subprocess.run(['python', 'submit.py'])\n",
            {"submit.py": "import requests\n"})
    _folder(tmp_path, "helper", "from helper_module import f\n", {"helper_module.py": "import surely_absent_xyz\n"})
    _folder(tmp_path, "optional", "try:\n    import surely_absent_xyz\nexcept ImportError:\n    pass\n")
    _folder(tmp_path, "fine", "import os, sys, math\n")
    examples = {e.name: e for e in find_examples(tmp_path)}
    reasons = {name: why_not_runnable(e, sys.executable) for name, e in examples.items()}
    assert reasons == {
        "llm": "needs an LLM (imports openai)",
        "judge": "needs the network: web requests (imports requests)",
        "helper": "missing dependency: surely_absent_xyz (not importable in the venv)",
        "optional": "",
        "fine": "",
    }
