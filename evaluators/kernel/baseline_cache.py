"""The reference's baseline times, measured once per problem and device and reused by later runs.

Controller side (no torch import). The judge times the reference in eager mode beside every
candidate (speedups divide by that), but torch.compile of the reference costs a compile and a
timing of its own: the evaluator asks one job for it and keeps the answer here, so a later run
of the same problem on the same device (a resumed suite, a second suite, another strategy)
starts with it and never compiles the reference again.

The cache is a JSON file (by default `baselines.json` beside the device ceilings' cache; the
environment variable EVOFORGE_BASELINES names another) mapping a `BaselineKey` (the reference
source's hash, the benchmark shape, the GPU's name, the torch version) to a `Baseline`. A file
that cannot be read or does not parse counts as empty; nothing is raised. Writers merge their
entry as json_cache.py does, so two runs writing at once neither corrupt it nor lose entries.

The GPU's name comes from `nvidia-smi` and the torch version from the installed package's
metadata: both as the controller sees them (a sandbox image with another torch is keyed by the
controller's). Where either is unknown, or the GPUs a run uses differ, there is no key and
nothing is cached.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluators.kernel import json_cache
from sandbox.gpus import job_device

BASELINES_VAR = "EVOFORGE_BASELINES"
FILE_NAME = "baselines.json"


@dataclass(frozen=True)
class BaselineKey:
    """What a baseline time depends on."""

    reference: str  # sha256 of the reference file's bytes
    shape: str  # the benchmark shape as sorted JSON ("null": the reference file's own)
    gpu: str  # the GPU's name, as nvidia-smi gives it
    torch: str  # torch's version

    def text(self) -> str:
        """The key as one string (the JSON file's keys)."""
        return json.dumps([self.reference, self.shape, self.gpu, self.torch])


@dataclass(frozen=True)
class Baseline:
    """The reference's times on one device: torch.compile's, and eager's for information."""

    compile_ms: float
    eager_ms: float | None = None
    measured_at: float = 0.0  # unix seconds


def cache_path(ceilings_path: str | os.PathLike[str]) -> Path:
    """Where the cache is: $EVOFORGE_BASELINES, else baselines.json beside the ceilings' cache."""
    named = os.environ.get(BASELINES_VAR)
    return Path(named) if named else Path(ceilings_path).parent / FILE_NAME


def baseline_key(
    reference: str | os.PathLike[str], shape: dict[str, Any] | None, gpus: list[int]
) -> BaselineKey | None:
    """The key of this reference at this shape on these GPUs (None: the device or torch is unknown)."""
    names = {_gpu_name(g) for g in gpus}
    torch_version = _torch_version()
    if len(names) != 1 or None in names or torch_version is None:
        return None
    try:
        digest = hashlib.sha256(Path(reference).read_bytes()).hexdigest()
    except OSError:
        return None
    return BaselineKey(digest, json.dumps(shape, sort_keys=True), names.pop(), torch_version)


class BaselineCache:
    """The JSON file of baselines at `path` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def get(self, key: BaselineKey) -> Baseline | None:
        entry = json_cache.read(self.path).get(key.text())
        if not isinstance(entry, dict):
            return None
        compile_ms, eager_ms = entry.get("compile_ms"), entry.get("eager_ms")
        if not _positive(compile_ms):
            return None
        return Baseline(float(compile_ms), float(eager_ms) if _positive(eager_ms) else None,
                        float(entry.get("measured_at") or 0.0))

    def put(self, key: BaselineKey, baseline: Baseline) -> bool:
        """Add or replace the entry; False when the file could not be written (a read-only place)."""
        entry = {"compile_ms": baseline.compile_ms, "eager_ms": baseline.eager_ms,
                 "measured_at": baseline.measured_at or time.time(), "reference_sha256": key.reference,
                 "shape": json.loads(key.shape), "gpu": key.gpu, "torch": key.torch}
        return json_cache.put(self.path, key.text(), entry)


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


def _gpu_name(gpu: int) -> str | None:
    """The name of visible GPU `gpu` (its driver device: an index or a UUID or its prefix)."""
    device = job_device(gpu)
    for index, uuid, name in _smi_rows():
        if device == index or (device.startswith("GPU-") and uuid.startswith(device)):
            return name
    return None


def _smi_rows() -> list[tuple[str, str, str]]:
    """(index, uuid, name) of every GPU, from nvidia-smi ([] where it is missing or fails)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listing = subprocess.run([smi, "--query-gpu=index,uuid,name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = [[cell.strip() for cell in row] for row in csv.reader(listing.splitlines())]
    return [(row[0], row[1], row[2]) for row in rows if len(row) >= 3 and row[2]]


def _torch_version() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None
