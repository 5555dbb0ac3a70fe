"""Firmware identity in the analysis: a change is a new baseline and is said; fleet findings are
counted per version; a version that leaks where its predecessor did not is named."""

from __future__ import annotations

import random
from dataclasses import replace

from analysis_builder import MiB, device, proc

from fleet.analysis import DeviceAssessment, analyse_device, firmware_regressions, fleet_findings
from fleet.analysis.fleet import predecessors, version_key
from fleet.analysis.series import boot_runs, boundaries
from fleet.metrics.model import DeviceMetrics
from tests.support.synthetic import device_series, schedule

Samples = list[tuple[float, DeviceMetrics]]


def with_firmware(samples: Samples, versions: list[str | None]) -> Samples:
    return [(t, replace(dm, firmware=v)) for (t, dm), v in zip(samples, versions, strict=True)]


def test_a_firmware_change_starts_a_run_without_a_reboot_and_none_is_no_change() -> None:
    rows = [[proc(1, "init")] for _ in range(6)]
    samples = with_firmware(device(rows), ["2.3.0", None, "2.3.0", "2.3.1", None, "2.3.1"])
    found = boundaries(samples)
    assert found.runs == [0, 0, 0, 1, 1, 1] == boot_runs(samples)
    assert found.reboots == 0 and [(o, n) for _, o, n in found.firmware_changes] == [("2.3.0", "2.3.1")]
    # the same boot id throughout, and none at all (uptime keeps rising): still a new run
    no_id = with_firmware(device(rows, boot_ids=[None] * 6), ["a", "a", "a", "b", "b", "b"])
    assert boot_runs(no_id) == [0, 0, 0, 1, 1, 1]
    # a reboot into the new firmware: one new run, one reboot, one change
    both = with_firmware(device(rows, boot_ids=["x"] * 3 + ["y"] * 3), ["a"] * 3 + ["b"] * 3)
    found = boundaries(both)
    assert found.runs == [0, 0, 0, 1, 1, 1] and found.reboots == 1 and len(found.firmware_changes) == 1
    # captures from before format 6 (no firmware at all): no change, one run
    assert boot_runs(device(rows)) == [0] * 6


def test_a_firmware_change_is_a_new_baseline_and_is_said() -> None:
    """A heap that grows 1 MiB a sample on both firmwares and drops at the update (the same pid: the
    update swapped the program's data, not the process) is read per firmware, never joined: the
    leak shows. Without firmware identities the same series is one series whose fall hides it."""
    anon = [(10 + i) * MiB for i in range(9)] + [(9 + i) * MiB for i in range(4)]
    rows = [[proc(412, "AiApp", anon_private=a, rss=a + 4 * MiB)] for a in anon]
    joined = analyse_device("cam", device(rows))
    assert not any(f.kind == "heap_growth" for f in joined.processes[0].findings)
    samples = with_firmware(device(rows), ["2.3.0"] * 9 + ["2.3.1"] * 4)
    dev = analyse_device("cam", samples)
    assert any(f.kind == "heap_growth" for f in dev.processes[0].findings)
    (change,) = [f for f in dev.findings if f.kind == "firmware_change"]
    assert change.severity == "info" and "firmware 2.3.0 -> 2.3.1 on 2026-01-01" in change.summary
    assert change.evidence["from"] == "2.3.0" and change.evidence["to"] == "2.3.1"
    assert not any(f.kind == "reboot" for f in dev.findings) and dev.boots == 1
    assert dev.firmware == "2.3.1" and dev.to_json()["firmware"] == "2.3.1"
    assert analyse_device("cam", device(rows)).to_json()["firmware"] is None


def _fleet(n_new: int, n_old: int, *, leak_on_old: bool = False) -> list[DeviceAssessment]:
    out = []
    for d in range(n_new + n_old):
        rng = random.Random(d)
        new = d < n_new
        pattern = "thread_leak" if new or leak_on_old else "steady"
        samples, _ = device_series(schedule("regular", 12, rng), rng, [("AiApp", pattern), ("sh", "steady")])
        version = "2.3.1" if new else "2.3.0"
        out.append(analyse_device(f"cam-{d:03d}", with_firmware(samples, [version] * len(samples))))
    return out


def test_fleet_findings_compare_firmware_versions() -> None:
    devices = _fleet(6, 4)
    groups = {d.name: ["cameras"] for d in devices}
    f = next(f for f in fleet_findings(devices, groups) if f.kind == "thread_leak")
    expected = "rtsp_worker thread leak in AiApp on 6 of 6 devices running 2.3.1, 0 of 4 running 2.3.0"
    assert f.summary.startswith(expected)
    assert f.by_firmware == (("2.3.1", 6, 6), ("2.3.0", 0, 4)) and f.group == "cameras"
    assert f.to_json()["by_firmware"][0] == {"firmware": "2.3.1", "devices": 6, "total": 6}
    (reg,) = firmware_regressions(fleet_findings(devices, groups), devices)
    assert (reg.version, reg.predecessor) == ("2.3.1", "2.3.0") and reg.finding.kind == "thread_leak"
    assert reg.summary.startswith("firmware 2.3.1 leaks where 2.3.0 did not: rtsp_worker thread leak")


def test_a_leak_on_both_versions_is_no_regression_and_one_version_keeps_the_group_text() -> None:
    both = _fleet(3, 3, leak_on_old=True)
    f = next(f for f in fleet_findings(both) if f.kind == "thread_leak")
    assert "3 of 3 devices running 2.3.1, 3 of 3 running 2.3.0" in f.summary
    assert firmware_regressions(fleet_findings(both), both) == []
    one = _fleet(4, 0)
    groups = {d.name: ["cameras"] for d in one}
    f = next(f for f in fleet_findings(one, groups) if f.kind == "thread_leak")
    assert "on 4 of 4 devices in group cameras" in f.summary and f.by_firmware == (("2.3.1", 4, 4),)


def test_predecessor_is_the_version_devices_ran_before_else_the_one_below() -> None:
    rows = [[proc(1, "init")] for _ in range(4)]
    moved = analyse_device("a", with_firmware(device(rows), ["1.9", "1.9", "2.10", "2.10"]))
    stayed = analyse_device("b", with_firmware(device(rows), ["2.9"] * 4))
    older = analyse_device("c", with_firmware(device(rows), ["2.2"] * 4))
    # 2.10 was seen replacing 1.9; 2.9 has no observed change: the version just below it runs
    assert predecessors([moved, stayed, older]) == {"2.10": "1.9", "2.9": "2.2"}
    assert sorted(["2.10", "2.9", "2.9-rc1", "10.0", "2.2"], key=version_key) == [
        "2.2",
        "2.9",
        "2.9-rc1",
        "2.10",
        "10.0",
    ]


def test_many_firmware_changes_stay_one_sentence() -> None:
    rows = [[proc(1, "init")] for _ in range(40)]
    versions = [f"1.{i // 2}" for i in range(40)]  # a new version every second sample: 19 changes
    dev = analyse_device("cam", with_firmware(device(rows), versions))
    (change,) = [f for f in dev.findings if f.kind == "firmware_change"]
    assert change.evidence["changes"] == 19 and change.evidence["from"] == "1.0" and dev.firmware == "1.19"
    assert "firmware changed 19 times, latest 1.16 -> 1.17 on" in change.summary
    assert change.summary.count("->") == 3
