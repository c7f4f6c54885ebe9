"""The host's side of a Docker-sandbox container's output: Docker's stream, then our frames.

An attached, non-TTY container stream is Docker's multiplexing: 8-byte headers (stream id,
three zero bytes, big-endian length) before each chunk of stdout (1) or stderr (2). Inside
stdout the container's init (`sandbox._dockerinit`) writes frames: a kind byte, a big-endian
length, the payload. `verify_report` checks the final frame's HMAC with the job's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
from collections.abc import Iterator
from typing import Any

STDOUT, STDERR = 1, 2
KINDS = (b"o", b"e", b"f")  # job stdout, job stderr, the signed final report
MAX_FRAME = 16 << 20  # a report holds at most an 8 MiB result, base64-encoded
_MAC_BYTES = hashlib.sha256().digest_size


class StreamError(ValueError):
    """The container's stream is not what our init writes: it was cut off or tampered with."""


class DockerDemux:
    """Splits Docker's multiplexed attach stream into (stream id, bytes) pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buffer += data
        while len(self._buffer) >= 8:
            stream, size = self._buffer[0], struct.unpack(">I", self._buffer[4:8])[0]
            if len(self._buffer) < 8 + size:
                return
            payload = bytes(self._buffer[8 : 8 + size])
            del self._buffer[: 8 + size]
            yield stream, payload


class FrameReader:
    """Splits the init's stdout into (kind, payload) frames; raises StreamError on garbage."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[bytes, bytes]]:
        self._buffer += data
        while len(self._buffer) >= 5:
            kind = bytes(self._buffer[:1])
            size = struct.unpack(">I", self._buffer[1:5])[0]
            if kind not in KINDS or size > MAX_FRAME:
                raise StreamError(f"unexpected frame {kind!r} of {size} bytes")
            if len(self._buffer) < 5 + size:
                return
            payload = bytes(self._buffer[5 : 5 + size])
            del self._buffer[: 5 + size]
            yield kind, payload

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame (non-zero when the stream was cut off mid-frame)."""
        return len(self._buffer)


def verify_report(key: bytes, payload: bytes) -> dict[str, Any]:
    """The init's final report, if its HMAC holds under `key`; raises StreamError otherwise."""
    mac, body = payload[:_MAC_BYTES], payload[_MAC_BYTES:]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        raise StreamError("the final report's signature does not match: forged or damaged")
    try:
        report = json.loads(body.decode("utf-8"))
        status = report["status"]
        result = report.get("result")
        report["result"] = base64.b64decode(result, validate=True) if result is not None else None
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise StreamError(f"the final report is malformed: {exc}") from None
    if not isinstance(status, dict):
        raise StreamError("the final report has no status")
    return report
