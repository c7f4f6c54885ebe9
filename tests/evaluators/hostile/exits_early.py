"""An evaluator that exits the process before returning a result."""
import sys


def evaluate(program_path):
    print("leaving early")
    sys.exit(0)
