"""Timing statistics, and the message framing between the judge and the candidate's process."""

from __future__ import annotations

import os
import struct

import pytest

torch = pytest.importorskip("torch")

from evaluators.kernel import stats  # noqa: E402
from evaluators.kernel.ipc import Pipe, ProtocolError, Timeout, encode  # noqa: E402


def test_median_ci_contains_the_median_and_narrows_with_more_samples():
    import random

    rng = random.Random(1)
    small = [1.0 + rng.gauss(0, 0.05) for _ in range(20)]
    large = [1.0 + rng.gauss(0, 0.05) for _ in range(2000)]
    for sample in (small, large):
        low, high = stats.median_ci(sample)
        assert low <= stats.median(sample) <= high
    assert (stats.median_ci(large)[1] - stats.median_ci(large)[0]) < (stats.median_ci(small)[1] - stats.median_ci(small)[0])


def test_outliers_barely_move_the_median_and_its_standard_error():
    clean = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0]
    spiky = clean[:-2] + [50.0, 80.0]
    assert abs(stats.median(spiky) - stats.median(clean)) < 0.011
    assert stats.median_rel_se(spiky) < 0.02
    assert stats.median_rel_se([1.0, 2.0]) == float("inf")


def test_summary_reports_spread_as_iqr_over_median():
    summary = stats.summarize([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary.median == 3.0 and summary.rel_spread == pytest.approx(2.0 / 3.0)


@pytest.fixture
def pipes():
    a_r, b_w = os.pipe()
    b_r, a_w = os.pipe()
    left, right = Pipe(a_r, a_w), Pipe(b_r, b_w)
    yield left, right
    left.close()
    right.close()


def test_tensors_of_every_common_dtype_round_trip(pipes):
    left, right = pipes
    tensors = [torch.randn(3, 4), torch.randn(5, dtype=torch.float64), torch.randn(2, 2).half(),
               torch.randn(2, 3).bfloat16(), torch.arange(6).reshape(2, 3), torch.tensor([True, False]),
               torch.empty(0, 3), torch.randn(4, 4).t()]
    left.send({"op": "x", "n": 1}, tensors)
    header, got = right.recv(timeout=5)
    assert header == {"op": "x", "n": 1}
    for a, b in zip(tensors, got):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)


def test_a_malformed_message_is_refused_not_unpickled(pipes):
    left, right = pipes
    os.write(left.write_fd, struct.pack("<I", 5) + b"nope!")
    with pytest.raises(ProtocolError, match="not JSON"):
        right.recv(timeout=5)


def test_a_tensor_whose_size_does_not_match_its_shape_is_refused(pipes):
    left, right = pipes
    chunks = encode({"op": "x"}, [torch.zeros(4)])
    head = chunks[1].replace(b'"nbytes": 16', b'"nbytes": 12')
    os.write(left.write_fd, struct.pack("<I", len(head)) + head + b"\0" * 12)
    with pytest.raises(ProtocolError, match="cannot hold"):
        right.recv(timeout=5)


def test_a_message_over_the_readers_limit_is_refused(pipes):
    left, right = pipes
    right.max_bytes = 100
    left.send({"op": "x"}, [torch.zeros(1000)])
    with pytest.raises(ProtocolError, match="over the"):
        right.recv(timeout=5)


def test_silence_times_out_and_a_closed_writer_is_reported(pipes):
    left, right = pipes
    with pytest.raises(Timeout):
        right.recv(timeout=0.2)
    os.close(left.write_fd)
    with pytest.raises(ProtocolError, match="closed"):
        right.recv(timeout=5)
