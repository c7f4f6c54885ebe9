"""`agent view`: serve the viewer with uvicorn on a socket bound before the URL is printed."""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable

from agent.viewer.app import LOOPBACK, create_app
from agent.viewer.catalog import Catalog

WILDCARDS = ("0.0.0.0", "::", "")


def allowed_hosts(host: str) -> list[str]:
    """Host header values to accept when serving on `host` (any, when bound to all interfaces)."""
    if host in WILDCARDS:
        return ["*"]
    return sorted({host, *LOOPBACK})


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one. Raises OSError."""
    family = socket.AF_INET
    try:
        if ipaddress.ip_address(host).version == 6:
            family = socket.AF_INET6
    except ValueError:
        pass  # a name such as "localhost"
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in WILDCARDS else host
    return f"http://[{shown}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def serve(catalog: Catalog, host: str, port: int, echo: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C). Prints the URL once the socket is listening."""
    import uvicorn

    sock = bind(host, port)
    app = create_app(catalog, allowed_hosts=allowed_hosts(host))
    echo(f"evoforge viewer: {url_of(sock, host)}  (read-only; Ctrl-C to stop)")
    if host in WILDCARDS:
        echo("warning: serving on every network interface; anyone who can reach this machine can read the runs")
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off")
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        catalog.close()
