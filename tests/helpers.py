"""Helpers shared by the lab tests: a child's own peak RSS, and a silent TCP listener.

Peak RSS: not from ``wait4``/``RUSAGE_CHILDREN``: Linux carries a process's RSS high-water mark across
``execve``, so a child forked from a big pytest process reports pytest's size, not its own. The
child's ``VmHWM`` (its post-exec address space only) is read from /proc while it runs instead.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def own_kib(key: str) -> int:
    """A figure of this process's /proc/self/status in KiB (``VmRSS``, ``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(key)


@dataclass(frozen=True)
class ChildRun:
    returncode: int
    output: str
    peak_kib: int  # VmHWM of the child, last read before it exited
    seconds: float


def _vm_hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_child(argv: Sequence[str], timeout: float = 300.0, poll: float = 0.02) -> ChildRun:
    started = time.monotonic()
    peak = 0
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        while proc.poll() is None:
            hwm = _vm_hwm(proc.pid)
            if hwm is not None:
                peak = max(peak, hwm)
            if time.monotonic() - started > timeout:
                proc.kill()
                raise TimeoutError(f"{argv[:4]} still running after {timeout} s")
            time.sleep(poll)
        output = proc.stdout.read() if proc.stdout else ""
    return ChildRun(proc.returncode, output, peak, time.monotonic() - started)


@contextmanager
def silent_listener(host: str) -> Iterator[str]:
    """Accepts TCP connections on ``host``:22 and never says a word (a wedged sshd, a half-dead NAT).

    A fake, on purpose: no real SSH server can be made to accept and then stay mute on demand.
    """
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, 22))
    srv.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        srv.close()


def raw_captures(location: Path | str) -> dict[int, bytes]:
    """Every stored raw capture by sample id, decoded the way fleet reads them (a capture may be
    compressed against an earlier one of its device): raises if any blob is cut or undecodable."""
    from fleet.store.store import open_store

    with open_store(location) as st:
        return {r.id: r.raw for r in st.raw_samples() if r.raw}


def assert_lab_leaks_found(lab: Any, rank: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Every leaking lab workload has its finding (medium or high) and no steady one has any, in a
    ``rank --json`` document of the lab's devices: (leak scores, steady scores)."""
    from fleet.lab.profiles import WORKLOADS

    by_name = {d["name"]: d for d in rank["devices"]}
    leak_scores, flat_scores = [], []
    for device in lab.devices:
        if device.shell == "hang":
            continue
        procs = {p["name"]: p for p in by_name[device.name]["processes"]}
        for comm, workload in zip(device.comms, device.workloads, strict=True):
            expected = WORKLOADS[workload].finding
            proc = procs[comm]
            kinds = {f["kind"] for f in proc["findings"] if f["severity"] in ("medium", "high")}
            if expected is None:
                assert not kinds, f"{device.name} {comm}: non-leak flagged {kinds}"
                flat_scores.append(proc["score"])
            elif expected != "restart":
                assert expected in kinds, f"{device.name} {comm}: expected {expected}, got {proc['findings']}"
                leak_scores.append(proc["score"])
    return leak_scores, flat_scores
