"""known_hosts: where a device's host keys are, and recording a first-seen key (accept-new)."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from fleet.inventory.model import Device


def known_hosts_path(device: Device) -> Path:
    """The device's known_hosts file (``known_hosts`` in the inventory, else ~/.ssh/known_hosts)."""
    return Path(device.known_hosts or "~/.ssh/known_hosts").expanduser()


_RECORD_LOCK = threading.Lock()


def record_host_key(path: Path, host: str, port: int, public_line: str) -> None:
    """Append one first-seen key to known_hosts, once.

    Devices are recorded from many tasks, threads (paramiko) and even two collectors at once: a
    process lock plus ``flock`` serialise the appends, and a line already present is not repeated,
    so the file is never interleaved or rewritten.
    """
    name = host if port == 22 else f"[{host}]:{port}"
    line = f"{name} {public_line.strip()}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _RECORD_LOCK, path.open("a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            f.seek(0)
            existing = f.read()
            if line in existing.splitlines():
                return
            f.write(("\n" if existing and not existing.endswith("\n") else "") + line + "\n")
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
