"""Broken and hostile devices (real lab devices with misbehaving login shells): each costs only
itself, is classified with its reason, and leaves nothing bogus in the store."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fleet.lab import Lab, free_subnet, start_lab, stop_lab
from tests.helpers import run_child, silent_listener

pytestmark = pytest.mark.lab
TIMEOUT = 4
EXTRAS = ("flood", "garbage", "drop", "slow", "banner", "refuse")
Outcome = tuple[dict[str, dict[str, object]], Path, int]  # rank entries by name, store, peak KiB


@pytest.fixture(scope="module")
def hostile_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    from tests.conftest import lab_unavailable

    reason = lab_unavailable()
    if reason:
        pytest.skip(f"emulated lab unavailable: {reason}")
    lab_dir = tmp_path_factory.mktemp("hostile-lab")
    try:
        yield start_lab(
            lab_dir,
            2,
            profile="light",
            subnet=free_subnet(),
            extras=EXTRAS,
        )
    finally:
        stop_lab(lab_dir)


@pytest.fixture(scope="module")
def silent_server(hostile_lab: Lab) -> Iterator[str]:
    with silent_listener(hostile_lab.devices[0].host.rsplit(".", 1)[0] + ".240") as host:
        yield host


def collect(lab: Lab, silent: str, tmp: Path) -> Outcome:
    doc = yaml.safe_load(lab.inventory.read_text())
    doc["defaults"]["timeout"] = TIMEOUT
    doc["devices"]["lab-silent"] = {"host": silent, "host_key_checking": "off"}
    inventory = tmp / "inv.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    store = tmp / "store"
    run = run_child(
        [
            sys.executable,
            "-m",
            "fleet",
            "collect",
            str(inventory),
            "--store",
            str(store),
            "--samples",
            "2",
            "--interval",
            "1",
        ],
        timeout=120,
    )
    assert run.returncode == 0, run.output
    rank = subprocess.run(
        [sys.executable, "-m", "fleet", "rank", "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    devices = {d["name"]: d for d in json.loads(rank.stdout)["devices"]}
    return devices, store, run.peak_kib


@pytest.fixture(scope="module")
def outcome(hostile_lab: Lab, silent_server: str, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return collect(hostile_lab, silent_server, tmp_path_factory.mktemp("hostile-run"))


def test_each_broken_device_is_classified_with_its_reason(
    outcome: Outcome,
) -> None:
    devices, _, _ = outcome
    expect = {
        "lab-flood": ("capture_error", "output larger than"),
        "lab-garbage": ("capture_error", "no capture in 300000 bytes"),
        "lab-drop": ("capture_error", "session failed during capture"),
        "lab-slow": ("timeout", f"no answer within {TIMEOUT} s"),
        # exits before fleet writes the script to it: the exit status and stderr, not a broken pipe
        "lab-refuse": ("capture_error", "(exit status 126: restricted shell: 'sh -s' is not allowed)"),
        "lab-silent": ("timeout", f"no answer within {TIMEOUT} s"),
    }
    for name, (status, reason) in expect.items():
        assert devices[name]["status"] == status, (name, devices[name]["error"])
        assert reason in str(devices[name]["error"]), (name, devices[name]["error"])
        assert devices[name]["samples"] == 0, name
    # escapes from the garbage are shown as text, never raw control bytes
    assert all(str(d["error"] or "").isprintable() for d in devices.values())


def test_healthy_devices_lose_nothing(outcome: Outcome) -> None:
    devices, store, _ = outcome
    for name in ("lab-01", "lab-02", "lab-banner"):
        assert (devices[name]["status"], devices[name]["samples"]) == ("ok", 2), name
    db = sqlite3.connect(store / "fleet.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # only real captures were stored: nothing from the flood, the garbage, the cut or slow sessions
    assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == 6
    assert db.execute("SELECT count(*) FROM samples WHERE parsed != 1").fetchone()[0] == 0
    db.close()


def test_flooding_device_cannot_blow_up_the_collector(
    outcome: Outcome,
) -> None:
    _, _, peak_kib = outcome
    # the flood is cut at 16 MiB per capture; the whole collector stays far below the flood volume
    assert 20 * 1024 < peak_kib < 250 * 1024, peak_kib  # measured (python + asyncssh ~50 MiB), bounded


@pytest.mark.parametrize("kind", ["asyncssh", "paramiko"])
def test_a_shell_that_refuses_at_once_reports_its_exit_and_stderr(
    hostile_lab: Lab, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command ends before fleet has written the script to it, so the channel may already be
    closed for sending: that race must not turn the device's own answer into a broken pipe. The
    race is made certain by letting the channel close before fleet writes (a delay on the real
    libraries' calls, nothing faked)."""
    import asyncio
    import time

    import asyncssh
    import paramiko

    from fleet.capture.script import capture_script, end_marker, new_token
    from fleet.inventory.load import load_inventory
    from fleet.ssh.asyncssh_transport import AsyncsshTransport
    from fleet.ssh.outcomes import Transport
    from fleet.ssh.paramiko_transport import ParamikoTransport

    create_process = asyncssh.SSHClientConnection.create_process

    async def closed_first(self: asyncssh.SSHClientConnection, *args: object, **kwargs: object) -> object:
        proc = await create_process(self, *args, **kwargs)  # type: ignore[arg-type]
        await proc.wait_closed()
        return proc

    exec_command = paramiko.Channel.exec_command

    def exited_first(self: paramiko.Channel, command: str) -> None:
        exec_command(self, command)
        deadline = time.monotonic() + 5
        while not self.closed and time.monotonic() < deadline:
            time.sleep(0.01)

    monkeypatch.setattr(asyncssh.SSHClientConnection, "create_process", closed_first)
    monkeypatch.setattr(paramiko.Channel, "exec_command", exited_first)
    [device] = [d for d in load_inventory(hostile_lab.inventory).devices if d.name == "lab-refuse"]
    transport: Transport = ParamikoTransport() if kind == "paramiko" else AsyncsshTransport()

    async def tries() -> set[tuple[int | None, bytes]]:
        session = await transport.connect(device)
        try:
            seen = set()
            for keep in (True, False, True):  # a shell kept, or a one-shot one (the last sample)
                token = new_token()
                script = capture_script(token).encode()
                result = await session.capture(script, end_marker(token), 1 << 20, keep=keep)
                seen.add((result.exit_status, result.stderr.strip()))
            return seen
        finally:
            await session.close()

    assert asyncio.run(tries()) == {(126, b"restricted shell: 'sh -s' is not allowed")}
