"""``fleet export --format openmetrics``: the fleet view as OpenMetrics text, for Prometheus.

Pure: a :class:`~fleet.view.fleet.FleetView` in, the exposition text out (the same view `fleet rank`
and the report use). Every family is a gauge with HELP and TYPE lines; the text ends in ``# EOF``.
It is also valid Prometheus text format 0.0.4, which node_exporter's textfile collector reads (it
takes ``# UNIT`` and ``# EOF`` for comments).

Label values are device-controlled text (device and process names): control characters are shown
as ``\\xNN`` as everywhere fleet prints device text (fleet.text.visible), then backslash, double
quote and newline are escaped as the exposition format asks, so no name can end a label, a line or
the file early.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fleet.ssh.outcomes import OK
from fleet.text import visible
from fleet.view.fleet import DeviceView, FleetView

TOP_PROCESSES = 5  # per device, besides every process with a finding
Callback = Callable[[str, dict[str, str], float], None]  # add one sample: family, labels, value


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    unit: str = ""
    samples: list[tuple[tuple[tuple[str, str], ...], float]] = field(default_factory=list)


# (name, unit, help): the families every export declares, in this order (interface.md lists them)
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("fleet_device_leak_score", "", "Leak suspicion of the device, 0..1 (0.5 and above: a suspect)."),
    ("fleet_device_up", "", "1 when the latest attempt to sample the device succeeded (status ok), else 0."),
    ("fleet_device_samples", "", "Samples stored for the device."),
    (
        "fleet_device_info",
        "",
        "1, labelled with the firmware the device named at its last sample that named one"
        " (absent when unknown).",
    ),
    (
        "fleet_device_mem_available_bytes",
        "bytes",
        "MemAvailable at the device's last sample (absent when unknown).",
    ),
    (
        "fleet_device_memory_exhausted_seconds",
        "seconds",
        "Seconds after the last sample until MemAvailable reaches 0 at its current rate"
        " (only with a forecast).",
    ),
    (
        "fleet_device_last_sample_timestamp_seconds",
        "seconds",
        "Unix time of the device's newest stored sample.",
    ),
    ("fleet_device_findings", "", "Findings of the device and its processes, by kind and severity."),
    (
        "fleet_process_leak_score",
        "",
        f"Leak suspicion of a process, 0..1: those with findings and the {TOP_PROCESSES} most suspect"
        " per device.",
    ),
    ("fleet_fleetwide_findings", "", "Fleet-wide findings (across devices), by kind and severity."),
    ("fleet_export_timestamp_seconds", "seconds", "Unix time the analysis behind this export was made."),
)
METRIC_NAMES = tuple(name for name, _, _ in FAMILIES)


def label_value(text: str) -> str:
    """``text`` as the inside of a quoted label value: control characters made visible (newline
    kept), then backslash, double quote and newline escaped."""
    safe = visible(text, keep="\n")
    return safe.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render_openmetrics(view: FleetView) -> str:
    """The whole exposition, ``# EOF`` included."""
    return "".join(openmetrics_lines(view))


def openmetrics_lines(view: FleetView) -> Iterator[str]:
    """The exposition line by line (each ending in a newline)."""
    families = {name: Family(name, text, unit) for name, unit, text in FAMILIES}

    def add(name: str, labels: dict[str, str], value: float) -> None:
        families[name].samples.append((tuple(labels.items()), value))

    for d in view.devices:
        _device(d, add)
    fleet_counts = Counter((f.kind, f.severity) for f in view.fleet_findings)
    for (kind, severity), n in sorted(fleet_counts.items()):
        add("fleet_fleetwide_findings", {"kind": kind, "severity": severity}, n)
    add("fleet_export_timestamp_seconds", {}, round(view.generated_at, 3))

    for fam in families.values():
        yield f"# HELP {fam.name} {fam.help}\n"
        yield f"# TYPE {fam.name} gauge\n"
        if fam.unit:
            yield f"# UNIT {fam.name} {fam.unit}\n"
        seen: set[str] = set()
        for labels, value in fam.samples:
            inside = ",".join(f'{k}="{label_value(v)}"' for k, v in labels)
            series = f"{fam.name}{{{inside}}}" if inside else fam.name
            if series in seen:  # two names the same once made visible: one series each
                continue
            seen.add(series)
            yield f"{series} {_number(value)}\n"
    yield "# EOF\n"


def _device(d: DeviceView, add: Callback) -> None:
    row, a = d.row, d.assessment
    dev = {"device": row.name}
    status = row.status or "unknown"
    add("fleet_device_leak_score", dev, round(d.score, 3))
    add("fleet_device_up", {**dev, "status": status}, 1 if status == OK else 0)
    add("fleet_device_samples", dev, row.samples)
    if row.last_sample is not None:
        add("fleet_device_last_sample_timestamp_seconds", dev, round(row.last_sample, 3))
    if d.firmware is not None:
        add("fleet_device_info", {**dev, "firmware": d.firmware}, 1)
    if a is None:
        return
    if a.mem_available and a.mem_available[-1][0] == a.last_sample:
        add("fleet_device_mem_available_bytes", dev, a.mem_available[-1][1])
    if a.memory_exhausted_in_s is not None:
        add("fleet_device_memory_exhausted_seconds", dev, round(a.memory_exhausted_in_s, 1))
    counts = Counter((f.kind, f.severity) for f in a.all_findings)
    for (kind, severity), n in sorted(counts.items()):
        add("fleet_device_findings", {**dev, "kind": kind, "severity": severity}, n)
    for i, p in enumerate(a.processes):  # highest score first
        if i < TOP_PROCESSES or p.findings:
            add("fleet_process_leak_score", {**dev, "process": p.name, "pid": str(p.pid)}, round(p.score, 3))
