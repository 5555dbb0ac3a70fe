"""What one capture may hold and what one device may cost: the caps, and the range of every number
fleet stores. Pure: no I/O.

A device controls every byte of its capture, and one hostile or broken device must never cost the
fleet its report. So the metrics of a sample are checked once, before they are stored:

- every count and size must be what the store holds (SQLite INTEGER and PostgreSQL BIGINT stop at
  2^63 - 1) and what /proc can mean (never negative); uptime and load must be finite. A value out
  of range becomes unknown (None) and a problem of that sample, the rest of the sample is kept. The
  parsers keep /proc's own numbers (an unlimited rsslim is 2^64 - 1 on every 64-bit process): the
  range is the stored metrics' concern, so it is checked here, on what is stored, not there.
- a capture of more than ``MAX_PROCESSES`` processes, or whose metrics take more than
  ``MAX_METRICS_BYTES``, is refused: kept raw, marked with the reason, never analysed, and the
  device's attempt is a ``capture_error`` saying so. Real cameras and NVRs run 50-300 processes.
- a slabinfo or maps of more lines than a kernel prints (``MAX_SLAB_CACHES``, ``MAX_MAPPINGS``)
  is a problem of its sample, not parsed; a process keeps its ``MAX_THREAD_NAMES`` most common
  thread names; device strings are cut at ``MAX_TEXT`` characters.
- at most ``MAX_PROBLEMS`` problems are listed per sample, the rest counted: they are messages,
  and a device whose every maps is odd still has its memory counters.

The analysis reads at most ``MAX_ANALYSED_BYTES`` of one device's metrics, its newest samples.
Each cap is ten times or more what a busy device needs; README.md ("Captures and their caps").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fleet.metrics.model import MAPS_FIELDS, DeviceMetrics, ProcessMetrics

STORE_MAX = 2**63 - 1  # the largest integer SQLite (INTEGER) and PostgreSQL (BIGINT) hold
# Processes one capture may hold (pids read, kernel threads of old formats included): a camera
# runs 50-300, the kernel's default pid_max is 32,768. Beyond it the capture is refused.
MAX_PROCESSES = 4096
# Lines of one file parsed: slabinfo has 100-300 caches; a process has at most vm.max_map_count
# (65,530 by default) mappings. A longer file is a problem of its sample, not parsed.
MAX_SLAB_CACHES = 4096
MAX_MAPPINGS = 131_072
# Distinct thread names kept per process, the most common first: programs name threads by their job
# (a leak is thousands of one name); 470,000 distinct names cost a 16 MiB capture's parse 2.4 s.
MAX_THREAD_NAMES = 4096
# Characters kept of a device string (comm, exe, cmdline, thread and cache names, boot id): PATH_MAX,
# and what /proc/PID/cmdline printed at most before Linux 4.2 (one page). The raw capture has it all.
MAX_TEXT = 4096
# Characters kept of a firmware identity (fleet.metrics.firmware): a version, not a document; it
# goes into every report row and fleet finding about its devices.
MAX_FIRMWARE = 200
MAX_PROBLEMS = 100  # problems listed per sample; the rest are counted in one last line
# The parsed metrics of one sample as stored (JSON, before compression): ~0.7 KB a process (a
# light camera ~20 KB, 229 processes 166 KB measured), 32,000 leaked threads' distinct names ~1 MB.
MAX_METRICS_BYTES = 8 * 1024 * 1024
# Metrics (as JSON) the analysis reads per device, newest samples first: a light camera's whole
# year of nightly sweeps (~20 KB a sample), ~400 samples of a 230-process device, 8 at the cap.
# Bounds the memory (~2.5x this in Python objects) and time one device may cost rank and report.
MAX_ANALYSED_BYTES = 64 * 1024 * 1024

_DEVICE_INTS = ("mem_total", "mem_free", "mem_available", "kernel_threads")
_PROCESS_INTS = ("rss", "pss", "vm_size", "anon_private", "threads", "fds")
_MAPS_INTS = ("stack_count", "stack_bytes", "shm_count", "shm_bytes", "stack_size", "address_bits")


def in_range(value: int | None) -> bool:
    """A count or size the store holds and /proc can mean (None: unknown, fine)."""
    return value is None or 0 <= value <= STORE_MAX


def _finite(value: float | None) -> bool:
    return value is None or (math.isfinite(value) and value >= 0)


def _text_ok(value: str | None) -> bool:
    return value is None or (len(value) <= MAX_TEXT and "\0" not in value)


def _text(value: str) -> str:
    """At most MAX_TEXT characters, and no NUL (PostgreSQL text cannot hold one): shown as the
    report shows it."""
    return value.replace("\0", "\\x00")[:MAX_TEXT]


def _names_ok(names: Mapping[str, int]) -> bool:
    return all(map(in_range, names.values())) and all(map(_text_ok, names))


def _names(names: Mapping[str, int]) -> dict[str, int]:
    """Names cut to MAX_TEXT (counts of names that become equal add up), values out of range dropped."""
    out: dict[str, int] = {}
    for name, value in names.items():
        if in_range(value):
            out[_text(name)] = out.get(_text(name), 0) + value
    return out


def bounded(m: DeviceMetrics) -> DeviceMetrics:
    """``m`` with every number in range, every string within MAX_TEXT and at most MAX_PROBLEMS
    problems (see the module docstring); ``m`` itself when nothing needed changing."""
    problems = list(m.problems)
    fix: dict[str, Any] = {}
    for name in _DEVICE_INTS:
        if not in_range(getattr(m, name)):
            problems.append(f"{name} {getattr(m, name)} out of range: unknown")
            fix[name] = None
    for name in ("uptime", "load1"):
        if not _finite(getattr(m, name)):
            problems.append(f"{name} {getattr(m, name)} out of range: unknown")
            fix[name] = None
    for name in ("boot_id", "kernel", "kernel_version"):
        value = getattr(m, name)
        if not _text_ok(value):
            fix[name] = _text(value)
    if m.firmware is not None and (len(m.firmware) > MAX_FIRMWARE or "\0" in m.firmware):
        fix["firmware"] = _text(m.firmware)[:MAX_FIRMWARE]
    if not _names_ok(m.slab):
        if not all(map(in_range, m.slab.values())):
            problems.append("slabinfo: caches of a size out of range left out")
        fix["slab"] = _names(m.slab)
    processes = [_bounded_process(p, problems) for p in m.processes]
    if any(q is not p for q, p in zip(processes, m.processes, strict=True)):
        fix["processes"] = tuple(q for q in processes if q is not None)
    if len(problems) > MAX_PROBLEMS:
        more = len(problems) - MAX_PROBLEMS + 1
        problems[MAX_PROBLEMS - 1 :] = [f"... and {more} more problems (the raw capture has them all)"]
    problems = [_text(p) for p in problems]
    if problems != list(m.problems):
        fix["problems"] = tuple(problems)
    return replace(m, **fix) if fix else m


def _bounded_process(p: ProcessMetrics, problems: list[str]) -> ProcessMetrics | None:
    """``p`` itself when every value is in range (the common case, kept cheap), else a copy with
    the bad numbers unknown and the strings cut; None when its identity (pid, start time) is out
    of range."""
    ints = [getattr(p, name) for name in _PROCESS_INTS]
    maps_ok = (
        all(in_range(getattr(p, name)) for name in _MAPS_INTS)
        and all(map(in_range, p.class_bytes.values()))
        and all(map(in_range, p.class_counts.values()))
    )
    if (
        in_range(p.pid)
        and in_range(p.start_time)
        and all(map(in_range, ints))
        and maps_ok
        and _text_ok(p.name)
        and _text_ok(p.exe)
        and _text_ok(p.cmdline)
        and _names_ok(p.thread_names)
    ):
        return p
    if not (in_range(p.pid) and in_range(p.start_time)):
        problems.append(f"pid {p.pid}: dropped, start time {p.start_time} out of range")
        return None
    fix: dict[str, Any] = {"name": _text(p.name), "thread_names": _names(p.thread_names)}
    if p.exe is not None:
        fix["exe"] = _text(p.exe)
    if p.cmdline is not None:
        fix["cmdline"] = _text(p.cmdline)
    for name, value in zip(_PROCESS_INTS, ints, strict=True):
        if not in_range(value):
            problems.append(f"pid {p.pid} {name} {value} out of range: unknown")
            fix[name] = None
    if not maps_ok:
        # As if its maps could not be read: the figures from maps go back to their defaults, and
        # the next sample parses its maps again (no digest to copy them by).
        problems.append(f"pid {p.pid} maps: sizes out of range: maps figures unknown")
        defaults = ProcessMetrics(pid=0, start_time=0, name="")
        fix.update({name: getattr(defaults, name) for name in MAPS_FIELDS}, maps_digest=None)
    return replace(p, **fix)
