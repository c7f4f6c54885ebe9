"""A user migrating from OpenEvolve: `agent new-task --from-openevolve`, then `agent check`.

Configs, evaluators and programs are written by the tests in OpenEvolve's layout
(config.yaml, initial_program.py, evaluator.py side by side).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.config import load_task
from tests.e2e.helpers import run_agent

CONFIG = """\
max_iterations: 7
checkpoint_interval: 5
language: python
random_seed: 11
diff_based_evolution: false
llm:
  primary_model: "small-model"
  primary_model_weight: 0.8
  secondary_model: "big-model"
  api_base: "http://127.0.0.1:9/v1"
  api_key: "${MY_LLM_KEY}"
  temperature: 0.4
  max_tokens: 2048
  top_p: 0.9
prompt:
  system_message: |
    You are an expert.
    Make the number big.
  num_top_programs: 2
  num_diverse_programs: 1
database:
  num_islands: 3
  migration_interval: 12
  feature_dimensions: ["spread", "complexity"]
  feature_bins: {spread: 4}
  population_size: 40
evaluator:
  timout: 5
  timeout: 45
  cascade_evaluation: true
  cascade_thresholds: [0.3]
  parallel_evaluations: 2
"""

EVALUATOR = '''\
import importlib.util


def _value(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return float(module.VALUE)


def evaluate_stage1(program_path):
    value = _value(program_path)
    return {"runs_successfully": 1.0, "combined_score": min(1.0, value / 10), "spread": value / 2}


def evaluate_stage2(program_path):
    value = _value(program_path)
    return {"combined_score": value / 10, "spread": value / 2, "detail": "stage two ran"}


def evaluate(program_path):
    return evaluate_stage2(program_path)
'''


def _openevolve_folder(tmp_path: Path, config: str = CONFIG, program: str = "VALUE = 5\n") -> Path:
    folder = tmp_path / "example"
    folder.mkdir()
    (folder / "config.yaml").write_text(config)
    (folder / "evaluator.py").write_text(EVALUATOR)
    (folder / "initial_program.py").write_text(program)
    return folder


def test_imported_config_carries_its_settings_names_the_rest_and_checks(tmp_path):
    folder = _openevolve_folder(tmp_path)
    done = run_agent("new-task", "--from-openevolve", str(folder / "config.yaml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    skipped = [ln for ln in lines if ln.startswith("not carried over: ")]
    assert any(ln.startswith("not carried over: evaluator.timout: ") and "did you mean timeout?" in ln
               for ln in skipped), skipped
    for key in ("checkpoint_interval", "llm.top_p", "database.population_size"):
        assert any(ln.startswith(f"not carried over: {key}: ") for ln in skipped), (key, skipped)
    assert not any("MY_LLM_KEY" in ln for ln in skipped)

    task = load_task(folder / "task.yaml")
    assert task.program == folder / "initial_program.py" and task.evaluator == folder / "evaluator.py"
    assert task.budget.evaluations == 8
    assert task.evaluate.timeout_seconds == 45 and task.evaluate.workers == 2
    assert task.evaluate.cascade_thresholds == (0.3,) and task.evaluate.cascade_evaluation is True
    assert [(m.name, m.weight, m.api_base, m.api_key_env) for m in task.llm.models] == [
        ("openai/small-model", 0.8, "http://127.0.0.1:9/v1", "MY_LLM_KEY"),
        ("openai/big-model", 0.2, "http://127.0.0.1:9/v1", "MY_LLM_KEY"),
    ]
    assert task.llm.temperature == 0.4 and task.llm.max_tokens == 2048 and task.llm.edit_format == "full"
    assert task.prompt.system == "You are an expert.\nMake the number big.\n"
    grid = task.search.map_elites
    assert task.search.strategy == "map_elites" and task.search.seed == 11
    assert (grid.islands, grid.migration_interval, grid.inspirations) == (3, 12, 3)
    assert [(d.name, d.bins) for d in grid.descriptors] == [("spread", 4), ("lines", 10)]

    check = run_agent("check", str(folder / "task.yaml"), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    out = check.stdout
    assert "status: correct" in out and "fitness: 0.5" in out
    assert "runs_successfully" in out  # stage 1's metrics survive stage 2 (merged as OpenEvolve does)
    assert "stage two ran" in out  # text results are the feedback
    stage_lines = [ln.split() for ln in out.splitlines() if ln.strip().startswith(("evaluate_stage1", "evaluate_stage2"))]
    assert [s[:2] for s in stage_lines] == [["evaluate_stage1", "ok"], ["evaluate_stage2", "ok"]], out


def test_program_and_evaluator_options_and_out_folder(tmp_path):
    folder = _openevolve_folder(tmp_path, config="evaluator: {timeout: 30}\n")
    (folder / "initial_program.py").unlink()
    (folder / "evaluator.py").rename(folder / "judge.py")
    (folder / "mine.py").write_text("VALUE = 20\n")
    done = run_agent("new-task", "--from-openevolve", str(folder / "config.yaml"), "--program", str(folder / "mine.py"),
                     "--evaluator", str(folder / "judge.py"), "--out", "made", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    task = load_task(tmp_path / "made" / "task.yaml")
    assert task.program.resolve() == folder / "mine.py" and task.evaluator.resolve() == folder / "judge.py"
    assert task.evaluate.timeout_seconds == 30
    assert task.evaluate.cascade_thresholds == (0.5, 0.75, 0.9)  # OpenEvolve's default, as it would run
    assert task.search.map_elites.islands == 5
    assert "max_iterations is not set" in done.stdout
    check = run_agent("check", "made/task.yaml", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "fitness: 2" in check.stdout


@pytest.mark.parametrize("case, expected", [
    ("missing", "no such file"),
    ("not_yaml", "not valid YAML"),
    ("a_list", "not an OpenEvolve config"),
    ("no_program", "no initial_program.* beside it; pass --program FILE"),
    ("no_evaluator", "no evaluator.py beside it; pass --evaluator FILE"),
    ("exists", "exists; pass --out DIR"),
])
def test_new_task_mistakes_end_in_one_line_and_exit_code_2(tmp_path, case, expected):
    folder = _openevolve_folder(tmp_path, config="max_iterations: 3\n")
    config = folder / "config.yaml"
    if case == "missing":
        config = folder / "nope.yaml"
    elif case == "not_yaml":
        config.write_text("llm: [unclosed\n  primary_model: x\n")
    elif case == "a_list":
        config.write_text("- 1\n- 2\n")
    elif case == "no_program":
        (folder / "initial_program.py").unlink()
    elif case == "no_evaluator":
        (folder / "evaluator.py").unlink()
    elif case == "exists":
        (folder / "task.yaml").write_text("name: mine\n")
    done = run_agent("new-task", "--from-openevolve", str(config), cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr
    if case == "exists":
        assert (folder / "task.yaml").read_text() == "name: mine\n"
    else:
        assert not (folder / "task.yaml").exists()


def test_new_task_takes_exactly_one_source(tmp_path):
    folder = _openevolve_folder(tmp_path)
    for args in ((), ("--from-openevolve", str(folder / "config.yaml"), "--from-kernelbench", str(folder / "x.py"))):
        done = run_agent("new-task", *args, cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip() == "error: new-task: give exactly one of --from-kernelbench FILE or --from-openevolve CONFIG"


WRONG = '''\
def evaluate(program_path):
    return {"combined_score": 0.0, "error": "the answer is off by 3"}
'''
BROKEN = '''\
import not_a_module_anywhere


def evaluate(program_path):
    return {"combined_score": 1.0}
'''


@pytest.mark.parametrize("evaluator, expected", [
    (WRONG, "error: the program is not correct (wrong): the answer is off by 3"),
    (BROKEN, "error: the evaluator failed: could not load the evaluator: "),
])
def test_check_exits_1_with_the_reason_when_the_program_is_not_correct(tmp_path, evaluator, expected):
    folder = _openevolve_folder(tmp_path, config="evaluator: {timeout: 30}\n")
    (folder / "evaluator.py").write_text(evaluator)
    assert run_agent("new-task", "--from-openevolve", str(folder / "config.yaml"), cwd=tmp_path).returncode == 0
    done = run_agent("check", str(folder / "task.yaml"), cwd=tmp_path)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and done.stderr.startswith(expected), done.stderr
    assert "status: " in done.stdout


def test_check_refuses_a_bad_task_file_with_exit_code_2(tmp_path):
    (tmp_path / "task.yaml").write_text(textwrap.dedent("""\
        name: t
        kind: program
        program: p.py
        evaluator: e.py
        evaluate: {timeout_secnds: 3}
    """))
    done = run_agent("check", "task.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: task.yaml: evaluate.timeout_secnds: unknown key"
    missing = run_agent("check", "nothing.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "no such task file" in missing.stderr


def test_check_runs_a_kernel_task_on_the_cpu(tmp_path):
    task = Path(__file__).resolve().parents[2] / "tasks" / "softmax_triton" / "task.yaml"
    done = run_agent("check", str(task), cwd=tmp_path, timeout=400)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "status: correct" in done.stdout and "correctness" in done.stdout and "max_abs_err" in done.stdout


def test_an_imported_task_evolves_with_the_configs_models(tmp_path, fake_llm, monkeypatch):
    import itertools

    from archives.store import Store
    from tests.e2e.helpers import only_run
    from tests.fakes.openai_server import Reply

    count = itertools.count(6)
    fake_llm.set_responder(lambda request: Reply(f"Bigger.\n```python\nVALUE = {next(count)}\n```\n"))
    config = CONFIG.replace("http://127.0.0.1:9/v1", fake_llm.url).replace("max_iterations: 7", "max_iterations: 3")
    folder = _openevolve_folder(tmp_path, config=config)
    assert run_agent("new-task", "--from-openevolve", str(folder / "config.yaml"), cwd=tmp_path).returncode == 0
    monkeypatch.setenv("MY_LLM_KEY", "sk-test-not-a-real-key")
    done = run_agent("evolve", str(folder / "task.yaml"), "--store", "sqlite:///runs.db", cwd=tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)
    run = only_run(f"sqlite:///{tmp_path / 'runs.db'}")
    with Store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        programs = store.programs(run.run.id)
    assert len([p for p in programs if p.fitness is not None]) == 4  # max_iterations 3 + the initial program
    assert max(p.fitness for p in programs if p.fitness is not None) > 0.5
    models = {r.get("model") for r in fake_llm.requests}
    assert models <= {"small-model", "big-model"} and "small-model" in models
    keys = {v for h in fake_llm.headers for k, v in h.items() if k.lower() == "authorization"}
    assert keys == {"Bearer sk-test-not-a-real-key"}  # api_key "${MY_LLM_KEY}" became api_key_env
