"""One sweep at a time per store: an flock on ``<store>/sweep.lock``.

The kernel drops an flock when its holder dies, so a sweep killed with SIGKILL leaves no stale lock
to clean up: the next sweep simply gets it. The file records the holder's pid for the message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fleet.errors import Locked


@contextmanager
def store_lock(directory: Path, name: str = "sweep.lock") -> Iterator[None]:
    directory.mkdir(0o700, parents=True, exist_ok=True)
    path = directory / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # private like the store (fleet.store)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise Locked(f"another sweep (pid {holder}) is running on {directory}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
