"""Score candidates with OpenEvolve's own Evaluator; run by OpenEvolve's Python, not evoforge's.

    /work/oe-venv/bin/python oe_score.py < cases.json > scores.json

Each case: {"evaluator": path, "program": source, "cascade_evaluation": bool,
"cascade_thresholds": [float, ...], "feature_dimensions": [str, ...]}. Each answer:
{"metrics": what Evaluator.evaluate_program returned, "fitness": get_fitness_score of them,
"artifacts": the names of the artifacts it kept}.
"""

import asyncio
import json
import logging
import sys

from openevolve.config import EvaluatorConfig
from openevolve.evaluator import Evaluator
from openevolve.utils.metrics_utils import get_fitness_score


def score(case):
    config = EvaluatorConfig(timeout=120, max_retries=0, cascade_evaluation=case["cascade_evaluation"],
                             cascade_thresholds=list(case["cascade_thresholds"]))
    evaluator = Evaluator(config, case["evaluator"])
    metrics = asyncio.run(evaluator.evaluate_program(case["program"], "candidate"))
    artifacts = evaluator.get_pending_artifacts("candidate") or {}
    return {"metrics": metrics, "fitness": get_fitness_score(metrics, case["feature_dimensions"]),
            "artifacts": sorted(artifacts)}


def main():
    logging.disable(logging.CRITICAL)
    cases = json.load(sys.stdin)
    json.dump([score(case) for case in cases], sys.stdout)


if __name__ == "__main__":
    main()
