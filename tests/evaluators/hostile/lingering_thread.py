"""An evaluator that returns a result but leaves a non-daemon thread running forever."""
import threading
import time


def evaluate(program_path):
    threading.Thread(target=time.sleep, args=(3600,)).start()
    return {"combined_score": 0.75}
