"""`agent new-task --from-openevolve config.yaml`: an evoforge task from an OpenEvolve config.

The task file references the initial program and the evaluator where they are (paths relative
to the task file); nothing is copied, so an evaluator's helper files and data beside it keep
working. By default task.yaml is written beside the config (task_<suffix>.yaml for a config
named config_<suffix>.yaml); `--out DIR` writes DIR/task.yaml instead.

Carried over: the settings the config gives, and OpenEvolve's own defaults where they decide
how a run behaves and evoforge's differ (evaluator timeout, cascade thresholds, diff mode,
islands and their migration interval, feature dimensions and bins, temperature). Every key the
config sets that has no evoforge equivalent, and every key OpenEvolve does not know (a typo),
is returned in `not_carried`, one line each. The written task is loaded with evoforge's loader
before it is kept, so it is valid.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent import openevolve_schema as oe
from agent.config import ConfigError, EvaluateConfig, read_yaml
from agent.openevolve_llm import llm_section
from agent.openevolve_search import search_section

# Settings with no evoforge equivalent, and why (said when the config sets them).
_WHY = {
    "checkpoint_interval": "evoforge stores every program as it is evaluated; resume with --resume",
    "log_level": "evoforge has no log levels (-q for quiet)",
    "log_dir": "evoforge keeps everything in its store (agent view, agent export --jsonl)",
    "max_code_length": "no length limit on programs (llm.max_answer_chars limits an LLM's answer)",
    "diff_pattern": "evoforge's SEARCH/REPLACE format is fixed",
    "early_stopping_patience": "no early stopping: the budget ends a run",
    "convergence_threshold": "no early stopping: the budget ends a run",
    "early_stopping_metric": "no early stopping: the budget ends a run",
    "max_tasks_per_child": "each evaluation runs in a fresh sandbox job",
    "evolution_trace": "the store records the whole lineage (agent export --jsonl)",
    "file_suffix": "the program's file name follows language",
    "prompt.template_dir": "OpenEvolve templates use other names and placeholders; write Jinja2 templates "
                           "for prompt.templates (agent/templates)",
    "database.population_size": "the grid keeps one elite per cell, with no population cap",
    "database.archive_size": "the grid keeps one elite per cell, with no separate archive",
    "database.migration_rate": "evoforge migrates a count (search.map_elites.migrants), not a fraction",
    "evaluator.max_retries": "a failed evaluation is the candidate's result, never retried",
    "evaluator.use_llm_feedback": "no LLM judges programs",
    "evaluator.llm_feedback_weight": "no LLM judges programs",
}


@dataclass(frozen=True)
class ImportedTask:
    task_yaml: Path
    uses: tuple[str, ...]  # the files the task references, as written in it (nothing is copied)
    not_carried: tuple[str, ...]  # "key: why", one per setting that was not carried over
    notes: tuple[str, ...]  # what was carried approximately, or found beside the config


def import_openevolve(config: Path, *, program: Path | None = None, evaluator: Path | None = None,
                      out: Path | None = None) -> ImportedTask:
    """Write the task file; raises ConfigError (one line) for the user's mistakes."""
    config = Path(config)
    raw = _read_config(config)
    folder = config.resolve().parent
    suffix = config.stem.removeprefix("config").strip("_-")
    program_path = _initial_program(folder, raw, program, config)
    evaluator_path = _existing(evaluator, "--evaluator") if evaluator is not None else folder / "evaluator.py"
    if not evaluator_path.is_file():
        raise ConfigError(f"{config}: no evaluator.py beside it; pass --evaluator FILE")
    out_dir = Path(out) if out is not None else folder
    target = out_dir / ("task.yaml" if out is not None or not suffix else f"task_{suffix}.yaml")
    if target.exists():
        raise ConfigError(f"{target}: exists; pass --out DIR to write the task elsewhere")
    builder = _Builder(raw)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", folder.name + (f"_{suffix}" if suffix else "")).strip("_") or "task"
    task, header = builder.build(name, config, program_path, evaluator_path, out_dir.resolve())
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_checked(target, header, task)
    uses = [task["program"], task["evaluator"], *([task["evaluate"]["requirements"]]
                                                     if "requirements" in task.get("evaluate", {}) else [])]
    return ImportedTask(target, tuple(str(u) for u in uses), tuple(builder.skipped), tuple(builder.notes))


def _read_config(config: Path) -> dict[str, Any]:
    if config.is_dir():
        raise ConfigError(f"{config}: is a folder; give the OpenEvolve config.yaml inside it")
    raw = read_yaml(config, "no such file")
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config}: not an OpenEvolve config: expected a mapping of keys, got {type(raw).__name__}")
    return raw


def _existing(path: Path, option: str) -> Path:
    if not Path(path).is_file():
        raise ConfigError(f"{option}: no such file: {path}")
    return Path(path).resolve()


def _initial_program(folder: Path, raw: dict[str, Any], given: Path | None, config: Path) -> Path:
    if given is not None:
        return _existing(given, "--program")
    found = sorted(p for p in folder.glob("initial_program.*") if p.is_file())
    suffix = raw.get("file_suffix")
    if len(found) > 1 and isinstance(suffix, str):
        found = [p for p in found if p.suffix == suffix] or found
    if not found:
        raise ConfigError(f"{config}: no initial_program.* beside it; pass --program FILE")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise ConfigError(f"{config}: several initial programs beside it ({names}); pass --program FILE")
    return found[0]


def _relative(path: Path, start: Path) -> str:
    try:
        return os.path.relpath(path.resolve(), start)
    except ValueError:  # another drive
        return str(path.resolve())


class _Builder:
    """Maps the config's sections onto task.yaml keys, remembering what it could not carry."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.skipped: list[str] = []
        self.notes: list[str] = []
        self.header: list[str] = []

    def skip(self, key: str, why: str) -> None:
        self.skipped.append(f"{key}: {why}")

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            why = f"expected a mapping, got {type(value).__name__}"
            if f"{name}: {why}" not in self.skipped:
                self.skip(name, why)
            return {}
        return value

    def number(self, key: str, value: Any, *, integer: bool = False, low: float | None = None,
               high: float | None = None) -> float | int | None:
        """`value` if it is a number in range, else None (and the key is said not carried)."""
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if not ok or isinstance(value, bool):
            self.skip(key, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
            self.skip(key, f"{value!r} is outside evoforge's range ({bounds})")
            return None
        return value

    def unknown_keys(self) -> None:
        for key in self.raw:
            if key not in oe.TOP_LEVEL:
                self.skip(str(key), _unknown(str(key), oe.TOP_LEVEL))
        for name, known in oe.SECTIONS.items():
            for key in self.section(name):
                if key not in known:
                    self.skip(f"{name}.{key}", _unknown(str(key), known))

    def build(self, name: str, config: Path, program: Path, evaluator: Path, out_dir: Path):
        self.unknown_keys()
        language = self.raw.get("language")
        if language is None:
            language = "python" if program.suffix in (".py", "") else program.suffix.lstrip(".")
        task: dict[str, Any] = {
            "name": name,
            "kind": "program",
            "description": f"Improve the program so that the evaluator ({evaluator.name}) scores it higher "
                           f"(imported from the OpenEvolve config {config.name}).",
            "language": str(language),
            "program": _relative(program, out_dir),
            "evaluator": _relative(evaluator, out_dir),
        }
        iterations = self.raw.get("max_iterations")
        if iterations is not None:
            iterations = self.number("max_iterations", iterations, integer=True, low=0)
            if iterations is not None:
                task["budget"] = {"evaluations": iterations + 1}
                self.header.append(f"budget.evaluations: max_iterations {iterations} + the initial program")
        else:
            self.notes.append("max_iterations is not set (OpenEvolve's default: 10000): budget.evaluations stays "
                              "evoforge's 50; pass --evaluations N")
        llm = llm_section(self.section("llm"), self.raw, self)
        if llm:
            task["llm"] = llm
        task["search"] = search_section(self)
        task["evaluate"] = self.evaluate(config.resolve().parent, out_dir)
        cpu = self.section("evaluator").get("cpu_limit")
        if cpu is not None and (cpus := self.number("evaluator.cpu_limit", cpu, low=1e-9)) is not None:
            task["sandbox"] = {"cpus": cpus}
        prompt = self.prompt()
        if prompt:
            task["prompt"] = prompt
        for key, why in _WHY.items():
            section, _, leaf = key.rpartition(".")
            if leaf in (self.section(section) if section else self.raw):
                self.skip(key, why)
        return task, self.header

    def evaluate(self, config_dir: Path, out_dir: Path) -> dict[str, Any]:
        ev = self.section("evaluator")
        evaluate: dict[str, Any] = {}
        timeout = self.number("evaluator.timeout", ev.get("timeout", oe.DEFAULT_TIMEOUT), low=1e-9)
        if timeout is not None:
            evaluate["timeout_seconds"] = timeout
        cascade = ev.get("cascade_evaluation", True)
        if not isinstance(cascade, bool):
            self.skip("evaluator.cascade_evaluation", f"expected true or false, got {cascade!r}")
            cascade = True
        if "cascade_evaluation" in EvaluateConfig.model_fields:
            evaluate["cascade_evaluation"] = cascade
        elif not cascade:
            self.skip("evaluator.cascade_evaluation", "this evoforge has no cascade_evaluation setting")
        thresholds = ev.get("cascade_thresholds", list(oe.DEFAULT_CASCADE_THRESHOLDS))
        if cascade:
            if isinstance(thresholds, list) and all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                                    for t in thresholds):
                evaluate["cascade_thresholds"] = [float(t) for t in thresholds]
            else:
                self.skip("evaluator.cascade_thresholds", f"expected a list of numbers, got {thresholds!r}")
        if "parallel_evaluations" in ev:
            workers = self.number("evaluator.parallel_evaluations", ev["parallel_evaluations"], integer=True,
                                  low=1, high=256)
            if workers is not None:
                evaluate["workers"] = workers
        if ev.get("memory_limit_mb") is not None:
            memory = self.number("evaluator.memory_limit_mb", ev["memory_limit_mb"], integer=True, low=64)
            if memory is not None:
                evaluate["memory_mb"] = memory
        for key in ("distributed", "enable_artifacts", "max_artifact_storage"):
            if key in ev:
                self.skip(f"evaluator.{key}", "evoforge always keeps the evaluator's text results (artifacts) "
                          "as feedback" if key == "enable_artifacts" else "no equivalent in evoforge")
        requirements = config_dir / "requirements.txt"
        if requirements.is_file():
            evaluate["requirements"] = _relative(requirements, out_dir)
            self.notes.append(f"evaluate.requirements: {evaluate['requirements']} (checked in the evaluator's "
                              "Python before every run and check)")
        return evaluate

    def prompt(self) -> dict[str, Any]:
        prompt = self.section("prompt")
        out: dict[str, Any] = {}
        system = prompt.get("system_message")
        if isinstance(system, str) and system.strip() and system not in oe.TEMPLATE_NAMES:
            out["system"] = system
            self.header.append("prompt.system: OpenEvolve's system message, appended to evoforge's own")
        elif system is not None and system not in oe.TEMPLATE_NAMES:
            self.skip("prompt.system_message", f"expected text, got {system!r}")
        elif system is not None:
            self.skip("prompt.system_message", f"names OpenEvolve's template {system!r}; evoforge uses its own")
        handled = {"system_message", "template_dir", "num_top_programs", "num_diverse_programs"}
        for key in prompt:
            if key not in handled and key in oe.SECTIONS["prompt"]:
                self.skip(f"prompt.{key}", "evoforge's prompts have no such option (prompt.templates to change them)")
        return out


def _unknown(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"not an OpenEvolve 0.3.2 setting (OpenEvolve ignores it too){hint}"


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _write_checked(target: Path, header: list[str], task: dict[str, Any]) -> None:
    """Write the task file through a temporary name, keeping it only if evoforge loads it."""
    from agent.config import load_task

    lines = ["# Made by `agent new-task --from-openevolve`. Check: agent check <this file>; run: agent evolve "
             "<this file> (--model to choose another LLM)."]
    lines += [f"# {line}" for line in header]
    body = yaml.dump(task, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    scratch = target.with_name(f".{target.name}.new")
    scratch.write_text("\n".join(lines) + "\n" + body, encoding="utf-8")
    try:
        load_task(scratch)
    except ConfigError as exc:
        scratch.unlink()
        raise ConfigError(f"the imported task does not load ({exc}); nothing was written") from None
    scratch.replace(target)
