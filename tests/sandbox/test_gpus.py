"""GPU slots: what each visible GPU is to the driver, and one machine-wide lock per physical GPU."""

from __future__ import annotations

import os
import stat

import pytest

from sandbox import gpus
from sandbox.gpus import GpuSlots, job_device, lock_name, visible_gpus

_LISTING = """GPU 0: NVIDIA H200 (UUID: GPU-aaaa1111-0000-0000-0000-000000000000)
GPU 1: NVIDIA H200 (UUID: GPU-bbbb2222-0000-0000-0000-000000000000)
"""


@pytest.fixture
def two_gpus(tmp_path, monkeypatch):
    """An nvidia-smi on PATH that lists two GPUs (this machine has none), and no CUDA_VISIBLE_DEVICES."""
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text(f"#!/bin/sh\n[ \"$1\" = -L ] && printf '%s' '{_LISTING}'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(gpus, "_DRIVER_DIR", tmp_path / "no-driver")  # a real driver would answer first
    gpus.gpu_uuids.cache_clear()
    yield
    gpus.gpu_uuids.cache_clear()


def test_cuda_visible_devices_decides_what_a_job_index_names(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3, 1")
    assert visible_gpus() == [0, 1] and [job_device(0), job_device(1)] == ["3", "1"]
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert visible_gpus() == []
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert job_device(2) == "2"


def test_locks_are_named_by_the_gpus_uuid(two_gpus):
    assert visible_gpus() == [0, 1]
    assert lock_name("1") == "GPU-bbbb2222-0000-0000-0000-000000000000.lock"
    assert lock_name("GPU-aaaa1111") == "GPU-aaaa1111-0000-0000-0000-000000000000.lock"  # a UUID prefix
    assert lock_name("7") == "index-7.lock"  # not listed: still one name per device


def test_two_runs_given_the_same_gpu_differently_share_its_lock(two_gpus, tmp_path, monkeypatch):
    everything = GpuSlots([0, 1], lock_dir=tmp_path / "locks")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # a second run, given only the host's GPU 1
    only_second = GpuSlots([0], lock_dir=tmp_path / "locks")
    assert only_second.lock_path(0) == everything.lock_path(1) != everything.lock_path(0)
    assert everything.warning is None and only_second.warning is None


def test_the_lock_folder_and_files_are_usable_by_every_user(two_gpus, tmp_path):
    folder = tmp_path / "locks"
    slots = GpuSlots([0], lock_dir=folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o1777
    for path in (slots.lock_path(0), slots.lock_path(0) + ".gate"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
    slots.close()
    assert os.path.exists(slots.lock_path(0))  # the machine's: it outlives the run


def test_an_unusable_lock_folder_falls_back_to_a_private_one_and_says_so(two_gpus, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    slots = GpuSlots([0], lock_dir=blocker / "locks")
    try:
        assert os.path.exists(slots.lock_path(0)) and "not kept from timing" in slots.warning
    finally:
        slots.close()
    assert not os.path.exists(slots.lock_path(0))
