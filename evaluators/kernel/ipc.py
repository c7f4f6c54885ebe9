"""Messages with tensors between the judge and the candidate process, over a pair of pipes.

A message is a JSON header plus raw tensor bytes:

    u32 header length | header JSON | tensor 0 bytes | tensor 1 bytes | ...

The header lists each tensor's dtype, shape and byte count under "tensors". Nothing is ever
unpickled: the judge decodes what the candidate process sends (untrusted) with `json` and
`torch.frombuffer`, and refuses a message larger than the reader's limit. torch is imported
lazily so the framing can be tested without it.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

_HEADER = struct.Struct("<I")
MAX_HEADER_BYTES = 1 << 20

_DTYPES = (
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "complex64", "complex128", "float8_e4m3fn", "float8_e5m2",
)


class ProtocolError(RuntimeError):
    """The other side sent something that is not a well-formed message, or went away."""


class Timeout(ProtocolError):
    """No complete message arrived before the deadline."""


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype(name: str) -> Any:
    import torch

    if name not in _DTYPES:
        raise ProtocolError(f"unsupported tensor dtype {name!r}")
    return getattr(torch, name)


def encode(header: dict[str, Any], tensors: list[Any] = ()) -> list[bytes | memoryview]:
    """The chunks of one message; tensors are copied to contiguous CPU memory (once: the chunks
    are views of those copies, written to the pipe as they are)."""
    metas, payloads = [], []
    for tensor in tensors:
        import torch

        cpu = tensor.detach().to("cpu").contiguous()
        data = memoryview(cpu.view(-1).view(torch.uint8).numpy()) if cpu.numel() else b""
        metas.append({"dtype": dtype_name(cpu.dtype), "shape": list(cpu.shape), "nbytes": len(data)})
        payloads.append(data)
    head = json.dumps({**header, "tensors": metas}, allow_nan=False).encode("utf-8")
    return [_HEADER.pack(len(head)), head, *payloads]


class Pipe:
    """One end of the conversation: read from `read_fd`, write to `write_fd`."""

    def __init__(self, read_fd: int, write_fd: int, max_bytes: int = 1 << 36) -> None:
        self.read_fd, self.write_fd, self.max_bytes = read_fd, write_fd, max_bytes

    def send(self, header: dict[str, Any], tensors: list[Any] = ()) -> None:
        for chunk in encode(header, list(tensors)):
            view = memoryview(chunk)
            while view:
                view = view[os.write(self.write_fd, view):]

    def recv(self, timeout: float | None = None) -> tuple[dict[str, Any], list[Any]]:
        """One message; raises Timeout, or ProtocolError when malformed or the writer is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
        if size > MAX_HEADER_BYTES:
            raise ProtocolError(f"message header of {size} bytes is over the limit")
        try:
            header = json.loads(self._read(size, deadline).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProtocolError(f"message header is not JSON: {exc}") from None
        if not isinstance(header, dict) or not isinstance(header.get("tensors", []), list):
            raise ProtocolError("message header is not a JSON object with a tensor list")
        metas = header.pop("tensors", [])
        total = 0
        for meta in metas:
            if not isinstance(meta, dict) or not isinstance(meta.get("nbytes"), int) or meta["nbytes"] < 0:
                raise ProtocolError("malformed tensor description")
            total += meta["nbytes"]
        if total > self.max_bytes:
            raise ProtocolError(f"message of {total} tensor bytes is over the {self.max_bytes}-byte limit")
        return header, [self._tensor(meta, deadline) for meta in metas]

    def _tensor(self, meta: dict[str, Any], deadline: float | None) -> Any:
        import torch

        dtype = _dtype(str(meta.get("dtype")))
        shape = meta.get("shape")
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise ProtocolError("malformed tensor shape")
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty(0, dtype=dtype).element_size()
        if numel * itemsize != meta["nbytes"]:
            raise ProtocolError(f"tensor of shape {shape} and dtype {dtype} cannot hold {meta['nbytes']} bytes")
        data = self._read(meta["nbytes"], deadline)
        if numel == 0:
            return torch.empty(shape, dtype=dtype)
        return torch.frombuffer(data, dtype=torch.uint8).view(dtype).reshape(shape)

    def _read(self, count: int, deadline: float | None) -> bytearray:
        """Exactly `count` bytes, read straight into one buffer (no joins, no copies)."""
        buffer = bytearray(count)
        view, got = memoryview(buffer), 0
        while got < count:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                    raise Timeout("no answer in time")
            n = os.readv(self.read_fd, [view[got:got + (1 << 24)]])
            if not n:
                raise ProtocolError("the other side closed the connection")
            got += n
        return buffer

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
