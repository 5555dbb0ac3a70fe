"""Leak analysis: pure functions from sampled metrics to ranked findings (no I/O, no database).

    from fleet.analysis import analyse_device, fleet_findings
    assessment = analyse_device("cam-001", samples)   # samples: [(unix_seconds, DeviceMetrics), ...]
    fleet = fleet_findings([assessment, ...], groups={"cam-001": ["cameras"]})

Module map: ``stats`` (Theil-Sen, Mann-Kendall, the rise/decline decision), ``series`` (boots,
process identity, lineages across restarts), ``process`` (per-process findings), ``device``
(per-device findings and the MemAvailable forecast), ``score`` (0..1 scores), ``fleet`` (the same
leak on many devices), ``model`` (result records and their JSON), ``history`` (a long history
condensed: the newest days as sampled, older ones as a point per day, week or month and boot).
Generated series with known truth, for tests and benchmarks, are in tests/support/synthetic.py.
"""

from fleet.analysis.device import analyse_device
from fleet.analysis.fleet import firmware_regressions, fleet_findings
from fleet.analysis.model import (
    DEVICE_KINDS,
    LEAK_KINDS,
    PROCESS_KINDS,
    DeviceAssessment,
    Finding,
    FirmwareRegression,
    FleetFinding,
    ProcessAssessment,
)

__all__ = [
    "DEVICE_KINDS",
    "LEAK_KINDS",
    "PROCESS_KINDS",
    "DeviceAssessment",
    "Finding",
    "FirmwareRegression",
    "FleetFinding",
    "ProcessAssessment",
    "analyse_device",
    "firmware_regressions",
    "fleet_findings",
]
