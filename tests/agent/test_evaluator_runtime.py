"""evaluate.requirements, read and compared (evaluators/program/runtime.py); the sandbox side is
in tests/e2e/test_evaluator_requirements.py."""

from __future__ import annotations

import sys

import pytest

from agent.config import ConfigError, load_task
from evaluators.program.runtime import RuntimeProblem, read_requirements, unmet

ENV = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux", "os_name": "posix",
       "platform_machine": "x86_64", "platform_system": "Linux", "platform_release": "", "platform_version": "",
       "implementation_name": "cpython", "implementation_version": "3.11.7",
       "platform_python_implementation": "CPython"}


def test_requirements_files_are_read_as_pip_reads_them(tmp_path):
    (tmp_path / "base.txt").write_text("numpy>=1.22  # arrays\n")
    (tmp_path / "requirements.txt").write_text(
        "# comment\n\n-r base.txt\n--index-url https://example.invalid/simple\n-e ./local_pkg\n"
        "scipy==1.11.4 --hash=sha256:abc\nPyYAML\\\n>=6\nold-thing; python_version < '3.8'\n"
        "pkg @ https://example.invalid/pkg.whl\n"
    )
    found = read_requirements(tmp_path / "requirements.txt")
    assert [(r.name, r.specifier) for r in found] == [
        ("numpy", ">=1.22"), ("scipy", "==1.11.4"), ("PyYAML", ">=6"), ("old-thing", ""), ("pkg", "")
    ]


def test_unmet_names_missing_and_mismatched_versions_and_honours_markers(tmp_path):
    (tmp_path / "r.txt").write_text("numpy>=1.22\nscipy==1.11.4\npyyaml>=6\nold-thing; python_version < '3.8'\n"
                                    "new-thing; python_version >= '3.8'\n")
    found = read_requirements(tmp_path / "r.txt")
    installed = {"numpy": "1.26.4", "scipy": "1.10.0", "pyyaml": None, "old-thing": None, "new-thing": "0.1"}
    assert unmet(found, installed, ENV) == ["scipy==1.11.4 (found 1.10.0)", "pyyaml>=6"]
    assert unmet(found, {**installed, "scipy": "1.11.4", "pyyaml": "6.0.1"}, ENV) == []


def test_a_line_that_is_not_a_requirement_is_refused_naming_the_line(tmp_path):
    (tmp_path / "r.txt").write_text("numpy\nthis is not ! a requirement\n")
    with pytest.raises(RuntimeProblem, match=r"r.txt, line 2: not a requirement"):
        read_requirements(tmp_path / "r.txt")
    (tmp_path / "s.txt").write_text("-r missing.txt\n")
    with pytest.raises(RuntimeProblem, match="evaluate.requirements: file not found: .*missing.txt"):
        read_requirements(tmp_path / "s.txt")


def test_paths_resolve_against_the_task_file_and_a_bare_name_is_looked_up_on_path(tmp_path):
    (tmp_path / "p.py").write_text("x = 1\n")
    (tmp_path / "e.py").write_text("def evaluate(p):\n    return {}\n")
    (tmp_path / "req.txt").write_text("pyyaml\n")
    (tmp_path / "lib").mkdir()
    name = "python3" if sys.platform != "win32" else "python"
    (tmp_path / "task.yaml").write_text(
        f"name: t\nkind: program\nprogram: p.py\nevaluator: e.py\n"
        f"evaluate: {{python: {name}, requirements: req.txt, pythonpath: [lib]}}\n"
    )
    task = load_task(tmp_path / "task.yaml")
    assert task.evaluate.python.is_absolute() and task.evaluate.python.name.startswith("python")
    assert task.evaluate.requirements == tmp_path / "req.txt" and task.evaluate.pythonpath == (tmp_path / "lib",)


def test_kernel_tasks_refuse_evaluator_needs():
    from pathlib import Path

    from agent.wiring import build_evaluator

    root = Path(__file__).resolve().parents[2] / "tasks" / "softmax_triton" / "task.yaml"
    task = load_task(root)
    needs = task.evaluate.model_copy(update={"requirements": root})
    with pytest.raises(ConfigError, match="apply to program tasks only"):
        build_evaluator(task.model_copy(update={"evaluate": needs, "sandbox": task.sandbox.model_copy(
            update={"backend": "process"})}))
