"""Killed collectors, concurrent writers and readers, hostile names: nothing lost, nothing gets in."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.lab import Lab
from tests.helpers import raw_captures

pytestmark = pytest.mark.lab


def healthy_inventory(lab: Lab, path: Path, **device_overrides: str) -> Path:
    """The lab without its hanging device (a kill test wants samples, not timeouts)."""
    doc = yaml.safe_load(lab.inventory.read_text())
    doc["devices"] = {k: v for k, v in doc["devices"].items() if k != "lab-hang"}
    path.write_text(yaml.safe_dump(doc))
    return path


def fleet(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fleet", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def assert_store_whole(store: Path) -> int:
    """integrity_check passes; every sample's raw capture is whole; its metrics all there or absent."""
    db = sqlite3.connect(store / "fleet.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, token, parsed, metrics FROM samples").fetchall()
        raws = raw_captures(store)
        for sid, token, parsed, metrics in rows:
            data = raws[sid]
            assert data.startswith(token.encode() + b" v "), sid
            assert (parsed == 1) == (metrics is not None), sid
            n = db.execute("SELECT count(*) FROM process_samples WHERE sample_id = ?", (sid,)).fetchone()[0]
            assert (n > 0) == (parsed == 1), sid
        return len(rows)
    finally:
        db.close()


def wait_for_samples(store: Path, n: int, timeout: float = 60.0) -> None:
    """Readiness, not a fixed sleep: until the store holds ``n`` samples."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (store / "fleet.db").exists():
            db = sqlite3.connect(store / "fleet.db", timeout=30)
            try:
                if db.execute("SELECT count(*) FROM samples").fetchone()[0] >= n:
                    return
            except sqlite3.OperationalError:
                pass  # schema not created yet
            finally:
                db.close()
        time.sleep(0.05)
    raise AssertionError(f"{store}: fewer than {n} samples after {timeout} s")


def test_kill_9_at_random_moments_loses_no_sample(lab: Lab, tmp_path: Path) -> None:
    inventory = healthy_inventory(lab, tmp_path / "inv.yaml")
    store = tmp_path / "store"
    rng = random.Random(7)
    counts = [0]
    for _ in range(8):
        proc = fleet("collect", str(inventory), "--store", str(store), "--samples", "0", "--interval", "0.3")
        wait_for_samples(store, counts[-1] + 1)  # it is really writing...
        time.sleep(rng.uniform(0.0, 1.5))  # ...then kill it anywhere in its work
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts.append(assert_store_whole(store))
    assert counts[-1] > 0 and counts == sorted(counts)
    # the next run works without repair, and parses whatever a kill left unparsed
    res = CliRunner().invoke(app, ["collect", str(inventory), "--store", str(store), "--samples", "1"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["rank", "--store", str(store), "--json"])
    assert res.exit_code == 0
    db = sqlite3.connect(store / "fleet.db")
    assert db.execute("SELECT count(*) FROM samples WHERE parsed = 0").fetchone()[0] == 0
    db.close()


def test_two_collects_on_one_store_and_a_report_meanwhile(lab: Lab, tmp_path: Path) -> None:
    inventory = healthy_inventory(lab, tmp_path / "inv.yaml")
    store = tmp_path / "store"
    devices = len(yaml.safe_load(inventory.read_text())["devices"])
    args = ("collect", str(inventory), "--store", str(store), "--samples", "3", "--interval", "1")
    a, b = fleet(*args), fleet(*args)
    wait_for_samples(store, 1)
    report = subprocess.run(
        [sys.executable, "-m", "fleet", "report", "--store", str(store), "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stdout + report.stderr
    assert a.wait(timeout=120) == 0 and b.wait(timeout=120) == 0
    assert assert_store_whole(store) == 2 * 3 * devices


def test_hostile_device_names_stay_data(lab: Lab, tmp_path: Path) -> None:
    """Names with SQL, path and header tricks are stored and shown as the plain strings they are."""
    doc = yaml.safe_load(lab.inventory.read_text())
    first = lab.devices[0]
    names = ["x'); DROP TABLE samples; --", 'cam "7" <b>bold<b> & co', "cam-\u00e9t\u00e9"]
    hosts = [d.host for d in lab.devices if d.shell == "sh"]
    doc["devices"] = {n: {"host": h} for n, h in zip(names, hosts, strict=False)}
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump(doc, allow_unicode=True))
    store = tmp_path / "store"
    res = CliRunner().invoke(app, ["collect", str(inventory), "--store", str(store)])
    assert res.exit_code == 0, res.output
    db = sqlite3.connect(store / "fleet.db")
    assert {r[0] for r in db.execute("SELECT name FROM devices")} == set(names)
    assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 3
    db.close()
    assert sorted(p.name for p in store.iterdir()) == sorted(
        p.name for p in store.iterdir() if p.name.startswith("fleet.db")
    )
    # a path, a right-to-left override (spoofs names in reports), a control character: refused
    for bad_name in ("../../etc", "cam\u202eevil", "cam\x1b[31m"):
        bad = tmp_path / "bad.yaml"
        bad.write_text(yaml.safe_dump({"devices": {bad_name: {"host": first.host}}}))
        res = CliRunner().invoke(app, ["collect", str(bad), "--store", str(tmp_path / "s2")])
        assert res.exit_code == 2 and "device names may not" in res.output, bad_name
        assert not (tmp_path / "s2").exists()
