"""Result records of the analysis, each with ``to_json()`` in the shape of docs/interface.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.text import iso

Evidence = dict[str, float | int | str | None]

# Finding kinds of interface.md, plus the two this module adds.
PROCESS_KINDS = (
    "thread_leak",
    "unjoined_threads",
    "stack_growth",
    "heap_growth",
    "fd_leak",
    "shm_leak",
    "vm_growth",  # VmSize rising much faster than RSS and not explained by thread stacks
    "address_space_exhaustion",  # a 32-bit process heading for the ~3 GiB user address-space limit
    "restart",
)
DEVICE_KINDS = ("mem_available_decline", "slab_growth", "reboot", "firmware_change")
LEAK_KINDS = frozenset(PROCESS_KINDS) - {"restart"}
SEVERITIES = ("info", "low", "medium", "high")  # least severe first
SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}
SUSPECT_SCORE = 0.5  # a device or process at or above this score is called a suspect


@dataclass(frozen=True)
class Finding:
    """One thing worth telling a firmware engineer, with the numbers behind it."""

    kind: str
    severity: str  # high | medium | low | info
    summary: str
    evidence: Evidence = field(default_factory=dict)
    score: float = 0.0  # 0..1 strength, used for ranking; not part of the JSON shape

    def to_json(self) -> dict[str, Any]:
        """The finding shape of interface.md."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "summary": self.summary,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class ProcessAssessment:
    """One process lineage (same name and executable across restarts), reported as its latest instance."""

    pid: int
    start_time: int
    name: str
    exe: str | None
    cmdline: str | None
    score: float
    findings: tuple[Finding, ...]
    restarts: int = 0
    samples: int = 0
    address_space_exhausted_in_s: float | None = None
    # Sparkline series over the whole lineage: ``times[i]`` goes with ``rss[i]`` etc.; None = unknown.
    times: tuple[float, ...] = ()
    rss: tuple[int | None, ...] = ()
    threads: tuple[int | None, ...] = ()
    stack_count: tuple[int | None, ...] = ()
    fds: tuple[int | None, ...] = ()

    def series(self, metric: str) -> list[tuple[float, int]]:
        """``[(t, value), ...]`` for one of rss, threads, stack_count, fds, skipping unknown values."""
        values: tuple[int | None, ...] = getattr(self, metric)
        return [(t, v) for t, v in zip(self.times, values, strict=True) if v is not None]

    @property
    def leaking(self) -> bool:
        """True when a leak finding of medium or high severity is present."""
        return any(f.kind in LEAK_KINDS and f.severity in ("medium", "high") for f in self.findings)

    @property
    def suspect(self) -> bool:
        """Scored at least ``SUSPECT_SCORE``, or leaking."""
        return self.score >= SUSPECT_SCORE or self.leaking

    def to_json(self) -> dict[str, Any]:
        """The process shape of interface.md, with exe and cmdline."""
        return {
            "pid": self.pid,
            "start_time": self.start_time,
            "name": self.name,
            "exe": self.exe,
            "cmdline": self.cmdline,
            "score": round(self.score, 3),
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True)
class DeviceAssessment:
    """One device over the window: its score, forecast, own findings and ranked processes."""

    name: str
    score: float
    memory_exhausted_in_s: float | None
    forecast_uncertainty_s: float | None
    findings: tuple[Finding, ...]
    processes: tuple[ProcessAssessment, ...]  # highest score first
    samples: int = 0
    first_sample: float | None = None  # unix seconds
    last_sample: float | None = None
    boots: int = 1
    mem_available: tuple[tuple[float, int], ...] = ()
    # (first sample, version) of each firmware identity in the window, oldest first (capture format 6)
    firmware_history: tuple[tuple[float, str], ...] = ()

    @property
    def firmware(self) -> str | None:
        """The firmware it runs now (its latest sample's that names one); None: unknown."""
        return self.firmware_history[-1][1] if self.firmware_history else None

    @property
    def suspect(self) -> bool:
        """Scored at least ``SUSPECT_SCORE``."""
        return self.score >= SUSPECT_SCORE

    @property
    def all_findings(self) -> list[Finding]:
        """The device's own findings, then its processes'."""
        return [*self.findings, *(f for p in self.processes for f in p.findings)]

    def to_json(self) -> dict[str, Any]:
        """The device shape of interface.md, minus host/status/error which the store knows."""
        return {
            "name": self.name,
            "samples": self.samples,
            "first_sample": iso(self.first_sample),
            "last_sample": iso(self.last_sample),
            "score": round(self.score, 3),
            "firmware": self.firmware,
            "memory_exhausted_in_s": _round_or_none(self.memory_exhausted_in_s),
            "forecast_uncertainty_s": _round_or_none(self.forecast_uncertainty_s),
            "findings": [f.to_json() for f in self.findings],
            "processes": [p.to_json() for p in self.processes],
        }


@dataclass(frozen=True)
class FleetFinding:
    """One leak seen on several devices: a firmware bug rather than a device fault."""

    kind: str
    process: str
    devices: tuple[str, ...]
    summary: str
    severity: str = "medium"
    exe: str | None = None
    group: str | None = None
    total: int = 0  # devices the count is "out of"
    # (version, devices running it with this finding, devices running it), most affected share
    # first; empty when no device names its firmware
    by_firmware: tuple[tuple[str, int, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The fleet_findings shape of interface.md, plus severity, exe, group, total and by_firmware."""
        return {
            "kind": self.kind,
            "process": self.process,
            "devices": list(self.devices),
            "summary": self.summary,
            "severity": self.severity,
            "exe": self.exe,
            "group": self.group,
            "total": self.total,
            "by_firmware": [{"firmware": v, "devices": n, "total": of} for v, n, of in self.by_firmware],
        }


@dataclass(frozen=True)
class FirmwareRegression:
    """A fleet finding on devices running ``version`` and on none running its ``predecessor``."""

    version: str
    predecessor: str
    finding: FleetFinding

    @property
    def summary(self) -> str:
        return f"firmware {self.version} leaks where {self.predecessor} did not: {self.finding.summary}"


def _round_or_none(x: float | None) -> int | None:
    return None if x is None else round(x)
