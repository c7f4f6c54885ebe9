"""`agent suite run` as a real process on the CPU: tiny KernelBench problems (tests/fixtures/suite)
made into tasks, each run by `agent evolve` against the fake OpenAI server over HTTP, judged in
Triton's interpreter, recorded in a real SQLite store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("triton")

from archives.store import Store, StoreError  # noqa: E402
from tests.e2e.helpers import QUADRATIC, run_agent, start_agent  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "suite"
PROBLEMS = FIXTURES / "problems"
# A marker in each problem's description (its Model's docstring) -> the fixture that answers it.
MARKERS = {"ReLU": "relu", "x * scale + 1": "scale_shift"}
MODEL = ("--model", "openai/fake-coder")
BUDGET = ("--evaluations", "2")


def problem_of(request: dict) -> str | None:
    text = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    return next((name for marker, name in MARKERS.items() if marker in text), None)


def answer(request: dict) -> Reply:
    """A correct Triton kernel for the problem the prompt is about, as a whole program."""
    name = problem_of(request)
    if name is None:
        return Reply("I cannot tell which problem this is.")
    return Reply(f"Here is a kernel.\n```python\n{(FIXTURES / 'answers' / f'{name}.py').read_text()}```\n")


def problems_folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name in names:
        shutil.copy(PROBLEMS / f"{name}.py", folder)
    return folder


def suite_run(*args: str, cwd: Path, timeout: float = 600):
    return run_agent("suite", "run", *args, cwd=cwd, timeout=timeout)


def rows(url: str, suite: str) -> dict:
    with Store(url) as store:
        return {p.name: p for p in store.suite_problems(suite)}


def rows_once_made(url: str, suite: str) -> dict:
    """The suite's rows, or none while the suite's process is still making the store."""
    try:
        with Store(url, create=False) as store:
            return {p.name: p for p in store.suite_problems(suite)}
    except StoreError:
        return {}


def has_correct(url: str, run_id: str) -> bool:
    with Store(url) as store:
        return bool(store.best_programs(run_id, 1))


def waiting_for_each_other(names: set[str]):
    """A responder whose first request of each problem waits (in flight) until every problem of
    `names` has asked: an Event that is set only if the problems' evolves ran at the same time."""
    seen: set[str] = set()
    together = threading.Event()
    lock = threading.Lock()

    def respond(request: dict) -> Reply:
        name = problem_of(request)
        with lock:
            first = name not in seen
            seen.add(name)
            if seen >= names:
                together.set()
        if first:
            together.wait(timeout=240)
        return answer(request)

    return respond, together


@pytest.fixture(scope="module")
def level(tmp_path_factory):
    """A suite of 3 problems (two good, one whose reference raises) and a helper module, run
    once, two problems at once."""
    tmp = tmp_path_factory.mktemp("suite")
    shutil.copytree(PROBLEMS, tmp / "level")
    url = f"sqlite:///{tmp / 'suites.db'}"
    respond, together = waiting_for_each_other({"relu", "scale_shift"})
    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        done = suite_run("level", *MODEL, "--api-base", server.url, "--store", url, *BUDGET, "--parallel", "2", cwd=tmp)
        requests = len(server.requests)
    return tmp, url, done, requests, together.is_set() and server.max_in_flight >= 2


def test_a_suite_records_every_problem_with_finished_and_cannot_run_rows(level):
    tmp, url, done, requests, _ = level
    assert done.returncode == 0, done.stdout + done.stderr
    found = rows(url, "level")
    assert sorted(found) == ["broken_reference", "relu", "scale_shift"]
    broken = found["broken_reference"]
    assert broken.status == "cannot_run" and broken.run_id is None
    assert "this reference is broken on purpose" in broken.reason and "\n" not in broken.reason
    for name in ("relu", "scale_shift"):
        row = found[name]
        assert row.status == "finished" and row.run_id and row.finished_at, row
        assert has_correct(url, row.run_id), name  # the fake LLM's kernel passed the interpreter's checks
        assert Path(row.task_file) == tmp / "suites" / "level" / name / "task.yaml"
    # The helper module is listed as skipped; each problem has its progress line with its outcome.
    assert "skipped " in done.stdout and "shared_helpers.py: not a KernelBench problem file" in done.stdout
    assert "[1/3] broken_reference: cannot run: " in done.stdout
    assert "[2/3] relu: correct, not timed, 2 evaluations, $0.00" in done.stdout
    assert "[3/3] scale_shift: correct, not timed, 2 evaluations, $0.00" in done.stdout
    assert "agent suite report level" in done.stdout
    assert requests >= 2


def test_a_second_run_with_another_budget_under_the_same_name_is_one_line(level):
    tmp, url, *_ = level
    again = suite_run("level", "--store", url, "--evaluations", "3", cwd=tmp, timeout=120)
    assert again.returncode == 2
    assert again.stderr.count("\n") == 1
    assert again.stderr.startswith("error: suite 'level' was run with --evaluations 2 (this command: 3)")


def test_the_suite_is_listed_reported_and_compared_from_the_store(level):
    tmp, url, *_ = level
    listed = run_agent("suite", "list", "--store", url, cwd=tmp)
    assert listed.returncode == 0 and listed.stdout == "level: 3 problems, 2 correct (cannot_run 1, finished 2)\n"
    written = run_agent("suite", "report", "level", "--store", url, "--out", "level.json", cwd=tmp)
    assert written.returncode == 0 and written.stdout == "wrote level.json\n", written.stderr
    report = json.loads((tmp / "level.json").read_text())
    assert (report["problems"], report["correct"], report["evaluations"]) == (3, 2, 4)
    assert {r["name"]: r["correct"] for r in report["rows"]} == {"broken_reference": False, "relu": True,
                                                                 "scale_shift": True}
    compared = run_agent("suite", "compare", "level", "level", "--store", url, cwd=tmp)
    assert compared.returncode == 0 and "| relu |" in compared.stdout, compared.stderr
    wrong = run_agent("suite", "report", "level", "--store", url, "--out", "level.pdf", cwd=tmp)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "unknown report format '.pdf'" in wrong.stderr
    missing = run_agent("suite", "report", "nope", "--store", url, cwd=tmp)
    assert missing.returncode == 2 and missing.stderr == "error: no suite 'nope' in this store (suites there: level)\n"


def test_running_a_done_suite_again_runs_nothing(level):
    tmp, url, *_ = level
    with Store(url) as store:
        before = len(store.list_runs())
    with FakeOpenAIServer() as server:
        again = suite_run("--name", "level", "--store", url, "--api-base", server.url, cwd=tmp, timeout=120)
        assert server.requests == []
    assert again.returncode == 0, again.stderr
    assert "3 of 3 problems done already (finished 2, cannot_run 1): not run again" in again.stdout
    with Store(url) as store:
        assert len(store.list_runs()) == before


def test_a_suite_killed_with_sigkill_resumes_without_running_finished_problems_again(tmp_path):
    folder = problems_folder(tmp_path, "relu", "scale_shift")
    url = f"sqlite:///{tmp_path / 'suites.db'}"
    slow = {"on": True}

    def respond(request: dict) -> Reply:
        reply = answer(request)
        if slow["on"] and problem_of(request) == "scale_shift":
            return Reply(reply.text, delay=30)  # the suite is killed while this answer is awaited
        return reply

    with FakeOpenAIServer() as server:
        server.set_responder(respond)
        suite = start_agent("suite", "run", str(folder), *MODEL, "--api-base", server.url, "--store", url, *BUDGET,
                            cwd=tmp_path)
        try:
            deadline = time.monotonic() + 300
            while True:
                assert suite.poll() is None, suite.communicate()
                assert time.monotonic() < deadline, "the suite did not get to its second problem"
                found = rows_once_made(url, "kb")
                if found.get("relu") and found["relu"].status == "finished" and found["scale_shift"].run_id:
                    break
                time.sleep(0.3)
            os.kill(suite.pid, signal.SIGKILL)
            suite.communicate(timeout=60)
        finally:
            if suite.poll() is None:
                suite.kill()
        interrupted = found["scale_shift"]
        assert interrupted.status == "running"
        # Its evolve stops on its own once the suite is gone (told with SIGTERM), its run `stopped`.
        assert _status_once_not_running(url, interrupted.run_id) == "stopped"
        relu_requests = sum(problem_of(r) == "relu" for r in server.requests)
        slow["on"] = False
        resumed = suite_run("--name", "kb", "--store", url, "--api-base", server.url, cwd=tmp_path)
        assert sum(problem_of(r) == "relu" for r in server.requests) == relu_requests
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "1 of 2 problems done already (finished 1): not run again" in resumed.stdout
    assert f"[2/2] scale_shift: continuing run {interrupted.run_id[:8]}" in resumed.stdout
    found = rows(url, "kb")
    assert found["relu"].status == "finished" and found["scale_shift"].status == "finished"
    assert found["scale_shift"].run_id == interrupted.run_id  # continued, not started again
    with Store(url) as store:
        runs = store.list_runs()
    assert len(runs) == 2 and all(s.run.status == "finished" for s in runs)
    assert has_correct(url, interrupted.run_id)


def test_ctrl_c_stops_the_running_evolves_which_stay_running_to_be_continued(tmp_path):
    folder = problems_folder(tmp_path, "relu")
    url = f"sqlite:///{tmp_path / 'suites.db'}"
    with FakeOpenAIServer() as server:
        server.set_responder(lambda request: Reply(answer(request).text, delay=120))
        suite = start_agent("suite", "run", str(folder), *MODEL, "--api-base", server.url, "--store", url, *BUDGET,
                            cwd=tmp_path)
        try:
            deadline = time.monotonic() + 240
            while not server.requests:  # its evolve waits for the LLM's answer
                assert suite.poll() is None, suite.communicate()
                assert time.monotonic() < deadline, "the evolve never asked the LLM"
                time.sleep(0.3)
            suite.send_signal(signal.SIGINT)
            out, err = suite.communicate(timeout=120)
        finally:
            if suite.poll() is None:
                suite.kill()
    assert suite.returncode == 130, out + err
    assert "[1/1] relu: stopped; it goes on at the next `agent suite run`" in out
    assert f"stopped; continue with: agent suite run --name kb --store {url}" in out
    row = rows(url, "kb")["relu"]
    assert row.status == "running" and row.run_id
    with Store(url) as store:
        assert store.get_run(row.run_id).status == "stopped"  # its evolve stopped cleanly


def _status_once_not_running(url: str, run_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with Store(url) as store:
            status = store.get_run(run_id).status
        if status != "running":
            return status
        time.sleep(0.5)
    raise AssertionError("the evolve of the killed suite did not stop")


def test_an_unreachable_api_base_stops_the_suite_after_the_first_problem(tmp_path):
    folder = problems_folder(tmp_path, "relu", "scale_shift")
    url = f"sqlite:///{tmp_path / 'suites.db'}"
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    done = suite_run(str(folder), *MODEL, "--api-base", dead, "--store", url, *BUDGET, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: suite stopped: relu: LLM preflight failed")
    assert "continue with: agent suite run --name kb" in done.stderr
    assert "[1/2] relu: started" in done.stdout and "[2/2]" not in done.stdout
    found = rows(url, "kb")
    assert {name: row.status for name, row in found.items()} == {"relu": "pending", "scale_shift": "pending"}
    with Store(url) as store:
        assert store.list_runs() == []


def test_a_run_that_fails_is_a_failed_row_and_the_suite_goes_on_with_the_next_task_file(tmp_path):
    """Two task.yaml files of one task name (a program task, no LLM: the built-in tuner), named
    in a list file: one whose evaluator raises on the initial program, one that works."""
    for name in ("judge_down", "works"):
        shutil.copytree(QUADRATIC, tmp_path / name)
    evaluator = tmp_path / "judge_down" / "evaluator.py"
    evaluator.write_text(evaluator.read_text().replace(
        "    source = open(program_path).read()\n", "    raise RuntimeError('the judge is down')\n"))
    (tmp_path / "picks.txt").write_text("judge_down/task.yaml\nworks/task.yaml  # the good one\n")
    url = f"sqlite:///{tmp_path / 'suites.db'}"
    done = suite_run("picks.txt", "--store", url, *BUDGET, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    found = rows(url, "picks")
    assert found["judge_down"].status == "failed" and found["judge_down"].run_id
    assert found["judge_down"].reason.startswith("the evaluator failed on the initial program")
    assert "the judge is down" in found["judge_down"].reason and "\n" not in found["judge_down"].reason
    assert found["works"].status == "finished" and has_correct(url, found["works"].run_id)
    assert found["works"].task_file == str(tmp_path / "works" / "task.yaml")  # run as it is
    assert found["works"].run_id != found["judge_down"].run_id
    assert "[1/2] judge_down: failed: the evaluator failed on the initial program" in done.stdout
    assert "[2/2] works: correct, best fitness " in done.stdout


def test_two_problems_with_one_name_are_one_line(tmp_path):
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        shutil.copy(PROBLEMS / "relu.py", tmp_path / side)
    done = suite_run("a", "b", "--store", f"sqlite:///{tmp_path / 'suites.db'}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: two problems named 'relu': ")
    assert str(tmp_path / "a" / "relu.py") in done.stderr and str(tmp_path / "b" / "relu.py") in done.stderr


def test_kernelbench_problems_without_a_model_are_one_line_before_anything_runs(tmp_path):
    (tmp_path / "kb").mkdir()
    shutil.copy(PROBLEMS / "relu.py", tmp_path / "kb")
    done = suite_run("kb", "--store", f"sqlite:///{tmp_path / 'suites.db'}", cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "pass --model" in done.stderr
    assert not (tmp_path / "suites").exists()


def test_parallel_two_runs_two_problems_at_once(level):
    *_, together = level
    assert together  # relu's and scale_shift's evolves had requests in flight at the same time
