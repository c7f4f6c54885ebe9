"""An evaluator whose candidate (run as a subprocess, as evaluators should) tries to forge the
result: it writes a perfect score to every descriptor it has and to the harness's descriptors
through /proc, and prints one. The real score is 0.25."""
import subprocess
import sys


def evaluate(program_path):
    subprocess.run([sys.executable, program_path], close_fds=False, timeout=30)
    return {"combined_score": 0.25}
