"""fleet collect against the emulated lab: real Dropbear + BusyBox devices running leaking C programs.

One collection (8 samples, 1.5 s apart) feeds every assertion about outcomes, storage and analysis.
"""

from __future__ import annotations

import asyncio
import gc
import json
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import CoroutineType
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.collect import collector, options
from fleet.collect.collector import collect
from fleet.collect.events import ProgressEvent, SampleDone
from fleet.collect.options import CollectOptions
from fleet.collect.sampler import DeviceOutcome
from fleet.config import SweepSettings
from fleet.inventory.load import load_inventory
from fleet.lab import Lab
from fleet.lab.profiles import FIRMWARE, LEAKING_FIRMWARE
from fleet.render.rank import rank_json
from fleet.render.report import render_email, render_report
from fleet.ssh.outcomes import CommandResult
from fleet.store.store import Store
from fleet.view.fleet import build_view
from tests.helpers import assert_lab_leaks_found

pytestmark = pytest.mark.lab
SAMPLES = 10
INTERVAL = 1.5
HANG_TIMEOUT = 4.0


@dataclass(frozen=True)
class Run:
    lab: Lab
    store: Path
    inventory: Path
    outcomes: dict[str, DeviceOutcome]
    seconds: float
    rank: dict[str, Any]
    held: list[str]  # names of locals holding a capture in device tasks asleep between samples


def lab_inventory(lab: Lab, path: Path) -> Path:
    """The lab's own inventory plus a dead address and a key no device accepts."""
    doc = yaml.safe_load(lab.inventory.read_text())
    first = lab.devices[0]
    doc["devices"]["dead-end"] = {"host": "127.0.0.254", "timeout": 3}
    doc["devices"]["wrong-key"] = {"host": first.host, "identity_file": str(lab.wrong_identity_file)}
    doc["devices"]["lab-hang"]["timeout"] = HANG_TIMEOUT
    path.write_text(yaml.safe_dump(doc))
    return path


def _captures_held_while_asleep() -> list[str]:
    """Device tasks waiting for their next sample that still hold a capture's raw bytes: with
    1,000 kept connections that would be 56 MiB held between samples (collector memory must stay
    flat in the fleet size)."""
    held = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        if getattr(coro, "__qualname__", "") != "_run_device" or frame is None:
            continue
        if getattr(coro.cr_await, "__qualname__", "") != "sleep":  # type: ignore[union-attr]
            continue
        for name, value in frame.f_locals.items():
            parts = value if isinstance(value, tuple) else (value,)
            if any(isinstance(p, CommandResult) or (isinstance(p, bytes) and len(p) > 4096) for p in parts):
                held.append(name)
    return held


@pytest.fixture(scope="module")
def run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    tmp = tmp_path_factory.mktemp("collect")
    inventory = lab_inventory(lab, tmp / "inventory.yaml")
    store = tmp / "store"
    devices = load_inventory(inventory).devices
    held: list[str] = []
    started = time.monotonic()
    with Store(store) as st:
        opts = CollectOptions(samples=SAMPLES, interval=INTERVAL)

        def progress(event: ProgressEvent) -> None:
            if isinstance(event, SampleDone):
                held.extend(_captures_held_while_asleep())

        outcomes = asyncio.run(collect(devices, st, opts, progress=progress))
        seconds = time.monotonic() - started
        rank = rank_json(build_view(st, details=False))
    return Run(lab, store, inventory, {o.name: o for o in outcomes}, seconds, rank, held)


def test_every_reachable_device_has_every_sample(run: Run) -> None:
    for device in run.lab.devices:
        if device.shell == "hang":
            continue
        o = run.outcomes[device.name]
        assert (o.status, o.samples, o.error) == ("ok", SAMPLES, None), device.name
    with Store(run.store) as st:
        rows = {r.name: r for r in st.devices()}
        parsed = st.db.execute("SELECT count(*) FROM samples WHERE parsed = 1").fetchone()[0]
    assert parsed == SAMPLES * sum(1 for d in run.lab.devices if d.shell != "hang")
    assert rows["lab-01"].samples == SAMPLES


def test_no_capture_is_held_between_samples(run: Run) -> None:
    assert run.held == []


def _devices_in_hand() -> int:
    """How many devices the collector holds right now: its live _run_device coroutines."""
    code = collector._run_device.__code__
    return sum(1 for o in gc.get_objects() if isinstance(o, CoroutineType) and o.cr_code is code)


def test_a_one_sample_run_holds_no_task_per_device(lab: Lab, tmp_path: Path) -> None:
    """One sample each: at most ``concurrency`` devices are in hand at any moment (a device task
    waiting its turn costs ~2 KB: 20 MB for 10,000 devices), and every outcome comes back in
    inventory order."""
    devices = load_inventory(lab_inventory(lab, tmp_path / "inventory.yaml")).devices
    in_hand: list[int] = []

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, SampleDone):
            in_hand.append(_devices_in_hand())

    with Store(tmp_path / "store") as st:
        opts = CollectOptions(samples=1, concurrency=2)
        outcomes = asyncio.run(collect(devices, st, opts, progress=progress))
    assert [o.name for o in outcomes] == [d.name for d in devices]
    statuses = {o.name: o.status for o in outcomes}
    assert statuses["dead-end"] == "unreachable" and statuses["lab-hang"] == "timeout"
    assert sum(s == "ok" for s in statuses.values()) == len(devices) - 3
    assert len(in_hand) == len(devices) and max(in_hand) <= 2


def test_a_multi_sample_run_holds_at_most_max_connected_devices(lab: Lab, tmp_path: Path) -> None:
    """Two samples 2 s apart on kept connections, at most 3 devices at once: the next device starts
    its samples when one is done (a 10,000-device sweep must not hold 10,000 connections), each
    device's samples are still an interval apart, and outcomes come back in inventory order."""
    devices = load_inventory(lab_inventory(lab, tmp_path / "inventory.yaml")).devices
    in_hand: list[int] = []

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, SampleDone):
            in_hand.append(_devices_in_hand())

    with Store(tmp_path / "store") as st:
        opts = CollectOptions(samples=2, interval=2.0, max_connected=3)
        outcomes = asyncio.run(collect(devices, st, opts, progress=progress))
        times: dict[str, list[float]] = {}
        for name, at in st.db.execute(
            "SELECT d.name, s.captured_at FROM samples s JOIN devices d ON d.id = s.device_id ORDER BY s.id"
        ):
            times.setdefault(name, []).append(at)
    assert [o.name for o in outcomes] == [d.name for d in devices]
    ok = [o.name for o in outcomes if o.status == "ok"]
    assert len(ok) == len(devices) - 3  # all but dead-end, wrong-key and lab-hang
    # the first capture starts after the connect, the second on the schedule: ~2 s apart, not
    # back to back as a device started late on the run's clock would sample
    assert all(len(times[name]) == 2 and times[name][1] - times[name][0] > 1.0 for name in ok), times
    assert max(in_hand) == 3


def test_a_low_open_file_limit_narrows_the_run_instead_of_failing_devices(lab: Lab, tmp_path: Path) -> None:
    """60 devices, two samples each on kept connections, in a collector allowed 64 open files:
    it holds as many connections as the limit leaves room for and samples every device (holding
    all 60 at once, some devices failed "Too many open files")."""
    doc = yaml.safe_load(lab.inventory.read_text())
    base = {name: d for name, d in doc["devices"].items() if name != "lab-hang"}
    doc["devices"] = {f"{name}-{i}": d for i in range(8) for name, d in base.items()}
    doc["devices"] = dict(list(doc["devices"].items())[:60])
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    store = tmp_path / "store"
    args = ["collect", str(inventory), "--store", str(store), "--samples", "2", "--interval", "0.5"]
    out = subprocess.run(
        [sys.executable, "-m", "fleet", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "open-file limit allows ~16 connections at once, not 60: the run takes longer" in out.stderr
    with Store(store) as st:
        rows = st.devices()
    assert len(rows) == 60 and all(r.samples == 2 for r in rows), [(r.name, r.samples) for r in rows]


def _one_device_at_a_time(store: Path) -> bool:
    """Whether every device's samples came in one block: no device sampled during another's run."""
    with Store(store) as st:
        names = [
            name
            for (name,) in st.db.execute(
                "SELECT d.name FROM samples s JOIN devices d ON d.id = s.device_id ORDER BY s.captured_at"
            )
        ]
    blocks = [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]
    return len(names) == 6 and len(blocks) == len(set(blocks)) == 3


def test_max_connected_from_the_command_line_and_the_config(lab: Lab, tmp_path: Path) -> None:
    doc = yaml.safe_load(lab.inventory.read_text())
    doc["devices"] = {name: doc["devices"][name] for name in ("lab-01", "lab-02", "lab-03")}
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    runner = CliRunner()
    every = ["--samples", "2", "--interval", "1"]
    assert SweepSettings().max_connected == options.MAX_CONNECTED
    res = runner.invoke(
        app, ["collect", str(inventory), "--store", str(tmp_path / "a"), *every, "--max-connected", "1"]
    )
    assert res.exit_code == 0, res.output
    assert _one_device_at_a_time(tmp_path / "a")
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[sweep]\nmax_connected = 1\n")
    sweep = ["sweep", str(inventory), "--config", str(cfg), "--report-dir", str(tmp_path / "reports"), *every]
    res = runner.invoke(app, [*sweep, "--store", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert _one_device_at_a_time(tmp_path / "b")
    res = runner.invoke(app, ["collect", str(inventory), "--store", str(tmp_path / "c"), *every])
    assert res.exit_code == 0 and not _one_device_at_a_time(tmp_path / "c")  # the default: all at once
    cfg.write_text("[sweep]\nmax_connected = 0\n")
    res = runner.invoke(app, [*sweep, "--store", str(tmp_path / "d")])
    assert res.exit_code == 2 and "max_connected: must be at least 1" in res.output, res.output


def test_broken_entries_are_classified_not_fatal(run: Run) -> None:
    assert run.outcomes["dead-end"].status == "unreachable"
    assert run.outcomes["wrong-key"].status == "auth_failed"
    assert "Permission denied" in (run.outcomes["wrong-key"].error or "")
    hang = run.outcomes["lab-hang"]
    assert hang.status == "timeout" and hang.samples == 0
    assert f"{HANG_TIMEOUT:g} s" in (hang.error or "")


def test_a_hanging_device_costs_only_its_own_timeout(run: Run) -> None:
    # 8 rounds 1.5 s apart; a device that times out skips the rounds it overran, so the run lasts
    # the schedule plus about one timeout, not one timeout per sample
    assert run.seconds < (SAMPLES - 1) * INTERVAL + HANG_TIMEOUT + 6
    assert run.outcomes["lab-hang"].attempts < SAMPLES
    ok = [o for o in run.outcomes.values() if o.status == "ok"]
    assert max(o.seconds / o.attempts for o in ok) < HANG_TIMEOUT


def test_rank_json_has_the_interface_shape(run: Run) -> None:
    doc = run.rank
    assert set(doc) == {"generated_at", "devices", "fleet_findings", "firmware_regressions"}
    by_name = {d["name"]: d for d in doc["devices"]}
    assert set(by_name) >= {d.name for d in run.lab.devices} | {"dead-end", "wrong-key"}
    assert by_name["dead-end"]["status"] == "unreachable" and by_name["dead-end"]["error"]
    for d in doc["devices"]:
        assert {"name", "host", "status", "error", "samples", "first_sample", "last_sample", "score"} <= set(
            d
        )
        assert {"memory_exhausted_in_s", "findings", "processes", "firmware"} <= set(d)
        assert 0.0 <= d["score"] <= 1.0
    scores = [d["score"] for d in doc["devices"]]
    assert scores == sorted(scores, reverse=True)


def test_each_leaking_workload_gets_its_finding_and_outranks_non_leaks(run: Run) -> None:
    leak_scores, flat_scores = assert_lab_leaks_found(run.lab, run.rank)
    assert leak_scores and flat_scores
    assert min(leak_scores) > max(flat_scores)


def test_cli_collect_exits_0_with_a_summary(run: Run) -> None:
    store = run.store.parent / "cli-store"
    res = CliRunner().invoke(
        app,
        ["collect", str(run.inventory), "--store", str(store), "--samples", "2", "--interval", "1"],
    )
    assert res.exit_code == 0, res.output
    assert "dead-end: unreachable" in res.output and "wrong-key: auth_failed" in res.output
    assert "lab-hang: timeout" in res.output
    doc = json.loads(CliRunner().invoke(app, ["rank", "--store", str(store), "--json"]).output)
    assert {d["name"]: d["samples"] for d in doc["devices"]}["lab-01"] == 2


def test_restart_masked_leak_is_a_leak_across_restarts(run: Run) -> None:
    """streamer leaks, aborts and is respawned: each life regrows at the same slope."""
    device = next(d for d in run.lab.devices if "restart_leak" in d.workloads)
    by_name = {d["name"]: d for d in run.rank["devices"]}
    streamer = next(p for p in by_name[device.name]["processes"] if p["name"] == "streamer")
    kinds = {f["kind"]: f for f in streamer["findings"]}
    assert "restart" in kinds, streamer["findings"]
    leak = kinds.get("heap_growth")
    assert leak is not None and leak["severity"] in ("medium", "high"), streamer["findings"]
    assert int(leak["evidence"].get("segments") or 0) >= 2, leak["evidence"]


def test_which_firmware_leaks_rank_json_by_firmware_table_and_fleet_finding(run: Run) -> None:
    """The lab runs two firmware versions (AiApp's devices 2.3.1, the others 2.3.0, in their
    /etc/os-release): every capture reads it, rank --json names it per device, the report has a
    By-firmware table, and the fleet finding and the email's first lines name the leaking version."""
    by_name = {d["name"]: d for d in run.rank["devices"]}
    sampled = [d for d in run.lab.devices if d.shell != "hang"]
    assert {d.name: by_name[d.name]["firmware"] for d in sampled} == {d.name: d.firmware for d in sampled}
    assert {d.firmware for d in sampled} == {LEAKING_FIRMWARE, FIRMWARE}
    assert by_name["dead-end"]["firmware"] is None  # never sampled: unknown
    new = sum(d.firmware == LEAKING_FIRMWARE for d in sampled)
    old = len(sampled) - new
    found = run.rank["fleet_findings"]
    aiapp = next(f for f in found if f["kind"] == "thread_leak" and f["process"] == "AiApp")
    assert f"on {new} of {new} devices running 2.3.1, 0 of {old} running 2.3.0" in aiapp["summary"]
    assert aiapp["by_firmware"][:2] == [
        {"firmware": "2.3.1", "devices": new, "total": new},
        {"firmware": "2.3.0", "devices": 0, "total": old},
    ]
    (regression,) = [r for r in run.rank["firmware_regressions"] if "AiApp" in r["summary"]]
    assert (regression["firmware"], regression["predecessor"]) == ("2.3.1", "2.3.0")
    lead = "firmware 2.3.1 leaks where 2.3.0 did not: rtsp_worker thread leak in AiApp on"
    assert regression["summary"].startswith(lead)

    with Store(run.store) as st:
        view = build_view(st)
    html = render_report(view)
    table = html.split('id="by-firmware"', 1)[1].split("</table>", 1)[0]
    rows = [re.sub(r"<[^>]+>", " ", r).split() for r in table.split("<tr>")[2:]]
    firmware_rows = {r[0]: r[1:] for r in rows}
    assert firmware_rows["2.3.1"][:3] == [str(new), str(new), "thread_leak"], firmware_rows
    assert firmware_rows["2.3.0"][0] == str(old) and firmware_rows["unknown"][0] == "3"  # hang, dead-end, key
    _, text, email_html = render_email(view, "The report is attached.")
    assert text.splitlines()[3].startswith("F" + lead[1:])  # the email's first lines
    assert "Firmware 2.3.1 leaks where 2.3.0 did not:" in email_html
    shown = CliRunner().invoke(app, ["show", "lab-01", "--store", str(run.store)])
    assert shown.exit_code == 0 and "  firmware: 2.3.1" in shown.output, shown.output
