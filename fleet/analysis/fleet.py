"""Fleet view: the same program with the same finding on several devices is a firmware bug.

Only when medium or high findings stand behind it: the same low watch item on many devices is
listed (severity low) without that verdict.

One fleet finding per (kind, process name, executable) seen on at least ``min_devices`` devices,
counted against the group where it concentrates ("... on 37 of 40 devices in group cameras").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleet.analysis.model import SEVERITY_ORDER, DeviceAssessment, FleetFinding

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
            )
        )
    out.sort(key=lambda f: (-SEVERITY_ORDER[f.severity], -len(f.devices), f.kind, f.process))
    return out
