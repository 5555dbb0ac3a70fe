"""Authentication: key types, ssh-agent, passphrases and passwords, and secrets that never leak.

Passwords are tested against Debian's Dropbear 2022.83 (a one-device lab whose root has its own
shadow entry; Dropbear has no keyboard-interactive, so the password method is what must work).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.load import load_inventory
from fleet.inventory.model import Device
from fleet.lab import Lab, free_subnet, start_lab, stop_lab
from fleet.ssh import handshakes as transport_mod
from fleet.ssh.asyncssh_transport import AsyncsshTransport
from fleet.ssh.outcomes import AuthFailed, DeviceError, Unreachable
from fleet.ssh.paramiko_transport import ParamikoTransport
from fleet.store.store import Store
from tests.conftest import lab_unavailable
from tests.ssh.conftest import PASSPHRASE, Keys, Sshd, StartSshd
from tests.ssh.test_legacy import device, echo

PASSWORD = "Pw-7f3a9c1e-not-in-any-file"


# --- keys and agent against OpenSSH ------------------------------------------------------------


@pytest.fixture(scope="module")
def modern(start_sshd: StartSshd) -> Sshd:
    return start_sshd()


@pytest.fixture(scope="module")
def rsa_sha1_only(start_sshd: StartSshd) -> Sshd:
    """An old server that verifies RSA signatures only as ssh-rsa (SHA-1)."""
    return start_sshd({"PubkeyAcceptedAlgorithms": "ssh-rsa"}, host_key_types=("rsa",))


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
@pytest.mark.parametrize("transport", ["asyncssh", "paramiko"])
def test_key_types(modern: Sshd, keys: Keys, tmp_path: Path, home: Path, kind: str, transport: str) -> None:
    dev = device(modern, keys, tmp_path, identity_files=(str(getattr(keys, kind)),), transport=transport)
    t = ParamikoTransport() if transport == "paramiko" else AsyncsshTransport()
    assert echo(dev, t) == b"reached\n"


def test_rsa_key_with_sha1_signatures_for_old_servers(
    rsa_sha1_only: Sshd, keys: Keys, tmp_path: Path, home: Path
) -> None:
    """OpenSSH 9.2 still advertises rsa-sha2 here, so only the legacy profile's ssh-rsa retry works."""
    dev = device(rsa_sha1_only, keys, tmp_path, identity_files=(str(keys.rsa),), legacy_algorithms=True)
    assert echo(dev) == b"reached\n"
    assert "Accepted publickey for root" in rsa_sha1_only.log
    with pytest.raises(AuthFailed):
        echo(dataclasses.replace(dev, legacy_algorithms=False))


@pytest.fixture
def agent(tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[str]:
    """A private ssh-agent holding the rsa key; killed by its pid."""
    sock = str(tmp_path / "agent.sock")
    out = subprocess.run(["ssh-agent", "-s", "-a", sock], capture_output=True, text=True, check=True).stdout
    m = re.search(r"SSH_AGENT_PID=(\d+)", out)
    assert m, out
    pid = int(m.group(1))
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": sock}
        subprocess.run(["ssh-add", "-q", str(keys.rsa)], env=env, check=True, capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        os.kill(pid, signal.SIGTERM)


def test_ssh_agent(modern: Sshd, keys: Keys, tmp_path: Path, agent: str) -> None:
    assert echo(device(modern, keys, tmp_path, identity_files=())) == b"reached\n"


def test_no_agent_no_key_is_auth_failed(modern: Sshd, keys: Keys, tmp_path: Path, home: Path) -> None:
    with pytest.raises(AuthFailed):
        echo(device(modern, keys, tmp_path, identity_files=()))


def test_key_passphrase_from_env(
    modern: Sshd, keys: Keys, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = device(modern, keys, tmp_path, identity_files=(str(keys.encrypted),), passphrase_env="KEY_PP")
    with pytest.raises(AuthFailed, match="passphrase_env KEY_PP is not set in the environment"):
        echo(dev)
    monkeypatch.setenv("KEY_PP", "wrong passphrase")
    with pytest.raises(AuthFailed, match="cannot use identity file") as err:
        echo(dev)
    assert "wrong passphrase" not in str(err.value)
    monkeypatch.setenv("KEY_PP", PASSPHRASE)
    assert echo(dev) == b"reached\n"
    assert echo(dev, ParamikoTransport()) == b"reached\n"


def test_unauthorized_key_is_auth_failed(modern: Sshd, keys: Keys, tmp_path: Path, home: Path) -> None:
    with pytest.raises(AuthFailed, match="authentication refused"):
        echo(device(modern, keys, tmp_path, identity_files=(str(keys.unauthorized),)))


# --- passwords against Dropbear ------------------------------------------------------------------


@pytest.fixture(scope="module")
def pw_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One light Dropbear device whose root password is PASSWORD (its own shadow)."""
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"emulated lab unavailable: {reason}")
    lab_dir = tmp_path_factory.mktemp("pwlab")
    try:
        yield start_lab(lab_dir, 1, subnet=free_subnet(), profile="light", passwords={"lab-01": PASSWORD})
    finally:
        stop_lab(lab_dir)


def pw_device(lab: Lab, **kw: object) -> Device:
    d = lab.devices[0]
    base = Device(
        name="pw",
        host=d.host,
        port=d.port,
        known_hosts=str(lab.known_hosts),
        password_env="DEV_PW",
        timeout=30,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["asyncssh", "paramiko"])
def test_password_login_on_dropbear(
    pw_lab: Lab, home: Path, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    dev = pw_device(pw_lab, transport=transport)
    t = ParamikoTransport() if transport == "paramiko" else AsyncsshTransport()
    monkeypatch.delenv("DEV_PW", raising=False)
    with pytest.raises(AuthFailed, match="password_env DEV_PW is not set in the environment"):
        echo(dev, t)
    monkeypatch.setenv("DEV_PW", "wrong-" + PASSWORD)
    with pytest.raises(AuthFailed) as err:
        echo(dev, t)
    assert PASSWORD not in str(err.value)
    monkeypatch.setenv("DEV_PW", PASSWORD)
    assert echo(dev, t) == b"reached\n"


def _password_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("transport", ["asyncssh", "paramiko"])
def test_password_file_with_strict_permissions(
    pw_lab: Lab, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    monkeypatch.delenv("DEV_PW", raising=False)
    pw = _password_file(tmp_path / "pw", PASSWORD + "\n")
    dev = pw_device(pw_lab, password_env=None, password_file=str(pw), transport=transport)
    t = ParamikoTransport() if transport == "paramiko" else AsyncsshTransport()
    assert echo(dev, t) == b"reached\n"
    pw.chmod(0o400)
    assert echo(dev, t) == b"reached\n"
    for mode in (0o640, 0o604, 0o620):
        pw.chmod(mode)
        with pytest.raises(
            AuthFailed, match=f"mode 0{mode:o}, readable or writable by group or others"
        ) as err:
            echo(dev, t)
        assert PASSWORD not in str(err.value)
    pw.chmod(0o600)
    os.chown(pw, 1, -1)  # owned by someone else (tests run as root)
    with pytest.raises(AuthFailed, match="is owned by uid 1, not by the user running fleet"):
        echo(dev, t)
    with pytest.raises(AuthFailed, match="cannot be read"):
        echo(dataclasses.replace(dev, password_file=str(tmp_path / "missing")), t)
    with pytest.raises(AuthFailed, match="first line is empty"):
        echo(dataclasses.replace(dev, password_file=str(_password_file(tmp_path / "empty", "\n"))), t)
    wrong = _password_file(tmp_path / "wrong", "wrong-" + PASSWORD)
    with pytest.raises(AuthFailed, match="authentication refused") as err:
        echo(dataclasses.replace(dev, password_file=str(wrong)), t)
    assert PASSWORD not in str(err.value)


def test_password_file_from_inventory_and_cli_show(pw_lab: Lab, home: Path, tmp_path: Path) -> None:
    """Set in an inventory (relative to it); `inventory show` names the file, never its content."""
    _password_file(tmp_path / "dev.pw", PASSWORD)
    d = pw_lab.devices[0]
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  ssh_config: false\n  password_env: NOT_USED\n  known_hosts: {pw_lab.known_hosts}\n"
        f"devices:\n  pw:\n    host: {d.host}\n    password_file: dev.pw\n"
    )
    (dev,) = load_inventory(inv).devices
    assert (dev.password_file, dev.password_env) == (str(tmp_path / "dev.pw"), None)  # the device wins
    assert echo(dev) == b"reached\n"
    out = CliRunner().invoke(app, ["inventory", "show", str(inv), "--json"])
    assert out.exit_code == 0 and str(tmp_path / "dev.pw") in out.output
    assert PASSWORD not in out.output


def test_password_appears_in_no_file_log_or_report(
    pw_lab: Lab,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Collect with a good and a wrong password, then grep store, logs, rank and report for it."""
    monkeypatch.setenv("DEV_PW", PASSWORD)
    monkeypatch.setenv("BAD_PW", PASSWORD + "-x")
    secrets = home / "secrets"  # the password files themselves: left out of the grep below
    secrets.mkdir()
    good_file = _password_file(secrets / "good.pw", PASSWORD + "\n")
    bad_file = _password_file(secrets / "bad.pw", PASSWORD + "-y\n")
    caplog.set_level(logging.DEBUG)
    asyncssh.set_debug_level(3)
    try:
        store = tmp_path / "store"
        devs = [
            pw_device(pw_lab, name="good"),
            pw_device(pw_lab, name="bad", password_env="BAD_PW"),
            pw_device(pw_lab, name="good-file", password_env=None, password_file=str(good_file)),
            pw_device(pw_lab, name="bad-file", password_env=None, password_file=str(bad_file)),
        ]
        with Store(store) as st:
            outcomes = asyncio.run(collect(devs, st, CollectOptions(samples=1, interval=0)))
    finally:
        asyncssh.set_debug_level(1)
    assert [o.status for o in outcomes] == ["ok", "auth_failed", "ok", "auth_failed"], outcomes
    runner = CliRunner()
    rank = runner.invoke(app, ["rank", "--store", str(store), "--json"])
    report = runner.invoke(app, ["report", "--store", str(store), "-o", str(tmp_path / "report.html")])
    assert rank.exit_code == 0 and report.exit_code == 0, report.output
    texts = [caplog.text, rank.output, report.output, *(str(o.error) for o in outcomes)]
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and secrets not in p.parents]
    assert any(b"good-file" in b for b in blobs) and "auth_failed" in rank.output  # we grep real output
    for secret in (PASSWORD, PASSWORD + "-x", PASSWORD + "-y"):
        assert not any(secret in t for t in texts)
        assert not any(secret.encode() in b for b in blobs)


# --- politeness to Dropbear: pre-auth limits ----------------------------------------------------


def _hold(host: str, n: int) -> list[socket.socket]:
    """``n`` unauthenticated TCP connections that never send a banner (Dropbear allows 5 per source)."""
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, 22), timeout=5)
        socks.append(s)
    time.sleep(0.3)
    return socks


def test_pre_banner_resets_are_retried_with_backoff(
    pw_lab: Lab, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEV_PW", PASSWORD)
    monkeypatch.setattr(transport_mod, "BANNER_BACKOFF", 0.2)
    dev = pw_device(pw_lab)
    held = _hold(dev.host, 8)

    async def release_later() -> None:
        await asyncio.sleep(0.6)
        for s in held:
            s.close()

    async def main() -> bytes:
        release = asyncio.create_task(release_later())
        from tests.ssh.test_legacy import _echo

        out = await _echo(AsyncsshTransport(), dev)
        await release
        return out

    try:
        assert asyncio.run(asyncio.wait_for(main(), 20)) == b"reached\n"
    finally:
        for s in held:
            s.close()


def test_a_device_that_keeps_resetting_is_unreachable_with_a_reason(
    pw_lab: Lab, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEV_PW", PASSWORD)
    monkeypatch.setattr(transport_mod, "BANNER_BACKOFF", 0.05)
    dev = pw_device(pw_lab)
    held = _hold(dev.host, 8)
    try:
        with pytest.raises(Unreachable, match="closed before the SSH banner, 5 tries"):
            echo(dev)
    finally:
        for s in held:
            s.close()


def test_at_most_three_handshakes_per_address() -> None:
    """Many devices on one address (aliases) never open more than 3 handshakes at once."""
    live = peak = 0

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.3)
        live -= 1
        writer.close()  # never a banner: the client sees a pre-banner close

    async def main() -> tuple[list[BaseException | object], int]:
        srv = await asyncio.start_server(server, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        t = AsyncsshTransport()
        devs = [Device(name=f"d{i}", host="127.0.0.1", port=port, host_key_checking="off") for i in range(9)]
        try:
            results = await asyncio.gather(*(t.connect(d) for d in devs), return_exceptions=True)
            return results, len(t._handshakes)  # addresses still held after every connect ended
        finally:
            srv.close()

    transport_mod_backoff = transport_mod.BANNER_BACKOFF
    transport_mod.BANNER_BACKOFF = 0.01
    try:
        results, held = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        transport_mod.BANNER_BACKOFF = transport_mod_backoff
    assert all(isinstance(r, DeviceError) and r.status == "unreachable" for r in results)
    assert peak == 3
    assert held == 0  # nothing kept per address: a long sweep's memory does not grow with its devices
