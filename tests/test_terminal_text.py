"""Device text never drives the operator's terminal (issue 22, item 6): every command, run as a real
``fleet`` process, with hostile text in each place a device (or a file it named) can put it. No raw
ESC, BEL, other C0 controls, DEL or C1 controls (U+0080-U+009F: CSI, OSC) reach stdout or stderr;
the text still shows, as ``\\x1b``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.capture.script import capture_script, new_token

DATA = Path(__file__).parent / "data"
# An OSC that retitles the terminal, then a C1 CSI that clears the screen and a C0 one that colours.
HOSTILE = "x\x1b]0;PWNED\x07\u009b2J\x1b[31mred"
SHOWN = "x\\x1b]0;PWNED\\x07\\x9b2J\\x1b[31mred"  # how fleet writes it instead


def controls(data: bytes) -> list[str]:
    """The characters in ``data`` a terminal would act on (a newline is fine)."""
    text = data.decode("utf-8", "surrogateescape")
    return sorted(
        {
            repr(c)
            for c in text
            if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xDC80 <= ord(c) <= 0xDCFF)
        }
    )


def fleet(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``fleet ARGS`` as its own process (this checkout's code); its raw output bytes."""
    return subprocess.run(
        [sys.executable, "-m", "fleet", *map(str, args)], capture_output=True, timeout=timeout
    )


def clean(run: subprocess.CompletedProcess[bytes]) -> str:
    """Both streams as text, after checking neither holds a control character."""
    assert controls(run.stdout) == [] and controls(run.stderr) == [], (run.stdout, run.stderr)
    return run.stdout.decode() + run.stderr.decode()


def test_maps_shows_hostile_paths_escaped(tmp_path: Path) -> None:
    """``fleet maps`` (one dump and a diff): before, the executable's path reached the terminal raw."""
    seed = (DATA / "seed_maps.txt").read_text()
    hostile = f"00008000-00009000 r-xp 00000000 b3:11 23         /bin/{HOSTILE}\n"
    new = tmp_path / "new.maps"
    new.write_text(hostile + seed)
    one = fleet("maps", new)
    assert one.returncode == 0 and f"executable /bin/{SHOWN}" in clean(one)
    diff = fleet("maps", DATA / "seed_maps.txt", new)
    assert diff.returncode == 0 and "+1 executable mapping" in clean(diff)
    as_json = fleet("maps", new, "--json")
    clean(as_json)
    assert json.loads(as_json.stdout)["exe"] == f"/bin/{HOSTILE}"  # exact, escaped by JSON


def test_file_names_a_device_chose_are_escaped(tmp_path: Path) -> None:
    """A file named by a device (``scp cam:/tmp/* .``) in errors and in import's line: before,
    ``fleet maps`` and ``fleet import`` echoed the name raw."""
    missing = tmp_path / f"maps-{HOSTILE}"
    res = fleet("maps", missing)
    assert res.returncode == 2 and f"maps-{SHOWN}: cannot read" in clean(res)
    garbage = tmp_path / f"garbage-{HOSTILE}"
    garbage.write_bytes(b"\x00\x01 not a maps file\n")
    res = fleet("maps", garbage)
    assert res.returncode == 2 and f"garbage-{SHOWN}" in clean(res)
    token = new_token()
    capture = subprocess.run(["sh", "-s"], input=capture_script(token).encode(), capture_output=True).stdout
    log = tmp_path / f"capture-{HOSTILE}.log"
    log.write_bytes(capture)
    res = fleet("import", log, "--device", "cam", "--store", tmp_path / "store")
    assert (
        res.returncode == 0
        and f"imported 1 samples of cam (ssh) from {tmp_path}/capture-{SHOWN}.log" in clean(res)
    )


def test_inventory_errors_quoting_hostile_names_are_escaped(tmp_path: Path) -> None:
    """An inventory (from a CMDB export, say) whose group name holds escapes: the one-line error
    of ``collect``, ``inventory show`` and ``sweep`` (through its log) quoted it raw before."""
    inv = tmp_path / "inv.yaml"
    yaml_hostile = '"x\\e]0;PWNED\\a\\x9b2J\\e[31mred"'  # HOSTILE, in YAML's double-quoted escapes
    inv.write_text(f"groups:\n  {yaml_hostile}:\n    prot: 1\ndevices:\n  a:\n    host: x\n")
    store = tmp_path / "store"
    for args in (
        ("collect", inv, "--store", store),
        ("inventory", "show", inv),
        ("sweep", inv, "--store", store),
    ):
        res = fleet(*args)
        assert res.returncode == 2 and f"inv.yaml:3: groups.{SHOWN}.prot: unknown key" in clean(res), args


HOSTILE_SSHD = """
import asyncio, sys, asyncssh
class Server(asyncssh.SSHServer):
    def begin_auth(self, username):
        # what a device's own sshd may say when it drops us: any text it likes
        raise asyncssh.DisconnectError(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, sys.argv[1])
async def main():
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(Server, "127.0.0.1", 0, server_host_keys=[key])
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def hostile_sshd() -> Iterator[int]:
    """A real SSH server (asyncssh, in its own process) whose disconnect reason is hostile text,
    as a device's sshd can send: the reason becomes the device's error in every output."""
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-c", HOSTILE_SSHD, HOSTILE], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
        yield port
    finally:
        proc.kill()
        proc.wait()


def test_ssh_error_text_is_escaped_in_every_command(tmp_path: Path, hostile_sshd: int) -> None:
    """collect's summary, rank and show were safe before; sweep's log lines (``-v``) printed the
    device's disconnect reason raw, and ``--log-json`` let its C1 characters through."""
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"devices:\n  cam:\n    host: 127.0.0.1\n    port: {hostile_sshd}\n"
        "    host_key_checking: 'off'\n    timeout: 10\n    ssh_config: false\n"
    )
    store, reports = tmp_path / "store", tmp_path / "reports"
    reason = f"cam: auth_failed: authentication refused: {SHOWN}"
    assert reason in clean(fleet("collect", inv, "--store", store))
    assert SHOWN in clean(fleet("rank", "--store", store))
    assert SHOWN in clean(fleet("show", "cam", "--store", store))
    as_json = fleet("rank", "--store", store, "--json")
    clean(as_json)
    assert HOSTILE in json.loads(as_json.stdout)["devices"][0]["error"]
    sweep = ("sweep", inv, "--store", store, "--report-dir", reports, "--samples", "1")
    assert f"fleet: {reason}" in clean(fleet(*sweep, "-v"))
    lines = clean(fleet(*sweep, "-v", "--log-json")).splitlines()
    failed = [json.loads(x) for x in lines if '"device_failed"' in x]
    assert len(failed) == 1 and failed[0]["message"] == f"cam: auth_failed: authentication refused: {HOSTILE}"
