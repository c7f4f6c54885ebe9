"""Runs inside the sandbox: load the user's evaluator, run its stage(s), send the result.

    python -m evaluators.program.harness --evaluator /abs/evaluator.py --program program.py \
        [--thresholds 0.5,0.8]

The evaluator follows the OpenEvolve contract: `evaluate(program_path) -> dict`, or a cascade
`evaluate_stage1/2/3(program_path)`. The result channel is opened before the evaluator is
imported, so nothing the evaluator starts inherits it. What is sent:

    {"stages": [{"name", "ok", "seconds", "message", "log"[, "fault"]}, ...],
     "metrics": {name: finite float}, "text": {name: str}, "invalid": {name: repr},
     "notes": [str, ...]}

`metrics` and `text` are those of the last stage that ran. Values that are not finite numbers
(NaN, infinities, bools, other types) never reach `metrics`: non-finite numbers are listed in
`invalid`, other types in `notes`. Standard library only.

A stage whose function raised or returned something that is not a dict carries `fault`:
"candidate" when the exception came from the candidate (a frame of its traceback, or of an
exception it was raised from, lies in the candidate's file, or it is a subprocess error whose
command ran that file), else "evaluator" (the evaluator's own code failed, or it broke the
contract by returning a non-dict). The controller side turns "evaluator" into
`EvalResult.evaluator_error`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time
import traceback
from typing import Any

from sandbox.channel import ChannelError, open_result_channel

MAX_TEXT = 16_000  # characters kept of each text field
MAX_LOG = 4_000  # characters of traceback kept per stage
STAGE_FUNCTIONS = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")


class NoEntryPoint(Exception):
    """The evaluator file defines neither evaluate() nor evaluate_stage1()."""


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _failure(exc: BaseException) -> tuple[str, str]:
    """(one-line message, traceback tail) for an exception raised by the evaluator."""
    log = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, SyntaxError):  # its str() keeps the file and line: "expected ':' (evaluator.py, line 3)"
        message = f"{type(exc).__name__}: {exc}"
    else:
        message = _last_line("".join(traceback.format_exception_only(type(exc), exc))) or type(exc).__name__
    return message, log[-MAX_LOG:]


def load_evaluator(path: str) -> Any:
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)  # evaluators may import helper files beside them
    spec = importlib.util.spec_from_file_location("evoforge_user_evaluator", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def split_values(returned: Any) -> tuple[dict[str, float], dict[str, str], dict[str, str], list[str]]:
    """Sort what an evaluate function returned into (metrics, text, invalid numbers, notes)."""
    if hasattr(returned, "metrics") and not isinstance(returned, dict):  # OpenEvolve EvaluationResult
        merged = dict(getattr(returned, "metrics", None) or {})
        merged.update(getattr(returned, "artifacts", None) or {})
        returned = merged
    if not isinstance(returned, dict):
        shown = repr(returned)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise TypeError(f"returned {type(returned).__name__} {shown}, expected a dict of metrics")
    metrics: dict[str, float] = {}
    text: dict[str, str] = {}
    invalid: dict[str, str] = {}
    notes: list[str] = []
    for key, value in returned.items():
        key = str(key)
        if isinstance(value, bool):
            notes.append(f"ignored {key!r}: a bool is not a metric")
        elif isinstance(value, (int, float)):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number):
                metrics[key] = number
            else:
                invalid[key] = repr(number)
        elif isinstance(value, str):
            text[key] = value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + " [...]"
        elif hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
            try:
                split = split_values({key: value.item()})
            except Exception:  # noqa: BLE001 - a broken scalar is only noted
                notes.append(f"ignored {key!r}: {type(value).__name__} is not a number")
                continue
            metrics.update(split[0])
            text.update(split[1])
            invalid.update(split[2])
            notes.extend(split[3])
        else:
            notes.append(f"ignored {key!r}: {type(value).__name__} is neither a number nor text")
    return metrics, text, invalid, notes


def from_candidate(exc: BaseException, program: str) -> bool:
    """Whether `exc` came from the candidate at `program` rather than from the evaluator's own code.

    True when a frame of its traceback, or of an exception in its cause/context chain, runs
    the candidate's file (the evaluator imported or exec'd it and it raised), or when it is a
    subprocess error (CalledProcessError, TimeoutExpired) whose command names that file.
    """
    program = os.path.abspath(program)
    name = os.path.basename(program)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for frame, _ in traceback.walk_tb(current.__traceback__):
            if os.path.abspath(frame.f_code.co_filename) == program:
                return True
        cmd = getattr(current, "cmd", None)
        if type(current).__module__ == "subprocess" and cmd is not None:
            args = [cmd] if isinstance(cmd, (str, bytes, os.PathLike)) else list(cmd)
            words = " ".join(os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in args).split()
            if any(os.path.basename(w) == name for w in words):
                return True
        current = current.__cause__ or current.__context__
    return False


def _where(exc: BaseException, evaluator_file: str | None) -> str:
    """' (evaluator.py line 12)': the deepest line of the evaluator's file the exception passed."""
    if not evaluator_file:
        return ""
    target = os.path.abspath(evaluator_file)
    lines = [line for frame, line in traceback.walk_tb(exc.__traceback__)
             if os.path.abspath(frame.f_code.co_filename) == target]
    return f" ({os.path.basename(target)} line {lines[-1]})" if lines else ""


def run_stages(module: Any, program: str, thresholds: list[float]) -> dict[str, Any]:
    """Run `evaluate` or the cascade; the payload to send (without the load stage)."""
    names = []
    for name in STAGE_FUNCTIONS:  # the cascade: stage1, stage2, ... while they exist, in order
        if not callable(getattr(module, name, None)):
            break
        names.append(name)
    if not names:
        if not callable(getattr(module, "evaluate", None)):
            raise NoEntryPoint("the evaluator defines no evaluate(program_path) function")
        names = ["evaluate"]
    payload: dict[str, Any] = {"stages": [], "metrics": {}, "text": {}, "invalid": {}, "notes": []}
    for index, name in enumerate(names):
        stage = {"name": name, "ok": False, "seconds": 0.0, "message": "", "log": ""}
        payload["stages"].append(stage)
        start = time.perf_counter()
        try:
            returned = getattr(module, name)(program)
        except Exception as exc:  # noqa: BLE001 - the evaluator's failure is the result
            stage["message"], stage["log"] = _failure(exc)
            stage["fault"] = "candidate" if from_candidate(exc, program) else "evaluator"
            if stage["fault"] == "evaluator":
                stage["message"] += _where(exc, getattr(module, "__file__", None))
        else:
            try:
                metrics, text, invalid, notes = split_values(returned)
            except Exception as exc:  # noqa: BLE001 - not a dict: the evaluator broke the contract
                shown = str(exc) if isinstance(exc, TypeError) else f"returned what cannot be read: {_failure(exc)[0]}"
                stage.update(message=f"{name}() {shown}", fault="evaluator")
        stage["seconds"] = time.perf_counter() - start
        if "fault" in stage:
            payload.update(metrics={}, text={}, invalid={})
            break
        payload.update(metrics=metrics, text=text, invalid=invalid)
        payload["notes"].extend(f"{name}: {note}" for note in notes)
        stage["ok"] = True
        if text.get("error"):
            stage["ok"], stage["message"] = False, _last_line(text["error"])[:500]
            break
        if index + 1 < len(names) and index < len(thresholds):
            score = metrics.get("combined_score")
            if score is None or score < thresholds[index]:
                shown = "no combined_score" if score is None else f"combined_score {score:g}"
                stage["message"] = f"{shown} below the threshold {thresholds[index]:g}; later stages skipped"
                break
    return payload


def main(argv: list[str] | None = None) -> int:
    channel = open_result_channel()  # first: before any user code is imported
    parser = argparse.ArgumentParser(prog="python -m evaluators.program.harness")
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--thresholds", default="")
    args = parser.parse_args(argv)
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
    program = os.path.abspath(args.program)

    start = time.perf_counter()
    try:
        module = load_evaluator(args.evaluator)
    except Exception as exc:  # noqa: BLE001 - reported as the "load" stage
        message, log = _failure(exc)
        stage = {"name": "load", "ok": False, "seconds": time.perf_counter() - start, "message": message, "log": log}
        channel.send({"stages": [stage], "metrics": {}, "text": {}, "invalid": {}, "notes": []})
        return 0
    load = {"name": "load", "ok": True, "seconds": time.perf_counter() - start, "message": "", "log": ""}
    try:
        payload = run_stages(module, program, thresholds)
    except NoEntryPoint as exc:
        load.update(ok=False, message=str(exc))
        payload = {"stages": [], "metrics": {}, "text": {}, "invalid": {}, "notes": []}
    payload["stages"].insert(0, load)
    try:
        channel.send(payload)
    except ChannelError:  # too big: the text fields go, the verdict stays
        payload.update(text={}, notes=payload["notes"][:20] + ["text fields dropped: the result was too big"])
        channel.send(payload)
    return 0


if __name__ == "__main__":
    code = main()
    # The verdict is sent: leave now, so that threads or atexit handlers the evaluator left
    # behind cannot hold the job open until its time limit.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
