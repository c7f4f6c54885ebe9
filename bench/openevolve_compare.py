"""Compare OpenEvolve's score of a program with evoforge's, and write the table.

The two sides arrive as plain dicts (JSON-ready):

- OpenEvolve (bench/openevolve_runner.py): {"ok", "error", "metrics", "artifacts", "fitness", ...},
  with "printed": the first warning or error line the evaluator printed (shown on rows that do
  not match: e.g. a missing data set it falls back from).
  OpenEvolve does not raise for a failed evaluation: it returns {"error": 0.0} (plus
  "timeout": true) and leaves the reason in the program's artifacts ("failure_stage",
  "stderr", "error_message"). A failure of stage 2 or 3 keeps the earlier stages' metrics.
- evoforge (evaluators.program.ProgramEvaluator's EvalResult): {"status", "fitness",
  "metrics", "error", ...}; "correct" is the only status with a fitness.

Only finite numbers that are not bools are compared as metrics (evoforge keeps no others).
A row matches when both sides scored the program, their fitness agrees within `rtol`, and the
numeric metrics have the same names and values. When values differ, the caller has OpenEvolve
score the program a second time (`rerun`): metrics that move between OpenEvolve's own two
runs, and metrics named as timings (eval_time, *_ms...), are not held against evoforge; when
OpenEvolve's fitness itself moves, the evaluator is stochastic or timed: the row says so
("stochastic") and whether evoforge's value lies within OpenEvolve's spread, instead of calling
it a match or a mismatch. Differing metric names, or values that OpenEvolve's two runs agree on,
are a mismatch, unless OpenEvolve's own two runs differ in names too.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

RTOL = 1e-6
ATOL = 1e-12
_FAILED_STAGES = ("evaluation", "stage1", "cascade_setup")
# Metric names that measure time: they differ between any two runs (a coarse clock may give two
# runs the same value, so OpenEvolve's second run alone cannot tell).
_TIMING = re.compile(r"time|seconds|_ms$|_s$|latency|duration", re.IGNORECASE)


@dataclass(frozen=True)
class Row:
    """One example's line of the table."""

    example: str
    match: str
    """"yes", "no", "stochastic", "both failed" or "not run"."""
    reason: str = ""
    openevolve: dict[str, Any] = field(default_factory=dict)
    """{"fitness", "metrics", "failure", "seconds", "rerun_fitness"}; empty when not run."""
    evoforge: dict[str, Any] = field(default_factory=dict)
    """{"status", "fitness", "metrics", "error", "seconds", "backend", "task_source", "evaluate_keys"};
    empty when not run."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def numeric(metrics: dict[str, Any]) -> dict[str, float]:
    """The metrics that are finite numbers and not bools."""
    return {str(k): float(v) for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def close(a: float | None, b: float | None, rtol: float = RTOL) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rtol, abs_tol=ATOL)


def openevolve_failure(oe: dict[str, Any]) -> str | None:
    """Why OpenEvolve gave the program no score, or None when it scored it."""
    if not oe.get("ok"):
        return f"the OpenEvolve runner failed: {oe.get('error') or 'no result'}"
    metrics, artifacts = oe.get("metrics") or {}, oe.get("artifacts") or {}
    stage = artifacts.get("failure_stage")
    if stage in _FAILED_STAGES or (not numeric(metrics) and "error" in metrics):
        if metrics.get("timeout") is True or artifacts.get("timeout") is True:
            return f"timed out ({stage or 'evaluation'}, limit {oe.get('settings', {}).get('timeout', '?')} s)"
        text = (artifacts.get("error_message") or artifacts.get("stderr")
                or "returned neither a dict nor an EvaluationResult")
        return f"{stage or 'evaluation'} failed: {_one_line(str(text))}"
    return None


def openevolve_notes(oe: dict[str, Any]) -> list[str]:
    """What OpenEvolve did beside scoring: a later stage that failed, settings it changed."""
    artifacts = oe.get("artifacts") or {}
    notes = list(oe.get("notes") or [])
    stage = artifacts.get("failure_stage")
    if stage and stage not in _FAILED_STAGES:
        text = artifacts.get(f"{stage}_stderr") or ("timed out" if artifacts.get(f"{stage}_timeout") else "")
        notes.append(f"OpenEvolve: {stage} failed ({_one_line(str(text))}), the earlier stages' metrics kept")
    return notes


def metric_differences(oe: dict[str, float], ef: dict[str, float], rtol: float = RTOL) -> tuple[list[str], list[str]]:
    """(differences in metric names, differences in values), each as short texts."""
    names = []
    only_oe, only_ef = sorted(set(oe) - set(ef)), sorted(set(ef) - set(oe))
    if only_oe:
        names.append(f"only OpenEvolve has {', '.join(only_oe)}")
    if only_ef:
        names.append(f"only evoforge has {', '.join(only_ef)}")
    values = [f"{k} {_num(oe[k])} vs {_num(ef[k])}" for k in sorted(set(oe) & set(ef)) if not close(oe[k], ef[k], rtol)]
    return names, values


def compare(example: str, oe: dict[str, Any], ef: dict[str, Any], rerun: dict[str, Any] | None = None,
            rtol: float = RTOL) -> Row:
    """The row for one example scored by both sides (`rerun`: OpenEvolve's second run, if any)."""
    failure = openevolve_failure(oe)
    notes = openevolve_notes(oe)
    oe_side = {"fitness": None if failure else oe.get("fitness"), "metrics": numeric(oe.get("metrics") or {}),
               "failure": failure, "seconds": oe.get("seconds")}
    if rerun is not None:
        oe_side["rerun_fitness"] = None if openevolve_failure(rerun) else rerun.get("fitness")
    ef_side = {key: ef.get(key) for key in ("status", "fitness", "metrics", "error", "seconds", "backend",
                                            "task_source", "evaluate_keys") if key in ef or key in ("fitness", "error")}
    ef_side["metrics"] = numeric(ef.get("metrics") or {})
    ef_ok = ef.get("status") == "correct"
    ef_text = f"evoforge: {ef.get('status')}: {ef.get('error') or 'no error text'}"

    def row(match: str, reasons: list[str]) -> Row:
        printed = [f"the evaluator printed under OpenEvolve: {oe['printed']}"] if oe.get("printed") else []
        printed = printed if match != "yes" else []
        return Row(example, match, "; ".join(r for r in [*reasons, *notes, *printed] if r), oe_side, ef_side)

    if failure and not ef_ok:
        return row("both failed", [f"OpenEvolve: {failure}", ef_text])
    if failure:
        return row("no", [f"OpenEvolve gave no score ({failure}) but evoforge did"])
    if not ef_ok:
        artifacts = oe.get("artifacts") or {}
        said = artifacts.get("error")
        if ef.get("status") == "wrong" and isinstance(said, str) and said.strip():
            detail = _one_line(str(artifacts.get("stderr") or ""), 120)
            said = _one_line(said, 120) + (f": {detail}" if detail else "")
            return row("no", [f"the evaluator returned an error text beside its metrics: evoforge marks the program "
                              f"wrong ({_one_line(str(ef.get('error')), 120)}), OpenEvolve keeps the text as an "
                              f"artifact ({said}) and scores the metrics (fitness {_num(oe_side['fitness'])})"])
        return row("no", [ef_text])
    name_diffs, value_diffs = metric_differences(oe_side["metrics"], ef_side["metrics"], rtol)
    fitness_same = close(oe_side["fitness"], ef_side["fitness"], rtol)
    if not name_diffs and not value_diffs and fitness_same:
        return row("yes", [])
    moved, fitness_moved, names_moved = _moved(oe, rerun, rtol)
    fitness_text = [] if fitness_same else [f"fitness {_num(oe_side['fitness'])} vs {_num(ef_side['fitness'])}"]
    spread = (f"stochastic or timed evaluator: OpenEvolve's own two runs gave fitness {_num(oe.get('fitness'))} "
              f"and {_num((rerun or {}).get('fitness'))}" + (" and different metric names" if names_moved else ""))
    if name_diffs and not names_moved:  # OpenEvolve reports the same names every time: evoforge must too
        return row("no", [*name_diffs, *fitness_text, *([spread] if fitness_moved else [])])
    differing = [d.split(" ", 1)[0] for d in value_diffs]
    noisy = [name for name in differing if name in moved or _TIMING.search(name)]
    steady = [d for d, name in zip(value_diffs, differing) if name not in noisy]
    if not fitness_moved and not names_moved:  # OpenEvolve's fitness is reproducible: evoforge's must equal it
        note = [f"timings differ, as they do between OpenEvolve's own runs: {', '.join(noisy)}"] if noisy else []
        if fitness_same and not steady:
            return row("yes", note)
        return row("no", [*fitness_text, *steady, *note])
    if steady:  # values OpenEvolve reproduces run after run: evoforge's must equal them
        return row("no", [f"differ where OpenEvolve's two runs agree: {'; '.join(steady)}", spread, *fitness_text,
                          *name_diffs])
    shared = set(oe_side["metrics"]) & set(ef_side["metrics"])
    reproduced = [k for k in shared if k not in moved and not _TIMING.search(k)]
    count = len(reproduced)
    agree = [f"the {count} metric{'s' * (count != 1)} OpenEvolve reproduces agree{'s' * (count == 1)}"] if count else []
    return row("stochastic", [spread, *fitness_text, *agree, *name_diffs])


def _moved(oe: dict[str, Any], rerun: dict[str, Any] | None, rtol: float) -> tuple[set[str], bool, bool]:
    """(the metrics whose value differs between OpenEvolve's two runs, whether its fitness
    does, whether the metric names do); nothing moved without a second run."""
    if rerun is None or openevolve_failure(rerun):
        return set(), False, False
    first, second = numeric(oe.get("metrics") or {}), numeric(rerun.get("metrics") or {})
    moved = {k for k in set(first) & set(second) if not close(first[k], second[k], rtol)}
    return moved, not close(oe.get("fitness"), rerun.get("fitness"), rtol), set(first) != set(second)


def within_spread(row: Row) -> bool | None:
    """For a stochastic row: whether evoforge's fitness lies within OpenEvolve's two runs,
    widened by their distance on both sides."""
    a, b, x = row.openevolve.get("fitness"), row.openevolve.get("rerun_fitness"), row.evoforge.get("fitness")
    if a is None or b is None or x is None:
        return None
    spread = abs(a - b)
    return min(a, b) - spread <= x <= max(a, b) + spread


def summary(rows: list[Row]) -> dict[str, int]:
    counts = {"examples": len(rows), "ran": sum(r.match != "not run" for r in rows)}
    for name in ("yes", "stochastic", "no", "both failed", "not run"):
        counts[name] = sum(r.match == name for r in rows)
    return counts


def render_markdown(rows: list[Row], header: list[str]) -> str:
    """The results page: the header lines, the counts, then one table row per example."""
    counts = summary(rows)
    lines = [*header, "",
             f"- example folders: {counts['examples']}; ran both ways: {counts['ran']}; "
             f"matched: {counts['yes']}; stochastic (OpenEvolve's own runs differ): {counts['stochastic']}; "
             f"mismatched: {counts['no']}; failed on both sides: {counts['both failed']}; "
             f"not run: {counts['not run']}", "",
             "| example | OpenEvolve fitness | OpenEvolve metrics | evoforge fitness | evoforge metrics | match "
             "| reason |",
             "| --- | ---: | --- | ---: | --- | --- | --- |"]
    for r in rows:
        oe, ef = r.openevolve, r.evoforge
        oe_fit = _num(oe.get("fitness")) if oe else ""
        if oe and oe.get("rerun_fitness") is not None:
            oe_fit += f" / {_num(oe['rerun_fitness'])}"
        ef_fit = _num(ef.get("fitness")) if ef.get("fitness") is not None else (ef.get("status") or "")
        match = r.match
        if match == "stochastic":
            inside = within_spread(r)
            match += "" if inside is None else (" (within spread)" if inside else " (outside spread)")
        cells = [r.example, oe_fit, _metrics(oe.get("metrics")) if oe else "", ef_fit,
                 _metrics(ef.get("metrics")) if ef else "", match, r.reason]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _metrics(metrics: dict[str, float] | None, most: int = 6) -> str:
    if not metrics:
        return ""
    items = sorted(metrics.items())
    shown = ", ".join(f"{k}={_num(v)}" for k, v in items[:most])
    return shown + (f", +{len(items) - most} more" if len(items) > most else "")


def _num(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _one_line(text: str, most: int = 300) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:most]
