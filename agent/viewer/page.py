"""The single HTML page of the viewer, served (files under /static) or inlined (the report).

The page itself holds no data: the scripts fetch it from the JSON API, or, in a report, read
it from an inert ``<script type="application/json">`` block. The report's scripts are allowed
by their SHA-256 hashes in a Content-Security-Policy meta tag, so nothing else can run there.
"""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

STYLES = ("vendor/uplot/uPlot.min.css", "vendor/highlight/github.min.css", "css/app.css")
SCRIPTS = (
    "vendor/d3/d3.min.js",
    "vendor/uplot/uPlot.iife.min.js",
    "vendor/highlight/highlight.min.js",
    "js/dom.js",
    "js/api.js",
    "js/code.js",
    "js/charts.js",
    "js/heatmap.js",
    "js/tree.js",
    "js/strategy.js",
    "js/proposer.js",
    "js/spend.js",
    "js/view_runs.js",
    "js/view_run.js",
    "js/view_program.js",
    "js/view_suites.js",
    "js/app.js",
)
ICON = "icon.svg"

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{csp}<title>{title}</title>
{icon}
{styles}
</head>
<body>
<header class="topbar"><a class="brand" href="#/">evoforge</a><nav class="nav" id="nav"><a href="#/">Runs</a><a href="#/suites">Suites</a></nav><span class="crumbs" id="crumbs"></span><span class="mode" id="mode">{mode}</span></header>
<main id="app"><p class="muted">Loading…</p></main>
{data}{scripts}
</body>
</html>
"""


def render_page() -> str:
    """The page `agent view` serves: styles and scripts load from /static."""
    return _SHELL.format(
        csp="",
        title="evoforge viewer",
        icon=f'<link rel="icon" href="/static/{ICON}" type="image/svg+xml">',
        styles="\n".join(f'<link rel="stylesheet" href="/static/{p}">' for p in STYLES),
        mode="live",
        data="",
        scripts="\n".join(f'<script src="/static/{p}"></script>' for p in SCRIPTS),
    )


def render_report(data_json: str, title: str) -> str:
    """A self-contained page: every style and script inlined, the API's answers in `data_json`.

    `data_json` must be JSON text; it is escaped so that no `<` can close its block.
    """
    safe_data = data_json.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    scripts = [_inline_script(p) for p in SCRIPTS]
    hashes = " ".join(f"'sha256-{_sha256(body)}'" for body in scripts)
    csp = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    icon_svg = (STATIC_DIR / ICON).read_bytes()
    return _SHELL.format(
        csp=f'<meta http-equiv="Content-Security-Policy" content="{html.escape(csp)}">\n',
        title=html.escape(title),
        icon=f'<link rel="icon" href="data:image/svg+xml;base64,{base64.b64encode(icon_svg).decode()}">',
        styles="\n".join(f"<style>\n{_read(p)}\n</style>" for p in STYLES),
        mode="report",
        data=f'<script type="application/json" id="ef-data">{safe_data}</script>\n',
        scripts="\n".join(f"<script>{body}</script>" for body in scripts),
    )


def _read(relative: str) -> str:
    return (STATIC_DIR / relative).read_text(encoding="utf-8")


def _inline_script(relative: str) -> str:
    # "</script" inside a script (in a string or a comment) would end the element early;
    # "<\\/" means the same to JavaScript in strings and regular expressions.
    return _read(relative).replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
