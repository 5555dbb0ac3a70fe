"""Real SSH servers on loopback: OpenSSH ``sshd`` instances with their own configs and keys.

Each server runs ``sshd -D -e -f CFG`` on 127.0.0.1 and a free port, with its own host keys, an
``authorized_keys`` of test keys, and ``-o`` style options (legacy algorithm lists, password login off).
Old firmware is emulated by restricting OpenSSH 9.2 to legacy algorithms (only Debian's Dropbear
2022.83 is installable here). Servers are killed by pid at teardown; the machine's own sshd is never
touched. Tests skip with a reason when not root or when a binary is missing.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen")

# Old firmware, as issue 7 lists it (all accepted by Debian 12's sshd: see `sshd -T`).
LEGACY_A = {  # group14-sha1 + ssh-rsa + aes128-cbc + hmac-sha1
    "KexAlgorithms": "diffie-hellman-group14-sha1",
    "HostKeyAlgorithms": "ssh-rsa",
    "Ciphers": "aes128-cbc",
    "MACs": "hmac-sha1",
}
LEGACY_B = {  # group1-sha1 + ssh-dss + 3des-cbc + hmac-md5
    "KexAlgorithms": "diffie-hellman-group1-sha1",
    "HostKeyAlgorithms": "ssh-dss",
    "Ciphers": "3des-cbc",
    "MACs": "hmac-md5",
}
MD5_ONLY = {"Ciphers": "aes128-ctr", "MACs": "hmac-md5"}  # modern kex, but only hmac-md5


def sshd_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root (sshd runs as root on loopback ports)"
    if not SSHD.exists():
        return "sshd missing: apt-get install openssh-server"
    if SSH_KEYGEN is None:
        return "ssh-keygen missing: apt-get install openssh-client"
    return None


def keygen(path: Path, kind: str, passphrase: str = "") -> Path:
    """A key made by ssh-keygen (OpenSSH format), as users have them."""
    assert SSH_KEYGEN
    path.unlink(missing_ok=True)
    args = [SSH_KEYGEN, "-q", "-t", kind, "-N", passphrase, "-C", f"test-{kind}", "-f", str(path)]
    if kind == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def public_line(key: Path) -> str:
    """``type base64`` of a key's .pub (known_hosts and authorized_keys lines)."""
    return " ".join(key.with_name(key.name + ".pub").read_text().split()[:2])


@dataclass
class Sshd:
    dir: Path
    port: int
    host_keys: tuple[Path, ...]
    options: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"

    @property
    def log(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")

    def known_hosts_lines(self) -> str:
        name = f"[{self.host}]:{self.port}"
        return "".join(f"{name} {public_line(k)}\n" for k in self.host_keys)

    def start(self) -> None:
        cfg = self.dir / "sshd_config"
        lines = [
            f"ListenAddress {self.host}:{self.port}",
            *(f"HostKey {k}" for k in self.host_keys),
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "LogLevel DEBUG1",
            *(f"{k} {v}" for k, v in self.options.items()),
        ]
        cfg.write_text("\n".join(lines) + "\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
        with open(self.dir / "sshd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log[-500:]}")
            with socket.socket() as s:
                if s.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("sshd did not listen in time")

    def stop(self) -> None:
        """SIGTERM the listener we started (its session children exit with it), by pid only."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


@dataclass(frozen=True)
class Keys:
    """Client keys; every one is authorized on every server these fixtures start."""

    dir: Path
    ed25519: Path
    rsa: Path
    ecdsa: Path
    encrypted: Path  # ed25519 with PASSPHRASE
    unauthorized: Path


PASSPHRASE = "correct horse battery staple 7"


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    d = tmp_path_factory.mktemp("client-keys")
    return Keys(
        d,
        keygen(d / "id_ed25519", "ed25519"),
        keygen(d / "id_rsa", "rsa"),
        keygen(d / "id_ecdsa", "ecdsa"),
        keygen(d / "id_encrypted", "ed25519", PASSPHRASE),
        keygen(d / "id_wrong", "ed25519"),
    )


StartSshd = Callable[..., Sshd]


@pytest.fixture(scope="module")
def start_sshd(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[StartSshd]:
    """``start_sshd(options, host_key_types=("ed25519",), authorized=(extra pub lines))`` -> Sshd."""
    started: list[Sshd] = []

    def start(
        options: Mapping[str, str] | None = None,
        host_key_types: tuple[str, ...] = ("ed25519",),
        authorized: tuple[str, ...] = (),
    ) -> Sshd:
        d = tmp_path_factory.mktemp("sshd")
        hks = tuple(keygen(d / f"host_{t}", t) for t in host_key_types)
        pubs = [public_line(k) for k in (keys.ed25519, keys.rsa, keys.ecdsa, keys.encrypted)]
        (d / "authorized_keys").write_text("".join(f"{p}\n" for p in (*pubs, *authorized)))
        server = Sshd(d, free_port(), hks, dict(options or {}))
        server.start()
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME and no agent: only what a test configures can authenticate."""
    h = tmp_path / "home"
    (h / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return h
