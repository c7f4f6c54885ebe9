"""The fork bomb the sandbox tests set off: Popen until the process limit refuses, then report
how many started with `send` (which each test's job code defines). Every child carries
`marker` on its command line, so a test can look for any that escaped."""


def fork_bomb(marker: str, attempts: int) -> str:
    return f"""
import subprocess, sys
started = 0
for _ in range({attempts}):
    try:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "{marker}"])
        started += 1
    except OSError:
        break
send({{"started": started}})
"""
