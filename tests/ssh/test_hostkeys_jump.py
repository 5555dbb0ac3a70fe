"""Host keys (strict / accept-new / off) and jump hosts, against OpenSSH and the lab's Dropbear."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import asyncssh
import pytest

from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.load import load_inventory
from fleet.inventory.model import Device
from fleet.lab import Lab
from fleet.ssh.asyncssh_transport import AsyncsshTransport
from fleet.ssh.hostkeys import record_host_key
from fleet.ssh.outcomes import HostKeyMismatch, Unreachable
from fleet.ssh.paramiko_transport import ParamikoTransport
from fleet.store.store import Store
from tests.ssh.conftest import Keys, Sshd, StartSshd, free_port, keygen, public_line
from tests.ssh.test_legacy import device, echo

TRANSPORTS = ["asyncssh", "paramiko"]


def _t(kind: str) -> AsyncsshTransport | ParamikoTransport:
    return ParamikoTransport() if kind == "paramiko" else AsyncsshTransport()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_strict_refuses_unknown_and_changed_keys(
    start_sshd: StartSshd, keys: Keys, tmp_path: Path, home: Path, kind: str
) -> None:
    server = start_sshd()
    dev = device(server, keys, tmp_path, transport=kind)
    kh = Path(dev.known_hosts or "")
    kh.write_text("")
    with pytest.raises(HostKeyMismatch, match="is not in known_hosts"):
        echo(dev, _t(kind))
    other = keygen(tmp_path / "other", "ed25519")
    kh.write_text(f"[{server.host}]:{server.port} {public_line(other)}\n")
    with pytest.raises(HostKeyMismatch, match="differs from the one in known_hosts"):
        echo(dev, _t(kind))
    assert kh.read_text().count("\n") == 1  # nothing recorded in strict mode


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_accept_new_records_then_refuses_a_changed_key(
    start_sshd: StartSshd, keys: Keys, tmp_path: Path, home: Path, kind: str
) -> None:
    server = start_sshd()
    dev = device(server, keys, tmp_path, host_key_checking="accept-new", transport=kind)
    kh = Path(dev.known_hosts or "")
    kh.unlink()
    assert echo(dev, _t(kind)) == b"reached\n"
    assert kh.read_text() == server.known_hosts_lines()
    assert echo(dev, _t(kind)) == b"reached\n"
    assert kh.read_text() == server.known_hosts_lines()  # recorded once
    server.stop()  # the device is re-flashed (or impersonated): same address, new key
    keygen(server.host_keys[0], "ed25519")
    server.start()
    with pytest.raises(HostKeyMismatch, match="differs"):
        echo(dev, _t(kind))


def test_concurrent_appends_never_corrupt_known_hosts(tmp_path: Path) -> None:
    path = tmp_path / "kh"
    line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGkzBc5ZcYlDhvRxsXPlSv0Ou2qhRAqYd3iVmnwLZB1H"
    threads = [
        threading.Thread(target=record_host_key, args=(path, f"10.0.{i // 250}.{i % 250}", 22 + i % 2, line))
        for i in range(200)
        for _ in range(2)  # every key twice: recorded once
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == len(set(lines)) == 200
    assert all(x.endswith(line) for x in lines)
    asyncssh.import_known_hosts(path.read_text())  # parses


def test_lab_accept_new_concurrently_and_the_dropbear_ed25519_abort(lab: Lab, tmp_path: Path) -> None:
    """Dropbear 2022.83 with only an ed25519 key aborts if the client picks rsa-sha2-256; without a
    known_hosts entry fleet offers ssh-ed25519 first. Every lab device at once, one known_hosts."""
    kh = tmp_path / "known_hosts"
    inv = load_inventory(lab.inventory)
    devs = [
        dataclasses.replace(d, known_hosts=str(kh), host_key_checking="accept-new")
        for d in inv.devices
        if d.name != "lab-hang"
    ]
    off = dataclasses.replace(
        devs[0], name="off", host_key_checking="off", known_hosts=str(tmp_path / "none")
    )
    with Store(tmp_path / "store") as st:
        outcomes = asyncio.run(collect([*devs, off], st, CollectOptions(samples=1, interval=0)))
        flags = {r.name: r.flags for r in st.devices()}
    assert {o.status for o in outcomes} == {"ok"}, [(o.name, o.error) for o in outcomes]
    expected = sorted(line for line in lab.known_hosts.read_text().splitlines() if "0.201" not in line)
    assert sorted(kh.read_text().splitlines()) == expected
    assert flags["off"] == ("host_key_checking_off",) and flags[devs[0].name] == ()
    assert not (tmp_path / "none").exists()


def test_lab_rsa_sha2_256_abort_reads_as_a_kex_failure(lab: Lab, tmp_path: Path) -> None:
    """The abort itself is a bare connection loss during kex: translated, not a stack trace."""
    d = load_inventory(lab.inventory).devices[0]
    dev = dataclasses.replace(d, host_key_checking="off", host_key_algorithms=("rsa-sha2-256", "ssh-ed25519"))
    with pytest.raises(Unreachable, match="closed by the device during key exchange: no common algorithm"):
        echo(dev)


# --- jump hosts ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bastion(start_sshd: StartSshd, lab: Lab) -> Sshd:
    """An OpenSSH bastion on loopback that knows the lab's client key."""
    lab_pub = " ".join(lab.identity_file.with_name("id_ed25519.pub").read_text().split()[:2])
    return start_sshd(authorized=(lab_pub,))


def _behind(lab: Lab, bastion: Sshd, tmp_path: Path, kind: str = "asyncssh") -> list[Device]:
    kh = tmp_path / "known_hosts"
    kh.write_text(lab.known_hosts.read_text() + bastion.known_hosts_lines())
    jump = f"root@{bastion.host}:{bastion.port}"
    return [
        dataclasses.replace(d, known_hosts=str(kh), proxy_jump=jump, transport=kind)
        for d in load_inventory(lab.inventory).devices[:3]
    ]


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_lab_devices_collected_through_a_bastion(lab: Lab, bastion: Sshd, tmp_path: Path, kind: str) -> None:
    before = bastion.log.count("Accepted publickey")
    devs = _behind(lab, bastion, tmp_path, kind)
    with Store(tmp_path / "store") as st:
        outcomes = asyncio.run(collect(devs, st, CollectOptions(samples=2, interval=0.2)))
    assert [(o.status, o.samples) for o in outcomes] == [("ok", 2)] * 3, [o.error for o in outcomes]
    for d in devs:
        assert f"to {d.host} port 22" in bastion.log  # direct-tcpip through the bastion
    logins = bastion.log.count("Accepted publickey") - before
    assert logins == (1 if kind == "asyncssh" else 3)  # asyncssh shares one bastion connection


def test_dead_bastion_is_unreachable_naming_it(lab: Lab, tmp_path: Path, bastion: Sshd) -> None:
    port = free_port()
    devs = [
        dataclasses.replace(d, proxy_jump=f"root@127.0.0.1:{port}") for d in _behind(lab, bastion, tmp_path)
    ]
    with Store(tmp_path / "store") as st:
        outcomes = asyncio.run(collect(devs, st, CollectOptions(samples=1, interval=0)))
    for o in outcomes:
        assert o.status == "unreachable"
        assert o.error and o.error.startswith(f"jump host root@127.0.0.1:{port}: ")


def test_bastion_with_unknown_key_is_a_host_key_failure_naming_it(
    lab: Lab, tmp_path: Path, bastion: Sshd
) -> None:
    (dev,) = _behind(lab, bastion, tmp_path)[:1]
    Path(dev.known_hosts or "").write_text(lab.known_hosts.read_text())  # bastion not in it
    with pytest.raises(HostKeyMismatch, match=f"^jump host root@127.0.0.1:{bastion.port}: host key"):
        echo(dev)


# --- chains of jump hosts, and ~/.ssh/config -----------------------------------------------------


@pytest.fixture(scope="module")
def bastion2(start_sshd: StartSshd, lab: Lab) -> Sshd:
    """A second OpenSSH bastion: the chain is bastion -> bastion2 -> lab device."""
    lab_pub = " ".join(lab.identity_file.with_name("id_ed25519.pub").read_text().split()[:2])
    return start_sshd(authorized=(lab_pub,))


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_lab_devices_collected_through_two_bastions(
    lab: Lab, bastion: Sshd, bastion2: Sshd, tmp_path: Path, kind: str
) -> None:
    logins = (bastion.log.count("Accepted publickey"), bastion2.log.count("Accepted publickey"))
    devs = _behind(lab, bastion, tmp_path, kind)
    kh = Path(devs[0].known_hosts or "")
    kh.write_text(kh.read_text() + bastion2.known_hosts_lines())
    chain = f"root@{bastion.host}:{bastion.port},root@{bastion2.host}:{bastion2.port}"
    devs = [dataclasses.replace(d, proxy_jump=chain) for d in devs]
    with Store(tmp_path / "store") as st:
        outcomes = asyncio.run(collect(devs, st, CollectOptions(samples=2, interval=0.2)))
    assert [(o.status, o.samples) for o in outcomes] == [("ok", 2)] * 3, [o.error for o in outcomes]
    assert f"to {bastion2.host} port {bastion2.port}" in bastion.log  # hop 1 forwards to hop 2
    for d in devs:
        assert f"to {d.host} port 22" in bastion2.log  # hop 2 forwards to the device
    first = bastion.log.count("Accepted publickey") - logins[0]
    second = bastion2.log.count("Accepted publickey") - logins[1]
    assert (first, second) == ((1, 1) if kind == "asyncssh" else (3, 3))  # asyncssh shares each hop


def test_second_hop_failure_names_that_hop(lab: Lab, bastion: Sshd, tmp_path: Path) -> None:
    port = free_port()
    (dev,) = _behind(lab, bastion, tmp_path)[:1]
    dev = dataclasses.replace(dev, proxy_jump=f"root@{bastion.host}:{bastion.port},root@127.0.0.1:{port}")
    with pytest.raises(Unreachable, match=f"^jump host root@127.0.0.1:{port}: "):
        echo(dev)


def test_ssh_config_aliases_reach_a_device_through_two_bastions(
    lab: Lab, bastion: Sshd, bastion2: Sshd, tmp_path: Path
) -> None:
    """The inventory names only aliases; HostName, User, Port, IdentityFile and a ProxyJump chain
    of aliases come from an OpenSSH config file (never the real ~/.ssh/config)."""
    kh = tmp_path / "known_hosts"
    kh.write_text(lab.known_hosts.read_text() + bastion.known_hosts_lines() + bastion2.known_hosts_lines())
    d = lab.devices[0]
    cfg = tmp_path / "ssh_config"
    cfg.write_text(
        f"Host b1\n  HostName {bastion.host}\n  Port {bastion.port}\n  User root\n"
        f"Host b2\n  HostName {bastion.host}\n  Port {bastion2.port}\n"
        f"Host cam-*\n  User root\n  IdentityFile {lab.identity_file}\n  ProxyJump b1,b2\n"
        f"Host cam-one\n  HostName {d.host}\n  Port {d.port}\n"
    )
    inv_path = tmp_path / "inv.yaml"
    inv_path.write_text(
        f"defaults:\n  ssh_config: {cfg}\n  known_hosts: {kh}\ndevices:\n  one:\n    host: cam-one\n"
    )
    (dev,) = load_inventory(inv_path).devices
    assert (dev.host, dev.port, dev.user) == (d.host, d.port, "root")
    assert dev.proxy_jump == f"root@{bastion.host}:{bastion.port},{bastion.host}:{bastion2.port}"
    assert dev.identity_files == (str(lab.identity_file),)
    assert echo(dev) == b"reached\n"
    assert f"to {d.host} port {d.port}" in bastion2.log
