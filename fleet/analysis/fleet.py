"""Fleet view: the same program with the same finding on several devices is a firmware bug.

Only when medium or high findings stand behind it: the same low watch item on many devices is
listed (severity low) without that verdict.

One fleet finding per (kind, process name, executable) seen on at least ``min_devices`` devices,
counted against the group where it concentrates ("... on 37 of 40 devices in group cameras"), or,
when the devices run several firmware versions, against each version ("... on 12 of 12 devices
running 2.3.1, 0 of 40 running 2.3.0").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from fleet.analysis.model import (
    LEAK_KINDS,
    SEVERITY_ORDER,
    DeviceAssessment,
    FirmwareRegression,
    FleetFinding,
)

KIND_WORDS = {
    "thread_leak": "thread leak",
    "unjoined_threads": "unjoined-thread stack leak",
    "stack_growth": "thread-stack growth",
    "heap_growth": "heap growth",
    "fd_leak": "file-descriptor leak",
    "shm_leak": "SYSV shared-memory leak",
    "vm_growth": "virtual-size growth",
    "address_space_exhaustion": "address-space exhaustion",
    "restart": "restarts",
    "slab_growth": "kernel slab growth",
}


@dataclass
class _Seen:
    devices: dict[str, str] = field(default_factory=dict)  # device -> worst severity
    thread_names: dict[str, int] = field(default_factory=dict)


def _worse(a: str | None, b: str) -> str:
    return b if a is None or SEVERITY_ORDER[b] > SEVERITY_ORDER[a] else a


def _collect(
    assessments: Sequence[DeviceAssessment], min_severity: str
) -> dict[tuple[str, str, str | None], _Seen]:
    floor = SEVERITY_ORDER[min_severity]
    seen: dict[tuple[str, str, str | None], _Seen] = {}
    for dev in assessments:
        for proc in dev.processes:
            for f in proc.findings:
                # A restart is worth aggregating at any severity: a crash loop on every device.
                if f.kind != "restart" and SEVERITY_ORDER[f.severity] < floor:
                    continue
                entry = seen.setdefault((f.kind, proc.name, proc.exe), _Seen())
                entry.devices[dev.name] = _worse(entry.devices.get(dev.name), f.severity)
                tn = f.evidence.get("thread_name")
                if isinstance(tn, str):
                    entry.thread_names[tn] = entry.thread_names.get(tn, 0) + 1
        for f in dev.findings:
            cache = f.evidence.get("cache")
            if f.kind == "slab_growth" and isinstance(cache, str) and SEVERITY_ORDER[f.severity] >= floor:
                entry = seen.setdefault((f.kind, f"slab:{cache}", None), _Seen())
                entry.devices[dev.name] = _worse(entry.devices.get(dev.name), f.severity)
    return seen


def _where(
    affected: Sequence[str], all_devices: Sequence[str], groups: Mapping[str, Sequence[str]] | None
) -> tuple[str | None, int]:
    """The group holding most affected devices (then the highest share), and its size."""
    if not groups:
        return None, len(all_devices)
    size: dict[str, int] = {}
    for d in all_devices:
        for g in groups.get(d, ()):
            size[g] = size.get(g, 0) + 1
    hits: dict[str, int] = {}
    for d in affected:
        for g in groups.get(d, ()):
            hits[g] = hits.get(g, 0) + 1
    if not hits:
        return None, len(all_devices)
    best = max(sorted(hits), key=lambda g: (hits[g], hits[g] / size[g]))
    return best, size[best]


FIRMWARE_SHOWN = 4  # versions a summary names; the rest are counted ("3 more versions")


def _by_firmware(
    affected: Sequence[str], firmware: Mapping[str, str | None]
) -> tuple[tuple[str, int, int], ...]:
    """(version, affected devices running it, devices running it), most affected share first,
    then most devices, then the newest version."""
    totals = Counter(v for v in firmware.values() if v is not None)
    hits = Counter(v for d in affected if (v := firmware.get(d)) is not None)
    rows = sorted(((v, hits[v], n) for v, n in totals.items()), key=lambda r: version_key(r[0]), reverse=True)
    rows.sort(key=lambda r: (-r[1] / r[2], -r[2]))  # stable: the newest version first on a tie
    return tuple(rows)


def _firmware_text(rows: Sequence[tuple[str, int, int]]) -> str:
    """ "12 of 12 devices running 2.3.1, 0 of 40 running 2.3.0"."""
    parts = [
        f"{n} of {of} {'devices ' if i == 0 else ''}running {v}"
        for i, (v, n, of) in enumerate(rows[:FIRMWARE_SHOWN])
    ]
    if len(rows) > FIRMWARE_SHOWN:
        more = len(rows) - FIRMWARE_SHOWN
        parts.append(f"{more} more version{'s' if more != 1 else ''}")
    return ", ".join(parts)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Orders versions as people read them: numbers by value ("2.10" after "2.9"), the rest as text."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[^\d.\-_ ]+", version))


def fleet_findings(
    assessments: Sequence[DeviceAssessment],
    groups: Mapping[str, Sequence[str]] | None = None,
    min_devices: int = 2,
    min_severity: str = "low",
) -> list[FleetFinding]:
    """Aggregate per-device findings into fleet findings, most widespread first.

    ``groups`` maps a device name to its inventory groups (optional). Leak findings count from
    ``min_severity`` up; restarts count at any severity.
    """
    names = [a.name for a in assessments]
    firmware = {a.name: a.firmware for a in assessments}
    versions = len({v for v in firmware.values() if v is not None})
    out: list[FleetFinding] = []
    for (kind, process, exe), entry in _collect(assessments, min_severity).items():
        if len(entry.devices) < min_devices:
            continue
        affected = sorted(entry.devices)
        group, total = _where(affected, names, groups)
        if group is not None:
            in_group = [d for d in affected if group in groups.get(d, ())] if groups else affected
            count_text = f"{len(in_group)} of {total} devices in group {group}"
            if len(in_group) < len(affected):
                count_text += f" ({len(affected)} devices in all)"
        else:
            count_text = f"{len(affected)} of {total} devices"
        by_firmware = _by_firmware(affected, firmware)
        if versions > 1:  # which firmware leaks says more than which group
            count_text = _firmware_text(by_firmware)
        words = KIND_WORDS.get(kind, kind.replace("_", " "))
        if entry.thread_names:
            thread = max(sorted(entry.thread_names), key=lambda n: entry.thread_names[n])
            subject = f"{thread} {words} in {process}"
        else:
            subject = f"{process} {words}"
        severity = "info"
        for sev in entry.devices.values():
            severity = _worse(severity, sev)
        if kind == "restart":
            tail = "."
        elif SEVERITY_ORDER[severity] >= SEVERITY_ORDER["medium"]:
            tail = ": one firmware bug, not a device fault."
        else:
            # Low findings are watch items: many of them together are still no verdict.
            tail = " (low on each: a watch list, not yet a finding)."
        out.append(
            FleetFinding(
                kind=kind,
                process=process,
                devices=tuple(affected),
                summary=f"{subject} on {count_text}{tail}",
                severity=severity,
                exe=exe,
                group=group,
                total=total,
                by_firmware=by_firmware,
            )
        )
    out.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], -len(f.devices), f.kind, f.process))
    return out


def predecessors(assessments: Sequence[DeviceAssessment]) -> dict[str, str]:
    """The version each firmware version replaced: the one most devices now running it ran just
    before (seen in their window); else the version just below it in version order ("2.3.0" for
    "2.3.1") among those the fleet runs now. The oldest version has none."""
    before: dict[str, Counter[str]] = {}
    for a in assessments:
        history = a.firmware_history
        for (_, old), (_, new) in pairwise(history):
            before.setdefault(new, Counter())[old] += 1
    running = sorted({v for a in assessments if (v := a.firmware) is not None}, key=version_key)
    out: dict[str, str] = {}
    for i, version in enumerate(running):
        if version in before:
            out[version] = max(sorted(before[version]), key=lambda v: before[version][v])
        elif i > 0:
            out[version] = running[i - 1]
    return out


def firmware_regressions(
    findings: Sequence[FleetFinding], assessments: Sequence[DeviceAssessment]
) -> list[FirmwareRegression]:
    """Leaks a firmware version brought: fleet findings on devices running a version and on none of
    the devices running its predecessor (:func:`predecessors`), most severe first."""
    previous = predecessors(assessments)
    out: list[FirmwareRegression] = []
    for f in findings:
        if f.kind not in LEAK_KINDS and f.kind != "slab_growth":
            continue
        hits = {v: (n, of) for v, n, of in f.by_firmware}
        for version, (n, _) in hits.items():
            old = previous.get(version)
            if n and old is not None and old in hits and hits[old][0] == 0:
                out.append(FirmwareRegression(version, old, f))
    out.sort(key=lambda r: (-SEVERITY_ORDER[r.finding.severity], -len(r.finding.devices)))
    return out
