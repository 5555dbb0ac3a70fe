"""Old firmware: OpenSSH servers restricted to legacy algorithms; the legacy profile and overrides.

Each legacy-only server is unreachable with the defaults, with a clear reason, and reachable with
``legacy_algorithms: true`` or with explicit per-device lists. paramiko cannot reach them at all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import warnings
from pathlib import Path

import pytest

from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.model import MAX_ALGORITHMS, Device, InventoryError
from fleet.inventory.native import parse_inventory
from fleet.ssh.algorithms import LEGACY_CIPHERS, LEGACY_HOST_KEY_ALGS, LEGACY_KEX, LEGACY_MACS
from fleet.ssh.asyncssh_transport import AsyncsshTransport
from fleet.ssh.outcomes import DeviceError, Unreachable
from fleet.ssh.paramiko_transport import ParamikoTransport
from fleet.store.store import Store
from tests.ssh.conftest import LEGACY_A, LEGACY_B, MD5_ONLY, Keys, Sshd, StartSshd

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")


def device(server: Sshd, keys: Keys, tmp_path: Path, **kw: object) -> Device:
    kh = tmp_path / "known_hosts"
    kh.write_text(server.known_hosts_lines())
    base = Device(
        name="dev", host=server.host, port=server.port, identity_files=(str(keys.ed25519),),
        known_hosts=str(kh), timeout=30,
    )  # fmt: skip
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


async def _echo(transport: AsyncsshTransport | ParamikoTransport, dev: Device) -> bytes:
    session = await transport.connect(dev)
    try:
        result = await session.run("echo reached", b"", 1024)
    finally:
        await session.close()
    return result.stdout


def echo(dev: Device, transport: AsyncsshTransport | ParamikoTransport | None = None) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography: finite-field DH is deprecated
        return asyncio.run(asyncio.wait_for(_echo(transport or AsyncsshTransport(), dev), 45))


@pytest.fixture(scope="module", params=["A", "B"])
def legacy(request: pytest.FixtureRequest, start_sshd: StartSshd) -> Sshd:
    """A: group14-sha1 + ssh-rsa + aes128-cbc + hmac-sha1; B: group1-sha1 + ssh-dss + 3des + md5."""
    if request.param == "A":
        return start_sshd(LEGACY_A, host_key_types=("rsa",))
    return start_sshd(LEGACY_B, host_key_types=("dsa",))


def test_profile_is_short_and_has_every_legacy_name() -> None:
    for names in (LEGACY_KEX, LEGACY_CIPHERS, LEGACY_MACS, LEGACY_HOST_KEY_ALGS):
        assert len(names) <= 8 < MAX_ALGORITHMS
    wanted = {"diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1", "ssh-rsa", "ssh-dss"}
    wanted |= {"aes128-cbc", "3des-cbc", "hmac-sha1", "hmac-md5"}
    assert wanted <= {*LEGACY_KEX, *LEGACY_CIPHERS, *LEGACY_MACS, *LEGACY_HOST_KEY_ALGS}


def test_legacy_only_server_fails_clearly_with_defaults(legacy: Sshd, keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(Unreachable) as err:
        echo(device(legacy, keys, tmp_path))
    # Said by asyncssh's KEX failure or, when the server's close wins the race (a loaded machine),
    # by the connection lost during key exchange: both name the cause and the way out.
    lost = "connection closed by the device during key exchange: "
    assert re.match(f"({lost})?no common algorithm", str(err.value))
    assert "legacy_algorithms: true may help" in str(err.value)


def test_legacy_only_server_reached_with_legacy_algorithms(legacy: Sshd, keys: Keys, tmp_path: Path) -> None:
    assert echo(device(legacy, keys, tmp_path, legacy_algorithms=True)) == b"reached\n"


def test_legacy_accept_new_records_then_enforces(legacy: Sshd, keys: Keys, tmp_path: Path) -> None:
    dev = device(legacy, keys, tmp_path, legacy_algorithms=True, host_key_checking="accept-new")
    Path(dev.known_hosts or "").write_text("")
    assert echo(dev) == b"reached\n"
    assert Path(dev.known_hosts or "").read_text() == legacy.known_hosts_lines()
    assert echo(dev) == b"reached\n"  # now checked against the recorded ssh-rsa / ssh-dss key


def test_explicit_overrides_reach_a_server_without_the_profile(
    start_sshd: StartSshd, keys: Keys, tmp_path: Path
) -> None:
    server = start_sshd(LEGACY_B, host_key_types=("dsa",))
    dev = device(
        server, keys, tmp_path,
        kex_algorithms=("diffie-hellman-group1-sha1",), ciphers=("3des-cbc",), macs=("hmac-md5",),
        host_key_algorithms=("ssh-dss",),
    )  # fmt: skip
    assert echo(dev) == b"reached\n"
    with pytest.raises(Unreachable, match="no common algorithm"):
        echo(dataclasses.replace(dev, ciphers=("aes128-ctr",)))


def test_a_name_this_asyncssh_lacks_is_one_device_clear_error(
    start_sshd: StartSshd, keys: Keys, tmp_path: Path
) -> None:
    server = start_sshd(LEGACY_B, host_key_types=("dsa",))
    dev = device(server, keys, tmp_path, kex_algorithms=("diffie-hellman-group1-sha1-retired",))
    with pytest.raises(
        Unreachable, match=r"^none of diffie-hellman-group1-sha1-retired \(kex_algs\) is supported"
    ):
        echo(dev)


def test_the_legacy_profile_survives_an_asyncssh_that_dropped_some_names(
    legacy: Sshd, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake for what no installed release does yet: an asyncssh without 3des-cbc and ssh-dss
    signatures. The profile's other names still reach the server that accepts them."""
    from fleet.ssh import asyncssh_transport as transport

    real = dict(transport.SUPPORTED_ALGORITHMS)
    monkeypatch.setitem(
        transport.SUPPORTED_ALGORITHMS,
        "encryption_algs",
        lambda: [a for a in real["encryption_algs"]() if a != b"3des-cbc"],
    )
    opts = transport.usable_algorithms({"encryption_algs": list(LEGACY_CIPHERS)})
    assert (
        "3des-cbc" not in opts["encryption_algs"] and len(opts["encryption_algs"]) == len(LEGACY_CIPHERS) - 1
    )
    if legacy.options["Ciphers"] == "aes128-cbc":  # server A: still reached
        assert echo(device(legacy, keys, tmp_path, legacy_algorithms=True)) == b"reached\n"
    else:  # server B takes only 3des-cbc: a clear "no common algorithm", not an internal error
        with pytest.raises(Unreachable, match="no common algorithm"):
            echo(device(legacy, keys, tmp_path, legacy_algorithms=True))


def test_hmac_md5_only_server(start_sshd: StartSshd, keys: Keys, tmp_path: Path) -> None:
    server = start_sshd(MD5_ONLY)
    # Which side gives up first is a race: the client names the MAC it found no match for, or the
    # server closes first ("connection closed by the device during key exchange: no common
    # algorithm"); seen both ways on a loaded machine. Either names the cause and the way out.
    with pytest.raises(Unreachable, match=r"no common algorithm.*(MAC|legacy_algorithms: true)"):
        echo(device(server, keys, tmp_path))
    assert echo(device(server, keys, tmp_path, legacy_algorithms=True)) == b"reached\n"


def test_paramiko_cannot_reach_legacy_only_servers(legacy: Sshd, keys: Keys, tmp_path: Path) -> None:
    """Documented limit: paramiko 5 dropped group1/group14-sha1, ssh-rsa SHA-1 and DSA."""
    dev = device(legacy, keys, tmp_path, transport="paramiko")
    with pytest.raises(Unreachable) as err:
        echo(dev, ParamikoTransport())
    assert "no common algorithm" in str(err.value) and "asyncssh" in str(err.value)


def test_paramiko_reaches_a_modern_server(start_sshd: StartSshd, keys: Keys, tmp_path: Path) -> None:
    server = start_sshd()
    assert echo(device(server, keys, tmp_path, transport="paramiko"), ParamikoTransport()) == b"reached\n"


def test_collect_records_the_legacy_flag(legacy: Sshd, keys: Keys, tmp_path: Path) -> None:
    dev = device(legacy, keys, tmp_path, legacy_algorithms=True, name="old-cam")
    plain = device(legacy, keys, tmp_path, name="plain")
    with Store(tmp_path / "store") as st, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcomes = asyncio.run(collect([dev, plain], st, CollectOptions(samples=1, interval=0)))
        rows = {r.name: r for r in st.devices()}
    assert [o.status for o in outcomes] == ["ok", "unreachable"], outcomes
    assert rows["old-cam"].flags == ("legacy_algorithms",) and rows["plain"].flags == ()
    assert rows["old-cam"].samples == 1


# --- inventory keys (no server needed) ---------------------------------------------------------


def test_algorithm_keys_in_the_inventory(tmp_path: Path) -> None:
    inv = parse_inventory(
        "groups:\n  old:\n    legacy_algorithms: true\n"
        "devices:\n  a:\n    host: x\n    groups: [old]\n"
        "    kex_algorithms: [diffie-hellman-group1-sha1]\n    ciphers: 3des-cbc\n",
        tmp_path / "inv.yaml",
    )
    (a,) = inv.devices
    assert (a.legacy_algorithms, a.kex_algorithms, a.ciphers, a.macs) == (
        True, ("diffie-hellman-group1-sha1",), ("3des-cbc",), (),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            "    ciphers: [aes128-cbc, rot13]\n",
            "inv.yaml:4: devices.a.ciphers: unsupported cipher algorithm 'rot13'",
        ),
        ("    macs: [hmac-sha1, 7]\n", "inv.yaml:4: devices.a.macs: must be a string or a list of strings"),
        (
            "    kex_algorithms: []\n",
            "inv.yaml:4: devices.a.kex_algorithms: must list at least one algorithm",
        ),
        (
            "    host_key_algorithms: [" + ", ".join(["ssh-rsa"] * 21) + "]\n",
            "inv.yaml:4: devices.a.host_key_algorithms: 21 names: old Dropbear reads only the first 20",
        ),
        (
            "    transport: paramiko\n    legacy_algorithms: true\n",
            "inv.yaml:2: devices.a.legacy_algorithms: not available with transport: paramiko",
        ),
        ("    proxy_jump: a@b:99999\n", "inv.yaml:4: devices.a.proxy_jump: bad jump host 'a@b:99999'"),
        ("    proxy_jump: a@b,,c@d\n", "inv.yaml:4: devices.a.proxy_jump: bad jump host '' in chain"),
        ("    proxy_jump: a@b, c@d\n", "inv.yaml:4: devices.a.proxy_jump: bad jump host ' c@d' in chain"),
    ],
)
def test_algorithm_key_errors_name_file_line_and_key(tmp_path: Path, lines: str, expected: str) -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory("devices:\n  a:\n    host: x\n" + lines, tmp_path / "inv.yaml")
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(expected)


def test_device_error_is_the_only_thing_raised(legacy: Sshd, keys: Keys, tmp_path: Path) -> None:
    """Library errors are translated at the transport boundary: callers see DeviceError only."""
    dev = device(legacy, keys, tmp_path, identity_files=(str(keys.unauthorized),), legacy_algorithms=True)
    with pytest.raises(DeviceError) as err:
        echo(dev)
    assert err.value.status == "auth_failed"
