"""Reading a device's output without letting it fill memory: every read has a byte cap."""

from __future__ import annotations

from typing import Protocol


class Reader(Protocol):
    """An async byte stream (asyncssh's SSHReader)."""

    async def read(self, n: int = -1) -> bytes: ...


async def read_until(stream: Reader, end: bytes, limit: int) -> tuple[bytes, bool, bool]:
    """Read up to and including ``end``: (data, ended, truncated). Stops at EOF (ended False) or
    once more than ``limit`` bytes came without it (truncated True); a hostile device cannot fill
    memory. Anything after ``end`` is dropped (a shell between two captures prints nothing)."""
    buf = bytearray()
    while chunk := await stream.read(65536):
        start = max(0, len(buf) - len(end) + 1)
        buf += chunk
        at = buf.find(end, start)
        if 0 <= at <= limit - len(end):
            return bytes(buf[: at + len(end)]), True, False
        if len(buf) > limit:
            return b"", False, True
    return bytes(buf), False, False


async def read_capped(stream: Reader, limit: int, *, drain: bool = False) -> tuple[bytes, bool]:
    """Read to EOF, never holding more than ``limit`` bytes: a hostile device cannot fill memory.

    Stops at the limit (truncated=True), or with ``drain`` reads on and drops the excess.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return b"".join(chunks), size > limit
        room = limit - min(size, limit)
        size += len(chunk)
        if room:
            chunks.append(chunk[:room])
        if size > limit and not drain:
            return b"".join(chunks), True
