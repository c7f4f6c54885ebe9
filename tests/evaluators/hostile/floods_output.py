"""An evaluator that prints gigabytes, then returns a perfect score."""
import sys


def evaluate(program_path):
    chunk = "spam " * 200_000 + "\n"
    for _ in range(2_000):  # about 2 GB
        sys.stdout.write(chunk)
    return {"combined_score": 1.0}
