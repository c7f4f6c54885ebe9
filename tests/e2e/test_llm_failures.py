"""A misconfigured or misbehaving LLM ends `agent evolve` loudly: `agent` as a subprocess against
the fake OpenAI server over real HTTP (or a closed port), checked by exit code, the one line on
stderr, the run's status in the store and the requests the server saw."""

from __future__ import annotations

import itertools
import json
import socket
from pathlib import Path

import pytest

from archives.records import Status
from archives.store import Store
from tests.e2e.helpers import copy_task, only_run, run_agent
from tests.fakes.openai_server import FakeOpenAIServer, Reply

PROGRAM = '# EVOLVE-BLOCK-START\nX = {x!r}\n# EVOLVE-BLOCK-END\n\nif __name__ == "__main__":\n    print(X)\n'
MODEL = "openai/fake-coder"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def evolve(tmp_path: Path, *options: str, task: Path | None = None):
    task = task or copy_task(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    proc = run_agent("evolve", str(task), "--store", url, "-q", *options, cwd=tmp_path)
    return proc, url


def the_error_line(proc) -> str:
    """The one `error:` line on stderr, after asserting there is exactly one and no traceback."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def runs_in(url: str) -> list:
    if not Path(url.removeprefix("sqlite:///")).exists():
        return []
    with Store(url) as store:
        return store.list_runs()


def good_answer(x: float) -> Reply:
    return Reply(f"Move X.\n```python\n{PROGRAM.format(x=x)}```\n")


# --- the preflight: nothing is created -----------------------------------------------------------


def test_no_api_key_fails_before_any_request_and_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAIServer(script_probes=True) as server:
        # A request, were one sent, would reach the fake server: litellm reads these variables.
        monkeypatch.setenv("OPENAI_API_BASE", server.url)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        proc, url = evolve(tmp_path, "--model", "openai/gpt-4o-mini")
        requests = server.requests
    assert the_error_line(proc) == (
        "error: LLM preflight failed, no run started: openai/gpt-4o-mini: no API key: OPENAI_API_KEY is not set "
        "(or name the variable with api_key_env)"
    )
    assert requests == [] and runs_in(url) == []


def test_an_unreachable_api_base_fails_at_once(tmp_path):
    api_base = closed_port_url()
    proc, url = evolve(tmp_path, "--model", MODEL, "--api-base", api_base)
    line = the_error_line(proc)
    assert line.startswith(f"error: LLM preflight failed, no run started: {MODEL}: cannot reach {api_base}: "
                           "connection failed"), line  # fmt: skip
    assert runs_in(url) == []


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(status=401, error_message="Incorrect API key provided"), "HTTP 401 authentication failed"),
        (Reply(status=404, error_message="The model `fake-coder` does not exist"),
         "HTTP 404 model or endpoint not found: The model `fake-coder` does not exist"),
    ],
    ids=["401", "unknown-model"],
)
def test_a_refused_preflight_names_the_model_and_the_cause(tmp_path, reply, words):
    with FakeOpenAIServer([reply], script_probes=True) as server:
        proc, url = evolve(tmp_path, "--model", MODEL, "--api-base", server.url)
        requests = server.requests
    assert the_error_line(proc).startswith(f"error: LLM preflight failed, no run started: {MODEL}: {words}")
    assert len(requests) == 1 and runs_in(url) == []


# --- during a run: a streak of one external cause stops it ---------------------------------------


def test_a_key_refused_during_the_run_stops_it_as_failed_after_a_few_calls(tmp_path):
    with FakeOpenAIServer([Reply(status=401, error_message="Incorrect API key provided")]) as server:
        proc, url = evolve(tmp_path, "--model", MODEL, "--api-base", server.url, "--evaluations", "30")
        requests, probes = server.requests, server.probes
    line = the_error_line(proc)
    assert line.startswith(f"error: {MODEL}: HTTP 401 authentication failed"), line
    assert line.endswith("(3 LLM calls in a row failed this way; the run stops)")
    assert len(probes) == 1 and 3 <= len(requests) <= 3 + 4  # the streak, and the calls already in flight
    summary = only_run(url)
    assert summary.run.status == "failed" and "HTTP 401" in summary.run.notes
    assert not [p for p in Store(url).programs(summary.run.id) if p.status == Status.PENDING]

    show = run_agent("show", summary.run.id[:8], "--store", url, cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    assert f"failed LLM calls: {MODEL}: HTTP 401 authentication failed" in " ".join(show.stdout.split())


def test_a_server_answering_html_stops_the_run_naming_what_came_back(tmp_path):
    page = Reply(body="<html><head><title>Login</title></head></html>", content_type="text/html")
    with FakeOpenAIServer([page]) as server:
        proc, url = evolve(tmp_path, "--model", MODEL, "--api-base", server.url, "--evaluations", "30")
        requests = server.requests
    line = the_error_line(proc)
    assert line.startswith(f"error: {MODEL}: malformed answer, an HTML page: starts '<html><head><title>Login"), line
    assert "HTTP 500" not in line and len(requests) <= 3 + 4
    assert only_run(url).run.status == "failed"


# --- malformed answers between good ones: each named, none retried, none evaluated ---------------

HUGE = "X = 2.0\n" + "# padding\n" * 500_000  # a 5 MB "program"
BAD_ANSWERS = {
    "invalid JSON": (Reply(body='{"choices": [ {'), "malformed answer, not valid JSON"),
    "HTML": (Reply(body="<html><body>502</body></html>", content_type="text/html"), "malformed answer, an HTML page"),
    "no choices": (Reply(body=json.dumps({"id": "x", "object": "chat.completion", "created": 1, "model": "m"})),
                   "malformed answer, no 'choices' in the body"),
    "empty": (Reply(None, finish_reason="length"), "empty answer (max_tokens 4096 reached before any text)"),
    "huge": (Reply(f"```python\n{HUGE}```"), "answer too large (over llm.max_answer_chars, 200,000)"),
}


def test_malformed_answers_are_named_not_retried_and_not_evaluated(tmp_path):
    task = copy_task(tmp_path)
    task.write_text(task.read_text() + "llm:\n  concurrency: 1\n")  # answers in a known order
    bad = list(BAD_ANSWERS.values())
    counter = itertools.count()

    def respond(request: dict) -> Reply:
        k = next(counter)
        return bad[k // 2][0] if k % 2 == 0 and k // 2 < len(bad) else good_answer(1.0 + 0.1 * k)

    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        proc, url = evolve(tmp_path, "--model", MODEL, "--api-base", server.url, "--evaluations", "8", task=task)
        requests = server.requests
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = only_run(url)
    assert summary.run.status == "finished" and summary.evaluated == 8
    with Store(url) as store:
        calls = store.llm_calls(summary.run.id)
        programs = {p.id: p for p in store.programs(summary.run.id)}
    failed = [c for c in calls if c.error]
    assert len(calls) == len(requests) and len(failed) == len(bad)
    for (_, words), call in zip(bad, failed):
        assert call.error.startswith(f"{MODEL}: {words}"), call.error
        assert call.attempts == 1 and "HTTP 500" not in call.error
        assert programs[call.program_id].status == Status.APPLY_FAILED
    huge_call = failed[-1]
    assert len(huge_call.response) == 8000 and huge_call.response == f"```python\n{HUGE}"[:8000]
    assert max(len(p.source) for p in programs.values()) < 1000
