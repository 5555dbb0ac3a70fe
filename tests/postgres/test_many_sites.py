"""Many collectors, one PostgreSQL store, one report (issue 10).

Sharding is checked on its own; the sweep's advisory lock on a real server; then three
``fleet collect --shard K/3`` processes fill one store from the lab and ``fleet rank --json`` shows
every device once with its collector, also when one collector is killed with SIGKILL mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.inventory.load import load_inventory
from fleet.inventory.model import Device, shard
from fleet.lab import Lab
from fleet.store.location import redact
from fleet.store.store import Store, sweep_lock

ROOT = Path(__file__).parent.parent.parent
HANG_TIMEOUT = 4.0


# --- sharding --------------------------------------------------------------------------------


def test_shards_cover_every_device_exactly_once() -> None:
    devices = [Device(name=f"cam-{i:04d}", host="h") for i in range(600)]
    for n in (1, 2, 3, 7):
        shares = [shard(devices, k, n) for k in range(1, n + 1)]
        names = [d.name for s in shares for d in s]
        assert sorted(names) == sorted(d.name for d in devices)  # each exactly once
        assert min(len(s) for s in shares) > len(devices) / n * 0.7  # and roughly even
    # stable across processes and machines: crc32, never Python's per-process hash()
    assert [d.name for d in shard(devices[:6], 1, 3)] == [
        d.name for d in devices[:6] if zlib.crc32(d.name.encode()) % 3 == 0
    ]
    with pytest.raises(ValueError):
        shard(devices, 4, 3)


def test_bad_shard_is_a_usage_error(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("devices:\n  cam-1: {host: 127.0.0.1}\n")
    for bad in ("0/3", "4/3", "x", "1/0", "2"):
        result = CliRunner().invoke(
            app, ["collect", str(inv), "--store", str(tmp_path / "s"), "--shard", bad]
        )
        assert result.exit_code == 2, (bad, result.output)
        assert "--shard" in result.output


def test_password_never_shows_in_store_locations() -> None:
    assert redact("postgresql://fleet:s3cret@db:5432/fleet?sslmode=require") == (
        "postgresql://fleet@db:5432/fleet?sslmode=require"
    )
    assert "s3cret" not in redact("postgresql:///fleet?host=/run/pg&password=s3cret")


# --- one sweep per shared store ---------------------------------------------------------------

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from fleet.store.store import Store, sweep_lock
with Store({url!r}) as st, sweep_lock(st):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_sweep_lock_is_an_advisory_lock_dropped_by_kill_9(pg_url: str, tmp_path: Path) -> None:
    Store(pg_url, create=True).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(root=str(ROOT), url=pg_url)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        sweep = ["sweep", "--no-collect", "--store", pg_url, "--report-dir", str(tmp_path)]
        result = CliRunner().invoke(app, sweep)
        assert result.exit_code == 4, result.output
        assert f"another sweep (pid {holder.pid} on " in result.output
        with Store(pg_url) as st, pytest.raises(Exception, match="another sweep"), sweep_lock(st):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    result = CliRunner().invoke(app, sweep)  # the server dropped the dead holder's lock
    assert result.exit_code == 0, result.output
    assert "0 of 0 devices" in result.output


# --- three collectors on the lab ----------------------------------------------------------------


def sharded_inventory(lab: Lab, path: Path) -> Path:
    """The lab plus a dead address, a hanging device with a short timeout."""
    doc = yaml.safe_load(lab.inventory.read_text())
    doc["devices"]["dead-end"] = {"host": "127.0.0.254", "timeout": 3}
    doc["devices"]["lab-hang"]["timeout"] = HANG_TIMEOUT
    path.write_text(yaml.safe_dump(doc))
    return path


def fleet_cmd(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))  # this tree
    return subprocess.Popen(
        [sys.executable, "-m", "fleet", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rank(url: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["rank", "--json", "--store", url])
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def expected_collectors(inventory: Path) -> dict[str, str]:
    devices = load_inventory(inventory).devices
    return {d.name: f"site-{k}" for k in (1, 2, 3) for d in shard(devices, k, 3)}


def samples_printed(output: str) -> int:
    """``collected 3/4 devices, 7 samples in ...``: what a collector says it stored."""
    first = output.splitlines()[0]
    return int(first.split(", ")[1].split()[0])


@pytest.mark.lab
def test_three_sharded_collectors_fill_one_store(lab: Lab, pg_url: str, tmp_path: Path) -> None:
    inventory = sharded_inventory(lab, tmp_path / "inventory.yaml")
    want = expected_collectors(inventory)
    assert set(want.values()) == {"site-1", "site-2", "site-3"}, "a lab shard is empty: pick other names"
    procs = {
        k: fleet_cmd(
            "collect",
            str(inventory),
            "--store",
            pg_url,
            "--shard",
            f"{k}/3",
            "--collector",
            f"site-{k}",
            "--samples",
            "3",
            "--interval",
            "1",
            cwd=tmp_path,
        )
        for k in (1, 2, 3)
    }
    printed = {}
    for k, p in procs.items():
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        printed[f"site-{k}"] = samples_printed(out)
    doc = rank(pg_url)
    names = [d["name"] for d in doc["devices"]]
    assert sorted(names) == sorted(want)  # every device of the inventory, exactly once
    for d in doc["devices"]:
        assert d["collector"] == want[d["name"]], d["name"]
        if d["name"] not in ("dead-end", "lab-hang"):
            assert d["status"] == "ok" and d["samples"] == 3, d
    with Store(pg_url) as st:
        by_collector = dict(st.sql("SELECT collector, count(*) FROM samples GROUP BY collector"))
        assert by_collector == {c: n for c, n in printed.items() if n}
        assert st.sql("SELECT count(*) FROM samples WHERE parsed != 1") == [(0,)]
        assert sorted(r[0] for r in st.sql("SELECT collector FROM runs")) == ["site-1", "site-2", "site-3"]
    # one report over the whole fleet, from the shared store
    report = fleet_cmd(
        "sweep", "--no-collect", "--store", pg_url, "--report-dir", str(tmp_path / "r"), cwd=tmp_path
    )
    out, err = report.communicate(timeout=120)
    assert report.returncode == 0, err
    assert f"of {len(want)} devices" in out
    html = next((tmp_path / "r").glob("fleet-report-*.html")).read_text()
    assert all(name in html for name in want)
    assert all(f'data-label="collector">site-{k}<' in html for k in (1, 2, 3))  # the collector column


@pytest.mark.lab
def test_killing_one_collector_loses_nothing_the_others_wrote(lab: Lab, pg_url: str, tmp_path: Path) -> None:
    inventory = sharded_inventory(lab, tmp_path / "inventory.yaml")
    want = expected_collectors(inventory)
    procs = {
        k: fleet_cmd(
            "collect",
            str(inventory),
            "--store",
            pg_url,
            "--shard",
            f"{k}/3",
            "--collector",
            f"site-{k}",
            "--interval",
            "1",
            "--until",
            "10s",
            cwd=tmp_path,
        )
        for k in (1, 2, 3)
    }
    victim = procs[2]
    try:
        deadline = time.monotonic() + 60
        with Store(pg_url, create=True) as st:
            while st.sql("SELECT count(*) FROM samples WHERE collector = 'site-2'")[0][0] < 3:
                assert time.monotonic() < deadline and victim.poll() is None, "site-2 never wrote"
                time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        printed = {}
        for k in (1, 3):
            out, err = procs[k].communicate(timeout=180)
            assert procs[k].returncode == 0, err
            printed[f"site-{k}"] = samples_printed(out)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
    with Store(pg_url) as st:
        by_collector = dict(st.sql("SELECT collector, count(*) FROM samples GROUP BY collector"))
        for site, n in printed.items():
            assert by_collector.get(site, 0) == n, (site, by_collector, printed)
        assert by_collector["site-2"] >= 3
        raws = {r.id: r.raw for r in st.raw_samples()}
        for sid, parsed in st.sql("SELECT id, parsed FROM samples WHERE collector = 'site-2'"):
            assert raws[sid] and parsed in (0, 1)  # whole; a cut parse waits for the next reader
    doc = rank(pg_url)  # parses what the killed collector left unparsed
    assert sorted(d["name"] for d in doc["devices"]) == sorted(want)
    survivors = [
        d for d in doc["devices"] if want[d["name"]] != "site-2" and d["name"] not in ("dead-end", "lab-hang")
    ]
    assert survivors and all(d["status"] == "ok" and d["samples"] >= 5 for d in survivors)
    with Store(pg_url) as st:
        assert st.sql("SELECT count(*) FROM samples WHERE parsed = 0") == [(0,)]
