"""A firmware update on a running lab device, between two collects: a new baseline, said once.

The device is not rebooted (its os-release changes in place, as an update that swaps the
application partition would): the boot id stays, so only the firmware identity says what happened.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.load import load_inventory
from fleet.lab import Lab, set_firmware
from fleet.render.rank import rank_json
from fleet.store.store import Store
from fleet.text import iso
from fleet.view.fleet import build_view

pytestmark = pytest.mark.lab


def test_a_firmware_update_between_collects_is_a_new_baseline(lab: Lab, tmp_path: Path) -> None:
    device = lab.device("lab-07")  # webui + motiond: no leak of its own
    devices = load_inventory(lab.inventory).select([device.name])
    opts = CollectOptions(samples=3, interval=1.0)
    try:
        with Store(tmp_path / "store") as st:
            asyncio.run(collect(devices, st, opts))
            before = rank_json(build_view(st, details=False))["devices"][0]
            set_firmware(lab, device.name, "2.4.0-rc1")
            updated_at = time.time()
            asyncio.run(collect(devices, st, opts))
            view = build_view(st, details=False)
    finally:
        set_firmware(lab, device.name, device.firmware)
    assert before["firmware"] == device.firmware == "2.3.0"
    assert not any(f["kind"] == "firmware_change" for f in before["findings"])
    entry = rank_json(view)["devices"][0]
    assert entry["samples"] == 6 and entry["firmware"] == "2.4.0-rc1"
    (change,) = [f for f in entry["findings"] if f["kind"] == "firmware_change"]
    day = (iso(updated_at) or "")[:10]
    assert f"firmware 2.3.0 -> 2.4.0-rc1 on {day}" in change["summary"], change
    assert change["severity"] == "info" and change["evidence"]["to"] == "2.4.0-rc1"
    assessment = view.devices[0].assessment
    assert assessment is not None and assessment.boots == 1  # no reboot: the firmware alone split it
    assert not any(f["kind"] == "reboot" for f in entry["findings"])
    # the processes that ran through the update are two runs of one series, not restarts
    assert all(f["kind"] != "restart" for p in entry["processes"] for f in p["findings"])
    assert [v for _, v in assessment.firmware_history] == ["2.3.0", "2.4.0-rc1"]
