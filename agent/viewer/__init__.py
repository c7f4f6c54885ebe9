"""The web viewer: `agent view` (a read-only web app over the store) and `agent report`.

- catalog.py: the stores read (given URLs, or every runs/*.db), opened read-only
- data.py: what each API endpoint answers, as JSON-ready dicts
- diffs.py: line diffs computed on the server
- suites.py: the suites of `agent suite run`, as rows and as their reports (agent/suites)
- app.py: the Starlette app (JSON API + the static page), with its security headers
- page.py: the HTML page, served or inlined; report.py: the self-contained report
- serve.py: uvicorn on 127.0.0.1 by default
- static/: the page's scripts and styles; static/vendor/: uPlot, d3, highlight.js

Starlette and uvicorn are imported only by the modules that serve.
"""

from agent.viewer.catalog import Catalog, NotFound
from agent.viewer.data import ViewData

__all__ = ["Catalog", "NotFound", "ViewData"]
