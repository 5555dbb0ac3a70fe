"""Keys of the lab: ed25519 host keys in Dropbear's format, client keys, known_hosts.

Host keys are written directly in Dropbear's key format instead of running ``dropbearkey`` once
per device (1,000 processes for a large lab). Only ed25519: real fleets run Dropbear 2022.83 with
just an ed25519 key (OpenWrt), and a client must then restrict itself to that algorithm (see
docs/ssh-field-notes: picking rsa-sha2-256 makes that Dropbear abort). The known_hosts file does
exactly that restriction for asyncssh.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

_ALG = b"ssh-ed25519"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def write_dropbear_host_key(path: Path) -> str:
    """Write a new ed25519 host key for Dropbear at ``path``; returns its ``ssh-ed25519 AAAA..`` line.

    Dropbear's format (signkey.c, ed25519.c): string "ssh-ed25519", then one string holding the
    32-byte private seed followed by the 32-byte public key.
    """
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    _write_private(path, _string(_ALG) + _string(seed + public))
    return "ssh-ed25519 " + base64.b64encode(_string(_ALG) + _string(public)).decode()


def write_client_key(path: Path, comment: str) -> str:
    """Write a new OpenSSH-format ed25519 private key (0600); returns its public line."""
    import asyncssh  # here: `fleet --help` and the reading commands load no SSH library

    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    _write_private(path, key.export_private_key("openssh"))
    public: bytes = key.export_public_key("openssh")
    path.with_name(path.name + ".pub").write_bytes(public)
    return public.decode().strip()


def _write_private(path: Path, data: bytes) -> None:
    """Create with mode 0600 from the start: a key must never exist world-readable, even briefly."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def known_hosts_line(host: str, port: int, public_line: str) -> str:
    """One known_hosts entry; a non-22 port uses the ``[host]:port`` form."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {public_line}"
