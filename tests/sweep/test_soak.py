"""Soak mode: ``fleet collect --samples 0`` / ``--until`` against the lab, stopped by SIGINT or SIGKILL.

Every sample is committed as it arrives (raw first, then its parse), so whatever stops the
collector, each stored sample is whole and the database is intact.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from fleet.collect.collector import parse_until
from fleet.lab import Lab
from fleet.store.parse import parse_pending
from fleet.store.store import Store
from tests.helpers import raw_captures

from .conftest import lab_subset, run_fleet, spawn_fleet
from .test_sweep_lab import sample_count, wait_for

DEVICES = ["lab-03", "lab-07"]


def check_every_sample_whole(store: Path, at_least: int) -> int:
    """integrity_check ok; every stored capture complete, ending in its own end marker, parseable."""
    db = sqlite3.connect(store / "fleet.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, token, raw_size, complete FROM samples").fetchall()
    finally:
        db.close()
    raws = raw_captures(store)
    assert len(rows) >= at_least
    for sid, token, size, complete in rows:
        raw = raws[sid]
        assert complete == 1 and len(raw) == size
        assert raw.rstrip().endswith(f"{token} end".encode())
    with Store(store) as st:
        parse_pending(st)  # what the next rank/report/sweep does first
        parsed = st.db.execute("SELECT count(*) FROM samples WHERE parsed = 1").fetchone()[0]
    assert parsed == len(rows)
    return len(rows)


@pytest.mark.lab
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_samples_0_until_stopped_keeps_every_captured_sample(lab: Lab, tmp_path: Path, sig: int) -> None:
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", DEVICES)
    store = tmp_path / "store"
    proc = spawn_fleet(
        "collect", inventory, "--store", store, "--samples", "0", "--interval", "1", cwd=tmp_path
    )
    try:
        wait_for(lambda: sample_count(store) >= 3 * len(DEVICES), timeout=60, what="3 rounds")
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert err.strip().endswith("fleet: stopped; every sample captured so far is stored"), err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    check_every_sample_whole(store, at_least=3 * len(DEVICES))


@pytest.mark.lab
def test_until_stops_on_its_own(lab: Lab, tmp_path: Path) -> None:
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", DEVICES)
    started = time.monotonic()
    res = run_fleet("collect", inventory, "--store", "s", "--until", "2.5s", "--interval", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - started < 30  # 2.5 s of sampling plus start-up on a loaded machine
    # samples start at 0, 1 and 2 s; none at or after 2.5 s
    assert res.stdout.startswith(f"collected 2/2 devices, {3 * len(DEVICES)} samples"), res.stdout
    check_every_sample_whole(tmp_path / "s", at_least=3 * len(DEVICES))


@pytest.mark.lab
@pytest.mark.slow
def test_a_long_soak_killed_at_random_moments_loses_nothing_whole(lab: Lab, tmp_path: Path) -> None:
    """Five collectors on one store, each SIGKILLed at a different point of its sampling."""
    inventory = lab_subset(
        lab, tmp_path / "inventory.yaml", [d.name for d in lab.devices if d.shell != "hang"]
    )
    store = tmp_path / "store"
    total = 0
    for delay in (0.3, 1.1, 2.7, 4.2, 6.9):
        proc = spawn_fleet(
            "collect", inventory, "--store", store, "--samples", "0", "--interval", "0.2", cwd=tmp_path
        )
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        if (store / "fleet.db").exists():  # killed before the store was created: nothing to lose
            total = check_every_sample_whole(store, at_least=total)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("8h", 28800),
        ("90m", 5400),
        ("1h30m", 5400),
        ("2d", 172800),
        ("45s", 45),
        ("1.5h", 5400),
        ("1w", 604800),
    ],
)
def test_until_durations(text: str, seconds: float) -> None:
    assert parse_until(text, 1000.0) == 1000.0 + seconds


def test_until_times() -> None:
    assert parse_until("2026-11-27T03:00:00Z", 0) == 1795748400.0
    assert parse_until("2026-11-27T03:00:00", 0) == 1795748400.0  # UTC unless stated
    assert parse_until("2026-11-27T04:00:00+01:00", 0) == 1795748400.0


@pytest.mark.parametrize("text", ["", "8", "h", "8x", "tomorrow", "8h banana"])
def test_until_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_until(text, 0)


def test_until_in_the_past_is_a_usage_error(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("devices:\n  cam-1:\n    host: 127.0.0.1\n")
    res = run_fleet("collect", inv, "--store", "s", "--until", "2001-01-01T00:00:00Z", cwd=tmp_path)
    assert res.returncode == 2 and "is already past" in res.stderr
    res = run_fleet("collect", inv, "--store", "s", "--until", "soon", cwd=tmp_path)
    assert res.returncode == 2 and "not an ISO 8601 time or a duration" in res.stderr
    assert not (tmp_path / "s").exists()
