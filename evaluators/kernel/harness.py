"""Runs inside the sandbox: judge one kernel candidate and send the verdict over the result channel.

    python -m evaluators.kernel.harness --reference /abs/reference.py --candidate candidate.py \
        --options '{"language": "triton", "device": "cuda", ...}'

The options are JudgeOptions as JSON, without the seed. The secret seed arrives in the
environment variable EVOFORGE_KERNEL_SECRET, which this process removes from `os.environ`
and blanks in its own environment block (what /proc/self/environ shows) before anything else
runs. Candidate code never runs in this process: the judge starts the candidate's process
with a clean environment, and this process is non-dumpable (the result channel makes it so),
so the candidate cannot read its memory, environment or descriptors. torch, triton and the
standard library only.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys

from sandbox.channel import ChannelError, open_result_channel

SECRET_VAR = "EVOFORGE_KERNEL_SECRET"


def take_secret(name: str = SECRET_VAR) -> int:
    """Read the secret seed from the environment, remove it, and blank it in the environment block."""
    raw = os.environ.pop(name, None)
    _blank_environ_entry(name)
    if raw is None:
        raise SystemExit(f"{name} is not set: the kernel harness needs its secret seed")
    return int(raw)


def _blank_environ_entry(name: str) -> bool:
    """Overwrite NAME=value in this process's initial environment block (/proc/self/environ)."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        env_start, env_end = int(fields[47]), int(fields[48])  # fields 50 and 51 of proc(5)
        with open("/proc/self/environ", "rb") as fh:
            block = fh.read()
    except (OSError, IndexError, ValueError):
        return False
    key = name.encode() + b"="
    offset = 0 if block.startswith(key) else block.find(b"\0" + key) + 1
    if offset <= 0 and not block.startswith(key):
        return False
    end = block.find(b"\0", offset)
    end = len(block) if end < 0 else end
    if env_start + end > env_end:
        return False
    ctypes.memset(env_start + offset, ord("X"), end - offset)
    return True


def main(argv: list[str] | None = None) -> int:
    channel = open_result_channel()  # first: before anything else is imported or run
    secret = take_secret()
    parser = argparse.ArgumentParser(prog="python -m evaluators.kernel.harness")
    parser.add_argument("--reference", required=True)
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--options", default="{}")
    args = parser.parse_args(argv)

    from evaluators.kernel.judge import JudgeOptions, judge

    raw = json.loads(args.options)
    raw.pop("seed", None)
    options = JudgeOptions(**raw, seed=secret)
    candidate = args.candidate
    if options.await_candidate_s > 0:  # a primed job: the candidate arrives later, in the inbox
        from evaluators.kernel.candidate_inbox import candidate_path

        candidate = candidate_path()
    payload = judge(args.reference, candidate, options)
    try:
        channel.send(payload)
    except ChannelError:
        payload["text"] = {k: v[:2000] for k, v in payload.get("text", {}).items()}
        for stage in payload.get("stages", []):
            stage["log"] = stage.get("log", "")[-1000:]
        channel.send(payload)
    return 0


if __name__ == "__main__":
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
