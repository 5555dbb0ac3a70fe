"""Run a child and measure its own peak RSS.

Not from ``wait4``/``RUSAGE_CHILDREN``: Linux carries a process's RSS high-water mark across
``execve``, so a child forked from a big pytest process reports pytest's size, not its own. The
child's ``VmHWM`` (its post-exec address space only) is read from /proc while it runs instead.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass


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
