"""Runs inside the sandbox: load the user's evaluator, run its stage(s), send the result.

    python -m evaluators.program.harness --evaluator /abs/evaluator.py --program program.py \
        [--thresholds 0.5,0.8] [--no-cascade]

The evaluator follows the OpenEvolve contract: `evaluate(program_path)` returns a dict or an
`EvaluationResult` (metrics and artifacts), or a cascade `evaluate_stage1/2/3(program_path)`
runs under OpenEvolve's rules (evaluators/program/openevolve_rules.py); `--no-cascade` runs
`evaluate` alone. `from openevolve.evaluation_result import EvaluationResult` works without
OpenEvolve: evoforge's stand-in (compat/openevolve) is appended to `sys.path`, after any real
one. The result channel is opened before the evaluator is imported, so nothing the evaluator
starts inherits it. What is sent:

    {"stages": [{"name", "ok", "seconds", "message", "log"[, "fault"]}, ...],
     "metrics": {name: finite float}, "text": {name: str}, "invalid": {name: repr},
     "notes": [str, ...], "stopped_early": bool}

`metrics` are those of stage 1 alone, or the merge of every stage that ran (OpenEvolve's rule);
`text` gathers the string values and artifacts of every stage that ran (non-text artifacts,
dicts and lists as JSON); `stopped_early` says a stage missed its threshold. Values that are
not finite numbers never reach `metrics`: non-finite numbers are listed in `invalid`, bools
and other objects in `notes`. Standard library only.

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
import json
import math
import os
import sys
import time
import traceback
from typing import Any

from evaluators.program.openevolve_rules import merge_stages, passes_threshold
from sandbox.channel import ChannelError, open_result_channel

MAX_TEXT = 16_000  # characters kept of each text field
MAX_LOG = 4_000  # characters of traceback kept per stage
STAGE_FUNCTIONS = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")
# Holds evoforge's stand-in for `openevolve.evaluation_result` (evaluators/program/compat/README.md).
SHIM_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compat")


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


def read_result(returned: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics, artifacts) of what an evaluate function returned: a dict, or an EvaluationResult."""
    if not isinstance(returned, dict) and hasattr(returned, "metrics"):  # OpenEvolve's EvaluationResult
        metrics = getattr(returned, "metrics", None)
        artifacts = getattr(returned, "artifacts", None) or {}
        for field, value in (("metrics", metrics), ("artifacts", artifacts)):
            if not isinstance(value, dict):
                raise TypeError(f"returned an {type(returned).__name__} whose {field} is "
                                f"{type(value).__name__}, expected a dict")
        return metrics, artifacts
    if not isinstance(returned, dict):
        shown = repr(returned)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise TypeError(f"returned {type(returned).__name__} {shown}, expected a dict of metrics")
    return returned, {}


def as_text(value: Any) -> str:
    """An artifact or other non-metric value as feedback text: text as is, bytes decoded, the rest as JSON."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            text = repr(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " [...]"


def split_values(returned: dict[str, Any]) -> tuple[dict[str, float], dict[str, str], dict[str, str], list[str]]:
    """Sort a dict of returned values into (metrics, text, invalid numbers, notes).

    Finite numbers are metrics; text, bytes, dicts and lists are text (the last two as JSON);
    non-finite numbers are invalid; None is skipped; bools and other objects are only noted.
    """
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
        elif value is None:
            continue
        elif isinstance(value, (str, bytes, bytearray, dict, list, tuple)):
            text[key] = as_text(value)
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


def _stage_names(module: Any, cascade: bool) -> list[str]:
    names = []
    if cascade:  # the cascade: stage1, stage2, ... while they exist, in order
        for name in STAGE_FUNCTIONS:
            if not callable(getattr(module, name, None)):
                break
            names.append(name)
    if not names:
        if not callable(getattr(module, "evaluate", None)):
            staged = callable(getattr(module, STAGE_FUNCTIONS[0], None))
            off = " (cascade_evaluation is off)" if staged and not cascade else ""
            raise NoEntryPoint(f"the evaluator defines no evaluate(program_path) function{off}")
        names = ["evaluate"]
    return names


def _gate(index: int, names: list[str], thresholds: list[float], metrics: dict[str, Any]) -> str:
    """Why the cascade stops after stage `index` (OpenEvolve's rule), or "" to go on."""
    if index + 1 >= len(names) or not thresholds:
        return ""
    if index >= len(thresholds):
        return f"no cascade threshold for stage {index + 2}; later stages skipped"
    verdict = passes_threshold(metrics, thresholds[index])
    if verdict.passed:
        return ""
    shown = "no numeric metrics" if verdict.score is None else f"{verdict.basis} {verdict.score:g}"
    return f"{shown} below the threshold {thresholds[index]:g}; later stages skipped"


def run_stages(module: Any, program: str, thresholds: list[float], cascade: bool = True) -> dict[str, Any]:
    """Run `evaluate` or the cascade; the payload to send (without the load stage).

    The cascade follows OpenEvolve (evaluators/program/openevolve_rules.py): a stage runs when
    the previous one passed its threshold (no thresholds: every stage runs), and the metrics
    are those of stage 1 alone, or the merge of every stage that ran. Text values and
    artifacts of every stage that ran are kept, later stages overriding earlier keys.
    """
    names = _stage_names(module, cascade)
    payload: dict[str, Any] = {"stages": [], "metrics": {}, "text": {}, "invalid": {}, "notes": [],
                               "stopped_early": False}
    ran: list[dict[str, Any]] = []
    text: dict[str, str] = {}
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
                values, artifacts = read_result(returned)
                own_text = {**split_values(values)[1],
                            **{str(k): as_text(v) for k, v in artifacts.items() if v is not None}}
            except Exception as exc:  # noqa: BLE001 - not a dict: the evaluator broke the contract
                shown = str(exc) if isinstance(exc, TypeError) else f"returned what cannot be read: {_failure(exc)[0]}"
                stage.update(message=f"{name}() {shown}", fault="evaluator")
        stage["seconds"] = time.perf_counter() - start
        if "fault" in stage:
            payload.update(metrics={}, text={}, invalid={})
            break
        ran.append(values)
        combined = ran[0] if len(ran) == 1 else merge_stages(ran)
        text.update(own_text)
        metrics, _, invalid, notes = split_values(combined)
        payload.update(metrics=metrics, text=dict(text), invalid=invalid)
        payload["notes"] = [f"{name}: {note}" for note in notes]
        stage["ok"] = True
        error = own_text.get("error", "")
        if error.strip():
            stage["ok"], stage["message"] = False, _last_line(error)[:500]
            break
        stage["message"] = _gate(index, names, thresholds, combined)
        if stage["message"]:
            payload["stopped_early"] = True
            break
    return payload


def main(argv: list[str] | None = None) -> int:
    channel = open_result_channel()  # first: before any user code is imported
    parser = argparse.ArgumentParser(prog="python -m evaluators.program.harness")
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--thresholds", default="")
    parser.add_argument("--no-cascade", action="store_true", help="run evaluate() even if stage functions exist")
    args = parser.parse_args(argv)
    sys.path.append(SHIM_ROOT)  # last: a real openevolve, wherever installed, comes first
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
        payload = run_stages(module, program, thresholds, cascade=not args.no_cascade)
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
