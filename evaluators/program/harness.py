"""Runs inside the sandbox: load the user's evaluator, run its stage(s), send the result.

    python -m evaluators.program.harness --evaluator /abs/evaluator.py --program program.py \
        [--thresholds 0.5,0.8]

The evaluator follows the OpenEvolve contract: `evaluate(program_path) -> dict`, or a cascade
`evaluate_stage1/2/3(program_path)`. The result channel is opened before the evaluator is
imported, so nothing the evaluator starts inherits it. What is sent:

    {"stages": [{"name", "ok", "seconds", "message", "log"}, ...],
     "metrics": {name: finite float}, "text": {name: str}, "invalid": {name: repr},
     "notes": [str, ...]}

`metrics` and `text` are those of the last stage that ran. Values that are not finite numbers
(NaN, infinities, bools, other types) never reach `metrics`: non-finite numbers are listed in
`invalid`, other types in `notes`. Standard library only.
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
        raise TypeError(f"the evaluator returned {type(returned).__name__}, expected a dict")
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
            metrics, text, invalid, notes = split_values(returned)
        except Exception as exc:  # noqa: BLE001 - the evaluator's failure is the result
            stage["message"], stage["log"] = _failure(exc)
            stage["seconds"] = time.perf_counter() - start
            payload.update(metrics={}, text={}, invalid={})
            break
        stage["seconds"] = time.perf_counter() - start
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
