"""``fleet sweep`` as cron or systemd runs it: a real process against the lab, a real SMTP server.

Covers the issue's "done when": report written, email received, one summary line; two concurrent
sweeps (one runs, the other exits 4 at once); a sweep killed with SIGKILL does not block the next.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from fleet.lab import Lab

from .conftest import Mailbox, lab_subset, on_a_terminal, run_fleet, spawn_fleet

pytestmark = pytest.mark.lab


def wait_for(predicate: object, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def lock_holder(store: Path) -> str:
    try:
        return (store / "sweep.lock").read_text().strip()
    except FileNotFoundError:
        return ""


def sample_count(store: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{store / 'fleet.db'}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(db.execute("SELECT count(*) FROM samples").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def test_sweep_writes_a_dated_report_emails_it_and_prints_one_line(
    lab: Lab, tmp_path: Path, smtp_server: Mailbox
) -> None:
    """Settings from ./fleet.toml only: the command line a timer runs stays short."""
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", ["lab-03", "lab-06"])
    (tmp_path / "fleet.toml").write_text(
        f'[smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\nfrom = "fleet@lab.test"\n'
        'to = ["ops@lab.test", "firmware@lab.test"]\n'
        '[sweep]\nsamples = 3\ninterval = 1\nreport_dir = "nightly"\nkeep_raw_days = 14\n'
    )
    res = run_fleet("sweep", inventory, "--store", "store", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # nothing went wrong: cron sends no noise beyond the summary
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fleet sweep: collected 2/2 devices; "), res.stdout
    reports = sorted((tmp_path / "nightly").glob("fleet-report-*.html"))
    assert len(reports) == 1 and f"report nightly/{reports[0].name}" in lines[0]
    assert "; emailed; " in lines[0]
    (msg,) = smtp_server.wait(1)
    assert smtp_server.envelopes[0] == ("fleet@lab.test", ["ops@lab.test", "firmware@lab.test"])
    assert msg["From"] == "fleet@lab.test" and msg["To"] == "ops@lab.test, firmware@lab.test"
    attachments = [p for p in msg.walk() if p.get_filename()]
    assert [a.get_filename() for a in attachments] == [reports[0].name]
    assert attachments[0].get_payload(decode=True) == reports[0].read_bytes()
    # a second sweep a moment later writes its own dated file, never over the first
    res = run_fleet("sweep", inventory, "--store", "store", "--samples", "1", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(list((tmp_path / "nightly").glob("fleet-report-*.html"))) == 2


def test_a_second_sweep_on_the_same_store_exits_4_at_once(lab: Lab, tmp_path: Path) -> None:
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", ["lab-07"])
    args = ("sweep", inventory, "--store", "store", "--interval", "0.5", "--report-dir", "r")
    first = spawn_fleet(*args, "--samples", "16", cwd=tmp_path)  # ~8 s: outlives the second's start-up
    try:
        holds = lambda: lock_holder(tmp_path / "store") == str(first.pid)  # noqa: E731
        wait_for(holds, timeout=60, what="the first sweep's lock")
        started = time.monotonic()
        second = run_fleet(*args, "--samples", "1", cwd=tmp_path)
        # at once, not after waiting for the first (which is still running below); the bound only
        # absorbs interpreter start-up on a loaded machine
        assert time.monotonic() - started < 15.0
        assert second.returncode == 4
        assert second.stdout == ""
        assert second.stderr.strip() == (
            f"fleet: another sweep (pid {first.pid}) is running on store; not starting a second one"
        )
        assert first.poll() is None  # the first is untouched ...
        out, err = first.communicate(timeout=30)
        assert first.returncode == 0, err  # ... and completes normally
        assert out.startswith("fleet sweep: collected 1/1 devices")
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()


def test_after_kill_9_of_a_sweep_the_next_one_runs_normally(lab: Lab, tmp_path: Path) -> None:
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", ["lab-03", "lab-07"])
    store = tmp_path / "store"
    victim = spawn_fleet(
        "sweep", inventory, "--store", store, "--samples", "60", "--interval", "0.5", cwd=tmp_path
    )
    try:
        wait_for(lambda: sample_count(store) >= 3, timeout=60, what="samples of the doomed sweep")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    assert lock_holder(store) == str(victim.pid)  # the file stays; the kernel dropped the flock
    kept = sample_count(store)
    res = run_fleet("sweep", inventory, "--store", store, "--samples", "1", cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("fleet sweep: collected 2/2 devices")
    db = sqlite3.connect(store / "fleet.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # every sample of the killed sweep is still there, and all of them were parsed by the next one
        total, parsed = db.execute("SELECT count(*), sum(parsed = 1) FROM samples").fetchone()
    finally:
        db.close()
    assert total == kept + 2 and parsed == total


def test_json_logs_for_journald(lab: Lab, tmp_path: Path) -> None:
    """FLEET_LOG=json: every stderr line and the summary on stdout are one JSON object each."""
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", ["lab-07"])
    env = {**os.environ, "FLEET_LOG": "json"}
    res = run_fleet(
        "sweep", inventory, "--store", "s", "--samples", "2", "--interval", "0.5", "-v", cwd=tmp_path, env=env
    )
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stderr.splitlines()]
    assert [e["event"] for e in events if e["event"] != "progress"] == ["collect_start", "pruned", "report"]
    progress = [e for e in events if e["event"] == "progress"]  # -v: progress too, as JSON
    assert progress and (progress[-1]["round"], progress[-1]["done"], progress[-1]["devices"]) == (2, 1, 1)
    assert all(e["level"] == "info" and e["ts"].endswith("Z") for e in events)
    (done,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert done["event"] == "sweep_done" and done["exit"] == 0
    assert done["statuses"] == {"ok": 1} and done["emailed"] is False
    assert (tmp_path / done["report"]).is_file()
    assert done["message"].startswith("fleet sweep: collected 1/1 devices")


def test_progress_is_drawn_only_on_a_terminal(lab: Lab, tmp_path: Path) -> None:
    inventory = lab_subset(lab, tmp_path / "inventory.yaml", ["lab-07"])
    args = ("sweep", inventory, "--store", "s", "--samples", "1", "--report-dir", "r")
    piped = run_fleet(*args, cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""  # no progress lines in cron mail without -v
    code, tty, out = on_a_terminal(args, tmp_path)
    assert code == 0
    assert b"round 1/1" in tty and b"1/1 devices" in tty and b"\x1b[2K" in tty  # drawn, then cleared
    assert out.startswith(b"fleet sweep: ")
