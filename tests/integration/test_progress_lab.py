"""What ``fleet collect`` shows while it runs, as a real process against lab devices plus an address
where nothing listens: the live display on a real pseudo-terminal, plain lines when stderr is a
pipe, JSON with ``--log-json``. Failing devices are counted once however many rounds they fail."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from fleet.lab import Lab
from tests.sweep.conftest import fleet_env, free_port, lab_subset, on_a_terminal, run_fleet

pytestmark = pytest.mark.lab

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


def inventory(lab: Lab, path: Path, *extra: str) -> Path:
    """Two lab devices, ``extra`` lab devices (lab-hang, with a 2 s timeout) and ``nobody-home``:
    a loopback port where nothing listens, unreachable on every attempt."""
    lab_subset(lab, path, ["lab-03", "lab-07", *extra])
    doc = yaml.safe_load(path.read_text())
    doc["devices"]["nobody-home"] = {"host": "127.0.0.1", "port": free_port()}
    if "lab-hang" in doc["devices"]:
        doc["devices"]["lab-hang"]["timeout"] = 2
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_terminal_shows_rounds_rate_and_failing_devices_live(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(lab, tmp_path / "inv.yaml")
    code, tty, out = on_a_terminal(
        ["collect", str(inv), "--store", "s", "--samples", "3", "--interval", "1"], tmp_path
    )
    assert code == 0, tty
    shown = ANSI.sub(b"", tty).decode()
    assert "round 1/3" in shown and "round 3/3" in shown, shown  # round 2 too, unless a frame missed it
    assert "3/3 devices" in shown and "devices/s" in shown and "samples stored" in shown
    assert "1 failing device (unreachable 1)" in shown  # three failed attempts, one device
    assert "unreachable 2" not in shown and "unreachable 3" not in shown
    assert tty.rstrip(b"\r\n").endswith(b"\x1b[2K")  # the display is cleared: the summary follows
    assert b"\x1b[?25h" in tty  # and the cursor shown again
    assert out.decode().startswith("collected 2/3 devices, 6 samples in ")
    code, tty, out = on_a_terminal(["collect", str(inv), "--store", "s", "--only", "lab-03", "-q"], tmp_path)
    assert (code, tty) == (0, b"") and out.startswith(b"collected 1/1 devices")  # --quiet: nothing drawn


def test_a_pipe_gets_a_plain_line_each_interval_and_each_tenth_of_a_round(lab: Lab, tmp_path: Path) -> None:
    """lab-hang holds round 1 open for its 2 s timeout: lines keep coming every 0.3 s meanwhile
    (FLEET_PROGRESS_SECONDS), saying the same 3 of 4 devices, and nobody-home, failing both rounds,
    is one failing device."""
    inv = inventory(lab, tmp_path / "inv.yaml", "lab-hang")
    res = run_fleet(
        "collect", inv, "--store", "s", "--samples", "2", "--interval", "1",
        cwd=tmp_path, env=fleet_env(FLEET_PROGRESS_SECONDS="0.3"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines and all(line.startswith("fleet: round ") for line in lines), lines
    held = [line for line in lines if line.startswith("fleet: round 1/2: 3/4 devices (75 %)")]
    assert len(held) >= 3, lines  # by time: the 10 % steps give one such line
    assert all("unreachable 1" in line and "unreachable 2" not in line for line in lines), lines
    assert lines[-1].startswith("fleet: round 2/2: 4/4 devices (100 %)"), lines
    assert "2 failing devices (timeout 1, unreachable 1)" in lines[-1]
    assert res.stdout.startswith("collected 2/4 devices, 4 samples in ")
    quiet = run_fleet("collect", inv, "--store", "s", "--only", "lab-03", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_collect_log_json_writes_only_json_lines(lab: Lab, tmp_path: Path) -> None:
    inv = inventory(lab, tmp_path / "inv.yaml")
    res = run_fleet(
        "collect", inv, "--store", "s", "--samples", "2", "--interval", "0.5", "--log-json",
        cwd=tmp_path, env=fleet_env(FLEET_PROGRESS_SECONDS="0.2"),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stderr.splitlines()]
    assert events and {e["event"] for e in events} == {"progress"}
    assert all(e["failing"] in ({}, {"unreachable": 1}) and e["devices"] == 3 for e in events)
    assert (events[-1]["round"], events[-1]["rounds"], events[-1]["done"]) == (2, 2, 3)
    (done,) = [json.loads(line) for line in res.stdout.splitlines()]
    assert (done["event"], done["level"], done["exit"]) == ("collect_done", "info", 0)
    assert (done["devices"], done["statuses"], done["samples"]) == (3, {"ok": 2, "unreachable": 1}, 4)
    (failed,) = done["failed"]
    assert (failed["device"], failed["status"]) == ("nobody-home", "unreachable") and failed["error"]
    assert done["message"].startswith("collected 2/3 devices, 4 samples in ")
