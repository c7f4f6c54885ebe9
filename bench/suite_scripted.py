"""`agent suite run` over the benchmark's Triton ops with scripted LLM answers: a whole suite, offline.

    python bench/suite_scripted.py [--device cuda|cpu] [--ops relu,softmax,...] [--evaluations 4]
                                   [--parallel 2] [--workers 2] [--work runs/suite_scripted] [--resume] [--out DIR]

Each Triton op of bench/ops/catalog.py is one KernelBench-format problem: its reference.py is
copied to <work>/problems/<op>.py (with `--device cpu`, its size constants set to the
catalog's tiny CPU sizes, and no GPU is used: the judge runs the candidates in Triton's
interpreter). `agent suite run` then makes a task of each (as `agent new-task` does) and runs
`agent evolve` on it with the greedy strategy, as a user runs it. No LLM can be reached from a
GPU machine here, so the fake OpenAI-compatible server of the tests (tests/fakes/openai_server.py,
real HTTP on 127.0.0.1) answers: it finds the problem a request is about by the task name in
the prompt ("# Task: relu_triton") and answers with that op's honest candidate.py, then with
the same kernel at other num_warps. Scripted answers measure the harness (the suite runner,
the judge, the store and the report), not a model.

The suite is recorded in <work>/suite.db (under runs/, so `agent view` lists it). Stopped by
Ctrl-C or SIGTERM (e.g. `timeout`), the script has `agent suite run` stop its evolves cleanly
and still writes the report; `--resume` then continues the suite (the same work folder, the
fake server on the same port), as `agent suite run` resumes. Then `agent suite report` writes <gpu>-suite.md and <gpu>-suite.json
under --out ("cpu-suite.*" with `--device cpu`), headed by how they were made.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.ops.catalog import OPS, Op, by_name  # noqa: E402

LANGUAGE = "triton"
WARPS = (4, 2, 16, 1, 32)
"""The num_warps of the answers after the op's own candidate (those equal to it are skipped)."""
NOTE = ("Scripted answers measure the harness (the suite runner, the judge, the store and the report), "
        "not a model: each problem is answered with the benchmark's own honest Triton kernel "
        "(bench/ops/<op>/candidate.py), then with the same kernel at other num_warps.")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_TASK_LINE = re.compile(r"^# Task: (\S+)", re.MULTILINE)


def triton_ops(names: str) -> list[Op]:
    """The ops named (comma-separated), or every Triton op of the catalog."""
    ops = [by_name(n.strip()) for n in names.split(",") if n.strip()] or [o for o in OPS if o.language == LANGUAGE]
    wrong = [o.name for o in ops if o.language != LANGUAGE]
    if wrong:
        raise SystemExit(f"--ops: {', '.join(wrong)} are not Triton ops")
    return ops


def with_sizes(source: str, sizes: dict[str, int]) -> str:
    """`source` with its module-level size constants set to `sizes`."""
    for name, value in sizes.items():
        source, found = re.subn(rf"^{re.escape(name)} = .+$", f"{name} = {value}", source, flags=re.MULTILINE)
        if found != 1:
            raise ValueError(f"the reference has {found} module-level assignments to {name!r}, expected 1")
    return source


def write_problems(ops: list[Op], folder: Path, tiny: bool) -> None:
    """One problem file per op, named after the op."""
    folder.mkdir(parents=True, exist_ok=True)
    for op in ops:
        source = op.reference.read_text()
        (folder / f"{op.name}.py").write_text(with_sizes(source, op.tiny) if tiny else source)


def answers_for(op: Op) -> list[str]:
    """The scripted answers for one op, in order: its candidate, then other num_warps."""
    source = op.candidate.read_text()
    answers = [source]
    for warps in WARPS:
        variant = re.sub(r"num_warps=\w+", f"num_warps={warps}", source)
        if variant not in answers:
            answers.append(variant)
    return answers


class ScriptedAnswers:
    """The fake server's responder: the next answer for the problem a request is about."""

    def __init__(self, ops: list[Op]):
        self._answers = {op.name: answers_for(op) for op in ops}
        self._docs = {op.name: _model_doc(op) for op in ops}
        self._asked = dict.fromkeys(self._answers, 0)
        self._lock = threading.Lock()
        self.unmatched = 0

    def problem_of(self, text: str) -> str | None:
        """The op a prompt is about: by its task name (<op>_triton, as new-task names it), else by
        the reference's Model docstring (the task's description)."""
        for task in _TASK_LINE.findall(text):
            op = task.removesuffix(f"_{LANGUAGE}")
            if op in self._answers:
                return op
        longest_first = sorted(self._answers, key=len, reverse=True)
        for op in longest_first:
            if re.search(rf"(?<![A-Za-z0-9_]){re.escape(op)}_{LANGUAGE}\b", text):
                return op
        return next((op for op in longest_first if self._docs[op] and self._docs[op] in text), None)

    def __call__(self, request: dict):
        from tests.fakes.openai_server import Reply

        text = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        op = self.problem_of(text)
        if op is None:
            with self._lock:
                self.unmatched += 1
            return Reply("The scripted server found no known problem in this request.")
        with self._lock:
            answers = self._answers[op]
            answer = answers[self._asked[op] % len(answers)]
            self._asked[op] += 1
        return Reply(f"```python\n{answer}```")


def _model_doc(op: Op) -> str:
    """The first line of the reference Model's docstring ("" when it has none)."""
    tree = ast.parse(op.reference.read_text())
    model = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model"), None)
    doc = ast.get_docstring(model) if model is not None else None
    return " ".join(doc.split()) if doc else ""


def agent(*args: str, env: dict[str, str]) -> int:
    """`python -m agent.cli ARGS` in the repository, its output shown as it comes."""
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=REPO, env=env).returncode


def run_suite(args: list[str], env: dict[str, str]) -> int:
    """`agent suite run` in a session of its own, while this process serves its LLM: a Ctrl-C or
    SIGTERM here is passed on to it as one SIGINT (it stops its evolves cleanly, to be continued
    with --resume), and it is sent SIGTERM if this process dies first."""
    linux = sys.platform.startswith("linux")
    process = subprocess.Popen([sys.executable, "-m", "agent.cli", *args], cwd=REPO, env=env,
                               start_new_session=True, preexec_fn=_die_with_parent if linux else None)
    passed_on = False

    def pass_on(_signum: int, _frame: object) -> None:
        nonlocal passed_on
        if not passed_on:
            passed_on = True
            process.send_signal(signal.SIGINT)

    saved = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when this process ends (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/suite_scripted.py")
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None,
                        help="cpu: tiny sizes, no GPU (Triton's interpreter); default: cuda when there is one")
    parser.add_argument("--ops", default="", help="comma-separated op names (default: every Triton op)")
    parser.add_argument("--evaluations", type=int, default=4, help="per problem (the first is the starting program)")
    parser.add_argument("--parallel", type=int, default=2, help="problems at once")
    parser.add_argument("--workers", type=int, default=2, help="evaluation workers per problem")
    parser.add_argument("--work", default=str(REPO / "runs" / "suite_scripted"),
                        help="problems, tasks and the store (emptied unless --resume)")
    parser.add_argument("--resume", action="store_true", help="continue the suite in --work")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args(argv)

    from bench.evolve_scripted import gpu_name
    from bench.kernels import gpu_slug
    from tests.fakes.openai_server import FakeOpenAIServer

    ops = triton_ops(args.ops)
    device = args.device or ("cuda" if gpu_name() else "cpu")
    gpu = gpu_name() if device == "cuda" else ""
    if device == "cuda" and not gpu:
        raise SystemExit("--device cuda: torch sees no GPU here")
    slug = gpu_slug(gpu) if gpu else "cpu"
    name = f"scripted-{slug}"
    work, out = Path(args.work).resolve(), Path(args.out)
    port_file = work / "server_port"
    if args.resume and not port_file.is_file():
        raise SystemExit(f"--resume: {work} holds no scripted suite to continue")
    if not args.resume:
        shutil.rmtree(work, ignore_errors=True)
        write_problems(ops, work / "problems", tiny=device == "cpu")
    out.mkdir(parents=True, exist_ok=True)
    store = f"sqlite:///{work / 'suite.db'}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the judge then runs the candidates in Triton's interpreter

    responder = ScriptedAnswers(ops)
    port = int(port_file.read_text()) if args.resume else 0
    with FakeOpenAIServer(port=port) as server:
        server.set_responder(responder)
        port_file.write_text(server.url.rsplit(":", 1)[1].split("/")[0])
        run_args = ["suite", "run", str(work / "problems"), "--name", name, "--language", LANGUAGE,
                    "--evaluations", str(args.evaluations), "--parallel", str(args.parallel),
                    "--workers", str(args.workers), "--model", "openai/scripted", "--api-base", server.url,
                    "--strategy", "greedy", "--store", store, "--dir", str(work / "tasks")]
        start = time.perf_counter()
        code = run_suite(run_args, env)
        wall = time.perf_counter() - start
    print(f"agent suite run: exit code {code}, {wall:.0f} s; {len(server.requests)} LLM requests, "
          f"{responder.unmatched} naming no known problem", flush=True)

    shown = " ".join(["agent", *run_args]).replace(f"{REPO}{os.sep}", "")
    totals = add_session(work / "sessions.json", wall, len(server.requests), responder.unmatched)
    made = {"device": gpu or "cpu", "command": shown, "exit_code": code, **totals, "note": NOTE}
    markdown, as_json = out / f"{slug}-suite.md", out / f"{slug}-suite.json"
    for path in (markdown, as_json):
        report_code = agent("suite", "report", name, "--store", store, "--out", str(path), env=env)
        if report_code != 0:
            print(f"agent suite report {name} --out {path}: exit code {report_code}", file=sys.stderr)
            return report_code
    markdown.write_text(preamble(made) + markdown.read_text())
    as_json.write_text(json.dumps({"bench": made, **json.loads(as_json.read_text())}, indent=2) + "\n")
    print(markdown.read_text())
    return code


def add_session(path: Path, wall: float, requests: int, unmatched: int) -> dict:
    """This invocation's wall time and LLM requests added to those of the invocations before it
    (a resumed suite's report counts them all)."""
    totals = json.loads(path.read_text()) if path.is_file() else {"sessions": 0, "wall_s": 0.0, "llm_requests": 0,
                                                                    "unmatched_requests": 0}
    totals = {"sessions": totals["sessions"] + 1, "wall_s": round(totals["wall_s"] + wall, 1),
              "llm_requests": totals["llm_requests"] + requests,
              "unmatched_requests": totals["unmatched_requests"] + unmatched}
    path.write_text(json.dumps(totals))
    return totals


def preamble(made: dict) -> str:
    """What the report is and how it was made, above `agent suite report`'s markdown."""
    return "\n".join([
        f"# A suite with scripted LLM answers on {made['device'] if made['device'] != 'cpu' else 'the CPU'}", "",
        f"> {made['note']}", "",
        f"Written by `python bench/suite_scripted.py`: `{made['command']}` (exit code {made['exit_code']}; "
        f"{made['wall_s']} s wall in {made['sessions']} invocation(s) of the script, `--resume` continuing the "
        f"suite; {made['llm_requests']} LLM requests, {made['unmatched_requests']} naming no known problem), "
        "then `agent suite report`.", "", "",
    ])


if __name__ == "__main__":
    sys.exit(main())
