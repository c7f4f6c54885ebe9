"""A `SuiteReport` as text: a short terminal table, markdown, a self-contained HTML page, JSON.

Every renderer shows the same figures (report.py says what they mean). Numbers that were not
measured (no GPU: no speedup) read "-" in text and null in JSON; HTML escapes every value, so a
problem name or a reason cannot inject markup.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agent.suites.report import BASELINES, FAST_P, ProblemRow, SuiteReport

FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".json": "json"}
"""Output formats by file suffix (`--out report.html`)."""

BASELINE_TITLES = {"eager": "eager", "compile": "torch.compile"}
PROBLEM_COLUMNS = ("problem", "status", "correct", "runtime (ms)", "speedup (eager)", "speedup (torch.compile)",
                   "roofline", "evaluations", "dollars", "run", "note")
RUN_ID_CHARS = 12  # a unique prefix is enough for `agent show`; JSON keeps the whole id
_CONFIG_KEYS = ("language", "evaluations", "dollars", "model", "strategy", "parallel", "share_knowledge")
FAST_P_MEANING = ("fast_p: the share of all the suite's problems that are correct and faster than the baseline by "
                  "more than p times; problems that could not run, failed or are not run yet count as not fast. "
                  "Geometric mean: over the correct problems that were timed.")
NOT_TIMED = "nothing was timed (no GPU): speedups and fast_p are not measured, and no problem counts as faster"


def format_for(path: str | Path) -> str:
    """The format for an output file, by its suffix (ValueError, one line, for an unknown one)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unknown report format {suffix or '(no suffix)'!r}; use .md, .html or .json")
    return FORMATS[suffix]


def render(report: SuiteReport, fmt: str) -> str:
    """The report in `fmt`: "markdown", "html", "json" or "terminal"."""
    renderers = {"markdown": render_markdown, "html": render_html, "json": render_json, "terminal": render_terminal}
    return renderers[fmt](report)


# -- numbers as text -------------------------------------------------------------------------


def speedup_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}x"


def share_text(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def runtime_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def dollars_text(value: float) -> str:
    return f"${value:.4f}" if 0 < abs(value) < 0.01 else f"${value:.2f}"


def note_text(row: ProblemRow) -> str:
    """Why a row is not correct, or that a correct one was not timed."""
    if row.correct:
        return "" if row.timed else "correct; not timed (no GPU)"
    return row.why or ""


def problem_cells(row: ProblemRow) -> list[str]:
    """A row's cells, in PROBLEM_COLUMNS order."""
    return [row.name, row.status, "yes" if row.correct else "no", runtime_text(row.runtime_ms),
            speedup_text(row.speedup_eager), speedup_text(row.speedup_compile), share_text(row.roofline_fraction),
            str(row.evaluations), dollars_text(row.dollars), (row.run_id or "-")[:RUN_ID_CHARS], note_text(row)]


def overall_lines(report: SuiteReport) -> list[tuple[str, str]]:
    """The overall figures as (label, value) pairs."""
    statuses = ", ".join(f"{k} {n}" for k, n in report.statuses.items() if n)
    return [
        ("problems", str(report.problems)),
        ("correct", f"{report.correct} ({share_text(report.correct_share)})"),
        ("statuses", statuses or "-"),
        ("evaluations", str(report.evaluations)),
        ("dollars", dollars_text(report.dollars)),
    ]


def fast_cells(report: SuiteReport, baseline: str) -> list[str]:
    """One baseline's line of the fast_p table: its name, fast_1, fast_1.2, fast_2, geomean."""
    shares = [share_text(report.fast[baseline][p]) for p in FAST_P]
    return [BASELINE_TITLES[baseline], *shares, speedup_text(report.geomean_speedup[baseline])]


FAST_COLUMNS = ("baseline", *(f"fast_{p}" for p in FAST_P), "geomean speedup")


def config_text(report: SuiteReport) -> str:
    """What the suite was run with, on one line."""
    config = report.suite.config
    return ", ".join(f"{k} {config[k]}" for k in _CONFIG_KEYS if config.get(k) is not None) or "-"


def nothing_timed(report: SuiteReport) -> bool:
    return all(report.fast[b][FAST_P[0]] is None for b in BASELINES)


# -- renderers -------------------------------------------------------------------------------


def render_terminal(report: SuiteReport) -> str:
    """The overall figures in a few lines (what `agent suite run` prints at its end)."""
    lines = [f"suite {report.suite.name}: " + ", ".join(f"{k} {v}" for k, v in overall_lines(report))]
    lines += aligned([list(FAST_COLUMNS)] + [fast_cells(report, b) for b in BASELINES])
    if nothing_timed(report):
        lines.append(NOT_TIMED)
    return "\n".join(lines) + "\n"


def render_markdown(report: SuiteReport) -> str:
    out = [f"# Suite {md_cell(report.suite.name)}", "", f"Run with: {md_cell(config_text(report))}", ""]
    out += ["## Overall", ""]
    out += md_table(["figure", "value"], [list(pair) for pair in overall_lines(report)])
    out += [""] + md_table(list(FAST_COLUMNS), [fast_cells(report, b) for b in BASELINES]) + ["", FAST_P_MEANING]
    if nothing_timed(report):
        out += ["", f"Note: {NOT_TIMED}."]
    out += ["", "## Problems", ""]
    out += md_table(list(PROBLEM_COLUMNS), [problem_cells(r) for r in report.rows])
    return "\n".join(out) + "\n"


def render_html(report: SuiteReport) -> str:
    """A self-contained page (inline style, no scripts, nothing fetched); every value escaped."""
    title = f"Suite {report.suite.name}"
    body = [f"<h1>{html_escape(title)}</h1>", f"<p>Run with: {html_escape(config_text(report))}</p>",
            "<h2>Overall</h2>",
            html_table(["figure", "value"], [list(pair) for pair in overall_lines(report)]),
            html_table(list(FAST_COLUMNS), [fast_cells(report, b) for b in BASELINES]),
            f"<p>{html_escape(FAST_P_MEANING)}</p>"]
    if nothing_timed(report):
        body.append(f"<p class=note>{html_escape(NOT_TIMED)}.</p>")
    body += ["<h2>Problems</h2>", html_table(list(PROBLEM_COLUMNS), [problem_cells(r) for r in report.rows])]
    return html_page(title, body)


def render_json(report: SuiteReport) -> str:
    return json.dumps(report_dict(report), indent=2, allow_nan=False) + "\n"


def report_dict(report: SuiteReport) -> dict[str, Any]:
    """The report as plain JSON values (what `render_json` writes and the viewer's API returns)."""
    return json_safe({
        "suite": {"name": report.suite.name, "config": report.suite.config, "created_at": report.suite.created_at},
        "problems": report.problems,
        "correct": report.correct,
        "correct_share": report.correct_share,
        "fast": report.fast,
        "geomean_speedup": report.geomean_speedup,
        "dollars": report.dollars,
        "evaluations": report.evaluations,
        "statuses": report.statuses,
        "rows": [asdict(r) for r in report.rows],
    })


# -- shared by compare.py --------------------------------------------------------------------


def html_table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{html_escape(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{html_escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def html_page(title: str, body: list[str]) -> str:
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
             "th{background:#f3f3f3}.note{color:#a60}")
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html_escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(c) for c in head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]


def md_cell(text: str) -> str:
    """A value as one markdown table cell: one line; pipes, backticks and angle brackets escaped."""
    flat = " ".join(str(text).split())
    for char in "\\|`<>":
        flat = flat.replace(char, "\\" + char)
    return flat


def html_escape(text: str) -> str:
    return html.escape(str(text), quote=True)


def aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
