"""The viewer's web app: a read-only JSON API over the store plus the static single page.

Only GET (and HEAD) routes exist. Every response carries a strict Content-Security-Policy
(scripts from this origin only, nothing fetched elsewhere), and requests whose Host header
is not the address the viewer serves are refused, so another web page cannot read the store
through DNS rebinding.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from agent.viewer.catalog import Catalog, NotFound
from agent.viewer.data import ViewData, dumps
from agent.viewer.page import STATIC_DIR, render_page
from archives.store import StoreError

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


class _SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _json(value: Any, status: int = 200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


def _endpoint(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """A GET endpoint returning `fn(request)` as JSON; a missing thing is a 404, a bad
    query a 400, a store that cannot be read (e.g. a damaged file) a 500, each with a one-line
    {"error": ...}."""

    def handler(request: Request) -> Response:
        try:
            return _json(fn(request))
        except NotFound as exc:
            return _json({"error": str(exc)}, 404)
        except StoreError as exc:
            return _json({"error": str(exc)}, 500)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)

    return handler


def _int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {raw!r}") from None


def _routes(data: ViewData) -> list[Route]:
    def path(request: Request, name: str) -> str:
        return request.path_params[name]

    def programs(r: Request) -> Any:
        statuses = [s for s in r.query_params.get("status", "").split(",") if s] or None
        order = r.query_params.get("order", "seq")
        return data.programs(path(r, "run"), statuses, order, _int(r, "offset", 0), _int(r, "limit", 50))

    api = {
        "/api/runs": lambda r: data.runs(),
        "/api/suites": lambda r: data.suites(),
        "/api/suites/{suite:path}": lambda r: data.suite(path(r, "suite")),
        "/api/runs/{run}": lambda r: data.run(path(r, "run")),
        "/api/runs/{run}/points": lambda r: data.points(path(r, "run")),
        "/api/runs/{run}/programs": programs,
        "/api/runs/{run}/tree": lambda r: data.tree(path(r, "run")),
        "/api/runs/{run}/tree/{generation:int}": lambda r: data.tree_level(
            path(r, "run"), r.path_params["generation"], _int(r, "offset", 0), _int(r, "limit", 500)
        ),
        "/api/runs/{run}/strategy": lambda r: data.strategy(path(r, "run")),
        "/api/runs/{run}/spend": lambda r: data.spend(path(r, "run")),
        "/api/runs/{run}/spend/outcomes": lambda r: data.spend_outcomes(path(r, "run")),
        "/api/runs/{run}/stages": lambda r: data.stages(path(r, "run")),
        "/api/runs/{run}/proposer": lambda r: data.proposer(path(r, "run")),
        "/api/runs/{run}/programs/{program}": lambda r: data.program(path(r, "run"), path(r, "program")),
        "/api/runs/{run}/programs/{program}/children": lambda r: data.children(
            path(r, "run"), path(r, "program"), _int(r, "offset", 0), _int(r, "limit", 100)
        ),
        "/api/runs/{run}/programs/{program}/diff": lambda r: data.diff(
            path(r, "run"), path(r, "program"), r.query_params.get("against") or None
        ),
    }
    return [Route(p, _endpoint(fn), methods=["GET"]) for p, fn in api.items()]


def create_app(catalog: Catalog, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The viewer app over `catalog`. `allowed_hosts`: Host header values accepted (default:
    the loopback names); pass ["*"] when serving on a public interface on purpose."""
    data = ViewData(catalog)
    page = render_page()

    def index(request: Request) -> Response:
        return HTMLResponse(page)

    def api_missing(request: Request) -> Response:
        return _json({"error": f"no API endpoint {request.url.path}"}, 404)

    routes = [
        Route("/", index, methods=["GET"]),
        *_routes(data),
        Route("/api/{rest:path}", api_missing, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    hosts = list(allowed_hosts or LOOPBACK)
    middleware = [Middleware(_SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)]
    app = Starlette(debug=False, routes=routes, middleware=middleware)
    app.state.data = data
    return app
