"""Host-side /proc helpers for the lab: identify, find and wait for the processes it started.

A pid alone is not an identity (pids are recycled): the lab records (pid, start time) and only
ever signals a pid whose start time still matches.
"""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the comm (which may hold spaces and ')'): [state, ppid, ...]."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot), None when gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_running(pid: int, started: int | None) -> bool:
    """The same process (pid and start time) still exists and is not a zombie."""
    fields = stat_fields(pid)
    if not fields or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def wait_gone(pid: int, started: int | None, deadline: float) -> bool:
    """Poll until the process has exited (a zombie counts as exited); False at the deadline."""
    delay = 0.005
    while is_running(pid, started):
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return True


def children(pid: int) -> list[int]:
    """Direct children of every thread of ``pid`` (needs CONFIG_PROC_CHILDREN, on in Debian)."""
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and everything below it."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children(p))
    return out


def pss_kib(pid: int) -> int:
    """Proportional set size of one process in KiB (0 when gone): shared pages split fairly."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def listening(port: int = 22) -> set[str]:
    """IPv4 addresses with a TCP socket in LISTEN state on ``port`` (host network namespace).

    One read of /proc/net/tcp answers for the whole lab, where a connect per device would make
    every Dropbear fork a session just to say it is up. A LISTEN socket completes TCP handshakes.
    """
    found: set[str] = set()
    try:
        lines = (PROC / "net" / "tcp").read_text().splitlines()[1:]
    except FileNotFoundError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) < 4 or parts[3] != "0A":  # 0A: TCP_LISTEN
            continue
        addr_hex, _, port_hex = parts[1].partition(":")
        if int(port_hex, 16) != port:
            continue
        raw = bytes.fromhex(addr_hex)[::-1]  # the kernel prints the address in host (little) order
        found.add(".".join(str(b) for b in raw))
    return found
