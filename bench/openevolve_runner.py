"""Score one program with OpenEvolve's own `Evaluator`; run by the OpenEvolve venv's Python.

    VENV/bin/python bench/openevolve_runner.py --config config.yaml --evaluator evaluator.py \
        --program initial_program.py [--timeout 90] [--retries 0]

Standard library and the installed `openevolve` package only (never evoforge: this runs in the
user's venv). The example's config is loaded with `openevolve.config.load_config`, its
`evaluator` section builds `openevolve.evaluator.Evaluator` (no LLM, no database), and
`evaluate_program` scores the program's text, as OpenEvolve's controller does for the initial
program. `--timeout` lowers the config's per-stage timeout (never raises it); `--retries`
replaces `max_retries` (0: a failure is reported at once). The fitness is
`openevolve.utils.metrics_utils.get_fitness_score` over the metrics, with the config's
MAP-Elites feature dimensions left out, as OpenEvolve ranks programs.

Prints one line "OE-COMPAT-RESULT {json}" last on stdout, then exits at once (an evaluation
thread that timed out cannot hold the process open).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
import traceback

MARKER = "OE-COMPAT-RESULT "
PROGRAM_ID = "initial"


def _plain(value):
    """A JSON-safe form of a metric or artifact value."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else repr(float(value))
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        try:
            return _plain(value.item())
        except Exception:  # noqa: BLE001 - shown as text instead
            pass
    return str(value)


def _settings(args):
    """The config's evaluator settings as OpenEvolve resolves them, and what was changed."""
    from openevolve.config import Config, EvaluatorConfig, load_config

    notes = []
    try:
        config = load_config(args.config)
    except Exception as exc:  # noqa: BLE001 - fall back to the evaluator section alone
        import yaml

        notes.append(f"openevolve could not load the config ({type(exc).__name__}: {exc}); its evaluator section used")
        raw = (yaml.safe_load(open(args.config, encoding="utf-8")) or {}).get("evaluator") or {}
        known = EvaluatorConfig.__dataclass_fields__
        config = Config()
        config.evaluator = EvaluatorConfig(**{k: v for k, v in raw.items() if k in known})
    evaluator = config.evaluator
    if args.timeout and evaluator.timeout > args.timeout:
        notes.append(f"timeout {evaluator.timeout} s lowered to {args.timeout:g} s")
        evaluator.timeout = args.timeout
    if args.retries is not None:
        evaluator.max_retries = args.retries
    if evaluator.use_llm_feedback:
        notes.append("use_llm_feedback is on in the config: no LLM here, so no LLM feedback")
    features = list(getattr(config.database, "feature_dimensions", None) or [])
    return config, features, notes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="openevolve_runner")
    parser.add_argument("--config", required=True)
    parser.add_argument("--evaluator", required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--retries", type=int, default=None)
    args = parser.parse_args(argv)
    out = {"ok": False, "error": None, "metrics": {}, "artifacts": {}, "fitness": None, "notes": [],
           "settings": {}, "seconds": 0.0}
    start = time.perf_counter()
    try:
        import openevolve
        from openevolve.evaluator import Evaluator
        from openevolve.utils.metrics_utils import get_fitness_score

        out["openevolve_version"] = getattr(openevolve, "__version__", "?")
        config, features, notes = _settings(args)
        out["notes"] = notes
        ev = config.evaluator
        out["settings"] = {"timeout": ev.timeout, "cascade_evaluation": ev.cascade_evaluation,
                           "cascade_thresholds": list(ev.cascade_thresholds), "max_retries": ev.max_retries,
                           "feature_dimensions": features, "language": config.language,
                           "file_suffix": config.file_suffix}
        suffix = os.path.splitext(args.program)[1] or config.file_suffix
        evaluator = Evaluator(ev, os.path.abspath(args.evaluator), suffix=suffix)
        code = open(args.program, encoding="utf-8").read()
        metrics = asyncio.run(evaluator.evaluate_program(code, program_id=PROGRAM_ID))
        artifacts = evaluator.get_pending_artifacts(PROGRAM_ID) or {}
        out.update(ok=True, metrics=_plain(dict(metrics)), artifacts=_plain(dict(artifacts)),
                   fitness=_plain(get_fitness_score(dict(metrics), features)))
    except BaseException as exc:  # noqa: BLE001 - the result says what went wrong
        out["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[-1000:]
    out["seconds"] = time.perf_counter() - start
    sys.stdout.flush()
    sys.stdout.write("\n" + MARKER + json.dumps(out) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
