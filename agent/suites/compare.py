"""Two suites side by side (e.g. two models or two strategies on one benchmark).

Problems are matched by name; one only in A or only in B is still a row (its other side empty).
The overall figures are shown for A and B with the difference B - A (shares in points of
percent, speedups in x, dollars); per problem, both sides and B's eager speedup over A's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from agent.suites.render import (
    BASELINE_TITLES, aligned, config_text, dollars_text, format_for, html_escape, html_page, html_table, json_safe,
    md_cell, md_table, report_dict, share_text, speedup_text,
)  # fmt: skip
from agent.suites.report import BASELINES, FAST_P, ProblemRow, SuiteReport, build_report
from archives.store import Store

__all__ = ["Figure", "ProblemPair", "SuiteComparison", "build_comparison", "format_for", "render_comparison"]


@dataclass(frozen=True)
class Figure:
    """One overall figure of both suites; `kind` says how to show it: "count" | "share" | "speedup" | "dollars"."""

    name: str
    kind: str
    a: float | None
    b: float | None

    @property
    def difference(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class ProblemPair:
    """A problem in A and in B (None: not in that suite)."""

    name: str
    a: ProblemRow | None
    b: ProblemRow | None

    @property
    def gain(self) -> float | None:
        """B's eager speedup over A's, when both are correct and timed."""
        sa, sb = (r.speedup_eager if r is not None and r.correct else None for r in (self.a, self.b))
        return sb / sa if sa and sb else None


@dataclass(frozen=True)
class SuiteComparison:
    a: SuiteReport
    b: SuiteReport
    figures: tuple[Figure, ...]
    pairs: tuple[ProblemPair, ...]


def build_comparison(store: Store, a: str, b: str) -> SuiteComparison:
    """Suites `a` and `b` side by side (StoreError, one line, when either is unknown)."""
    ra, rb = build_report(store, a), build_report(store, b)
    by_a, by_b = {r.name: r for r in ra.rows}, {r.name: r for r in rb.rows}
    names = list(by_a) + [n for n in by_b if n not in by_a]
    pairs = tuple(ProblemPair(n, by_a.get(n), by_b.get(n)) for n in sorted(names))
    return SuiteComparison(ra, rb, _figures(ra, rb), pairs)


def _figures(a: SuiteReport, b: SuiteReport) -> tuple[Figure, ...]:
    figures = [Figure("problems", "count", a.problems, b.problems),
               Figure("correct", "share", a.correct_share, b.correct_share)]
    for baseline in BASELINES:
        title = BASELINE_TITLES[baseline]
        figures += [Figure(f"fast_{p} over {title}", "share", a.fast[baseline][p], b.fast[baseline][p]) for p in FAST_P]
        figures.append(Figure(f"geomean speedup over {title}", "speedup", a.geomean_speedup[baseline],
                              b.geomean_speedup[baseline]))
    figures += [Figure("evaluations", "count", a.evaluations, b.evaluations),
                Figure("dollars", "dollars", a.dollars, b.dollars)]
    return tuple(figures)


# -- renderers -------------------------------------------------------------------------------

PAIR_COLUMNS = ("problem", "correct A", "correct B", "speedup A", "speedup B", "B over A", "torch.compile A",
                "torch.compile B", "evaluations A", "evaluations B", "dollars A", "dollars B")


def render_comparison(comparison: SuiteComparison, fmt: str) -> str:
    """The comparison in `fmt`: "markdown", "html", "json" or "terminal"."""
    return {"markdown": render_comparison_markdown, "html": render_comparison_html,
            "json": render_comparison_json, "terminal": render_comparison_terminal}[fmt](comparison)


def figure_cells(figure: Figure) -> list[str]:
    return [figure.name, _value(figure.kind, figure.a), _value(figure.kind, figure.b),
            _value(figure.kind, figure.difference, signed=True)]


def pair_cells(pair: ProblemPair) -> list[str]:
    a, b = pair.a, pair.b
    return [pair.name, _correct(a), _correct(b), _side(a, "speedup_eager"), _side(b, "speedup_eager"),
            speedup_text(pair.gain), _side(a, "speedup_compile"), _side(b, "speedup_compile"),
            str(a.evaluations) if a else "-", str(b.evaluations) if b else "-",
            dollars_text(a.dollars) if a else "-", dollars_text(b.dollars) if b else "-"]


def _heads(c: SuiteComparison) -> list[str]:
    return ["figure", f"A: {c.a.suite.name}", f"B: {c.b.suite.name}", "B - A"]


def render_comparison_terminal(c: SuiteComparison) -> str:
    return "\n".join(aligned([_heads(c)] + [figure_cells(f) for f in c.figures])) + "\n"


def render_comparison_markdown(c: SuiteComparison) -> str:
    out = [f"# Suites {md_cell(c.a.suite.name)} (A) and {md_cell(c.b.suite.name)} (B)", ""]
    out += [f"{side} run with: {md_cell(config_text(r))}  " for side, r in (("A", c.a), ("B", c.b))]
    out += ["", "## Overall", ""]
    out += md_table(_heads(c), [figure_cells(f) for f in c.figures])
    out += ["", "## Problems", ""] + md_table(list(PAIR_COLUMNS), [pair_cells(p) for p in c.pairs])
    return "\n".join(out) + "\n"


def render_comparison_html(c: SuiteComparison) -> str:
    title = f"Suites {c.a.suite.name} (A) and {c.b.suite.name} (B)"
    runs = "<br>".join(f"{side} run with: {html_escape(config_text(r))}" for side, r in (("A", c.a), ("B", c.b)))
    return html_page(title, [f"<h1>{html_escape(title)}</h1>", f"<p>{runs}</p>", "<h2>Overall</h2>",
                             html_table(_heads(c), [figure_cells(f) for f in c.figures]), "<h2>Problems</h2>",
                             html_table(list(PAIR_COLUMNS), [pair_cells(p) for p in c.pairs])])


def render_comparison_json(c: SuiteComparison) -> str:
    data = {
        "a": report_dict(c.a),
        "b": report_dict(c.b),
        "figures": [{**asdict(f), "difference": f.difference} for f in c.figures],
        "problems": [{"name": p.name, "a": asdict(p.a) if p.a else None, "b": asdict(p.b) if p.b else None,
                      "gain": p.gain} for p in c.pairs],
    }
    return json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n"


def _value(kind: str, value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    sign = "+" if signed and value > 0 else ""
    if kind == "share":
        return f"{sign}{100 * value:.1f} pt" if signed else share_text(value)
    if kind == "speedup":
        return f"{sign}{value:.3g}x"
    if kind == "dollars":
        return ("+" if signed and value > 0 else "-" if value < 0 else "") + f"${abs(value):.2f}"
    return f"{sign}{value:g}"


def _correct(row: ProblemRow | None) -> str:
    if row is None:
        return "not in suite"
    return "yes" if row.correct else f"no ({row.status})"


def _side(row: ProblemRow | None, field: str) -> str:
    return speedup_text(getattr(row, field)) if row is not None and row.correct else "-"

