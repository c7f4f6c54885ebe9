"""A fake OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, scripted replies.

A `responder(request_json) -> Reply` decides each answer: text, an HTTP error (with an
optional Retry-After), a raw body of any kind (invalid JSON, an HTML page, a completion without
`choices`), the usage to report (so a priced model's calls cost what a test wants), and
optionally a delay before answering (cut short when the server stops). The default responder
replays a queue of replies and repeats the last one. Every request body is recorded.

The preflight's probe (agent/llm/preflight.py: a tiny request sent before a run starts) is
answered "OK" by the server itself and recorded in `probes`, not `requests`, so scripted
replies and request counts stay those of the run; `script_probes=True` hands probes to the
responder like any other request (to script a failing preflight).

    with FakeOpenAIServer([Reply(status=429, retry_after=1), Reply("hello")]) as server:
        ... # point a client at server.url

Standalone, for end-to-end tests that start `agent evolve` as a subprocess:

    python -m tests.fakes.openai_server --port 0 --text "..."   # prints its URL first
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATHS = ("/v1/chat/completions", "/chat/completions")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: `text` on success, or an HTTP error `status`, after `delay` seconds.

    `text=None` answers a completion whose content is null. `body`, when set, is sent as it is
    (with `status` and `content_type`) instead of a completion or an error. `prompt_tokens` and
    `completion_tokens` replace the usage the server would report (about 4 characters a token).
    """

    text: str | None = "ok"
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0
    error_message: str | None = None
    body: str | bytes | None = None
    content_type: str = "application/json"
    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_type: str | None = None


Responder = Callable[[dict], Reply]


class _QueueResponder:
    """Replays the replies in order, then repeats the last one."""

    def __init__(self, replies: Iterable[Reply | str]):
        self._replies = [Reply(r) if isinstance(r, str) else r for r in replies] or [Reply()]
        self._lock = threading.Lock()
        self._next = 0

    def __call__(self, request: dict) -> Reply:
        with self._lock:
            reply = self._replies[min(self._next, len(self._replies) - 1)]
            self._next += 1
            return reply


class FakeOpenAIServer:
    """An OpenAI-compatible /chat/completions endpoint in a daemon thread."""

    def __init__(
        self, replies: Iterable[Reply | str] = (), *, port: int = 0, host: str = "127.0.0.1", script_probes: bool = False
    ):
        self._host, self._port = host, port
        self.script_probes = script_probes
        self._probes: list[dict] = []
        self._responder: Responder = _QueueResponder(replies)
        self._lock = threading.Lock()
        self._requests: list[dict] = []
        self._headers: list[dict[str, str]] = []
        self._in_flight = 0
        self.max_in_flight = 0
        """Most requests being handled at the same moment (for concurrency tests)."""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        self._stopping.clear()
        handler = type("_BoundHandler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer((self._host, self._port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends the delays of replies still waiting
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- scripting and inspection -------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict]:
        """A copy of every request body received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def probes(self) -> list[dict]:
        """The preflight probes the server answered itself (none with `script_probes`)."""
        with self._lock:
            return list(self._probes)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The HTTP headers of every request (lower-case names), parallel to `requests`."""
        with self._lock:
            return list(self._headers)

    def set_responder(self, responder: Responder) -> None:
        self._responder = responder

    def set_replies(self, replies: Iterable[Reply | str]) -> None:
        self._responder = _QueueResponder(replies)

    # --- used by the handler ----------------------------------------------------------------

    def _begin(self, body: dict, headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def _probe(self, body: dict) -> None:
        with self._lock:
            self._probes.append(body)

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a cancelled call, a process that ended) is no error of ours."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.split("?")[0].rstrip("/") not in _PATHS:
            self._send_json(404, _error_body(f"no route {self.path}", "not_found"))
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, _error_body("request body is not JSON", "invalid_request_error"))
            return
        if not self.fake.script_probes and is_probe(body):
            self.fake._probe(body)
            self._send_json(200, _completion_body(body, Reply("OK")))
            return
        self.fake._begin(body, {k.lower(): v for k, v in self.headers.items()})
        try:
            reply = self.fake._responder(body)
            if reply.delay > 0 and self.fake._stopping.wait(reply.delay):
                return  # the server is stopping: leave without an answer
            if reply.body is not None:
                data = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
                self._send_raw(reply.status, data, reply.content_type)
            elif reply.status != 200:
                headers = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
                message = reply.error_message or _phrase(reply.status)
                kind = reply.error_type or _error_type(reply.status)
                self._send_json(reply.status, _error_body(message, kind), headers)
            else:
                self._send_json(200, _completion_body(body, reply))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
        except Exception as exc:  # a broken responder: say so to the client, visibly
            self._send_json(500, _error_body(f"fake server responder failed: {exc!r}", "server_error"))
        finally:
            self.fake._end()

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _send_raw(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def is_probe(request: dict) -> bool:
    """Whether a request body is the preflight's probe."""
    from agent.llm.gateway import PROBE_PROMPT

    return request.get("messages") == [{"role": "user", "content": PROBE_PROMPT}]


def _completion_body(request: dict, reply: Reply) -> dict:
    text = reply.text
    prompt_chars = sum(len(str(m.get("content", ""))) for m in request.get("messages", []))
    prompt_tokens = max(1, prompt_chars // 4) if reply.prompt_tokens is None else reply.prompt_tokens
    completion_tokens = (max(1, len(text) // 4) if text else 0) if reply.completion_tokens is None else reply.completion_tokens
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"status {status}"


def _error_type(status: int) -> str:
    return {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        402: "insufficient_quota",
        404: "not_found",
        429: "rate_limit_exceeded",
    }.get(status, "server_error")


def _error_body(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake OpenAI-compatible chat server.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--text", default="ok", help="the text of every answer")
    args = parser.parse_args(argv)
    serve_until_interrupted(FakeOpenAIServer([Reply(args.text)], port=args.port))


def serve_until_interrupted(server: FakeOpenAIServer) -> None:
    """Start `server`, print its URL first, and serve until Ctrl-C or SIGINT (standalone use)."""
    server.start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
