"""Reaching a device: the Transport contract and its asyncssh implementation.

Library errors are translated here, once, into :class:`DeviceError` subclasses whose ``status`` is
one of the outcome names users see (``unreachable``, ``auth_failed``, ``host_key_mismatch``,
``capture_error``). Timeouts are the orchestrator's business: it wraps connect + capture in one.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncssh

from fleet.inventory import Device

# Outcome names (interface.md).
OK = "ok"
UNREACHABLE = "unreachable"
AUTH_FAILED = "auth_failed"
HOST_KEY_MISMATCH = "host_key_mismatch"
TIMEOUT = "timeout"
CAPTURE_ERROR = "capture_error"
STATUSES = (OK, UNREACHABLE, AUTH_FAILED, HOST_KEY_MISMATCH, TIMEOUT, CAPTURE_ERROR)

# Short lists on purpose: Dropbear before 2020.81 reads only the first 20 names of each list and
# drops lists longer than ~1,300 bytes (docs/ssh-field-notes.md). Modern names first, legacy last.
LEGACY_KEX = (
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group1-sha1",
)
LEGACY_CIPHERS = (
    "aes128-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-cbc",
    "aes256-cbc",
    "3des-cbc",
)
LEGACY_MACS = ("hmac-sha2-256", "hmac-sha1", "hmac-md5")
# Also used when no known_hosts entry restricts the choice: ed25519 first, because Dropbear 2022.83
# with only an ed25519 key still offers rsa-sha2-256 and aborts when a client picks it.
HOST_KEY_ALGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa")
LEGACY_HOST_KEY_ALGS = (*HOST_KEY_ALGS, "ssh-dss")


class DeviceError(Exception):
    """A device could not be sampled; ``status`` is the outcome name, the message the reason."""

    status = CAPTURE_ERROR


class Unreachable(DeviceError):
    """No SSH session could be set up (refused, no route, reset, handshake failure)."""

    status = UNREACHABLE


class AuthFailed(DeviceError):
    """The device refused every credential offered."""

    status = AUTH_FAILED


class HostKeyMismatch(DeviceError):
    """The host key is unknown (strict mode) or differs from the recorded one."""

    status = HOST_KEY_MISMATCH


class CaptureError(DeviceError):
    """The session worked but the capture did not (non-zero exit, cut stream, too much output)."""

    status = CAPTURE_ERROR


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    exit_status: int | None
    truncated: bool  # stdout hit the size cap and the command was stopped


class Session(Protocol):
    async def run(self, command: str, stdin: bytes, limit: int) -> CommandResult: ...

    async def close(self) -> None: ...


class Transport(Protocol):
    async def connect(self, device: Device) -> Session: ...


class AsyncsshSession:
    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    async def run(self, command: str, stdin: bytes, limit: int) -> CommandResult:
        try:
            proc = await self.conn.create_process(command, encoding=None)
            proc.stdin.write(stdin)
            proc.stdin.write_eof()
            (out, truncated), (err, _) = await asyncio.gather(
                _read_capped(proc.stdout, limit), _read_capped(proc.stderr, 64 * 1024)
            )
            if truncated:
                proc.close()
                return CommandResult(out, err, None, True)
            await proc.wait_closed()
            return CommandResult(out, err, proc.exit_status, False)
        except (asyncssh.Error, OSError) as exc:
            raise CaptureError(f"session failed during capture: {_reason(exc)}") from exc

    async def close(self) -> None:
        self.conn.close()
        try:
            await asyncio.wait_for(self.conn.wait_closed(), 2)
        except (TimeoutError, asyncssh.Error, OSError):
            self.conn.abort()


async def _read_capped(stream: asyncssh.SSHReader[bytes], limit: int) -> tuple[bytes, bool]:
    """Read to EOF, but never hold more than ``limit`` bytes: a hostile device cannot fill memory."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return b"".join(chunks), False
        size += len(chunk)
        if size > limit:
            chunks.append(chunk[: len(chunk) - (size - limit)])
            return b"".join(chunks), True
        chunks.append(chunk)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__


class AsyncsshTransport:
    """One asyncssh connection per device; private keys are read once per file and reused."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str | None], asyncssh.SSHKey] = {}

    def _client_keys(self, device: Device) -> list[asyncssh.SSHKey] | None:
        if not device.identity_files:
            return None  # asyncssh defaults: ~/.ssh keys and the agent
        passphrase = os.environ.get(device.passphrase_env) if device.passphrase_env else None
        keys = []
        for path in device.identity_files:
            cache_key = (path, passphrase)
            if cache_key not in self._keys:
                try:
                    self._keys[cache_key] = asyncssh.read_private_key(path, passphrase)
                except (OSError, asyncssh.KeyImportError, ValueError) as exc:
                    raise AuthFailed(f"cannot use identity file {path}: {_reason(exc)}") from exc
            keys.append(self._keys[cache_key])
        return keys

    def _host_key_options(self, device: Device) -> tuple[dict[str, object], bool]:
        """asyncssh host-key options, and whether known_hosts already holds this host."""
        algs = list(_host_key_algs(device))
        if device.host_key_checking == "off":
            return {"known_hosts": None, "server_host_key_algs": algs}, False
        path = Path(device.known_hosts or "~/.ssh/known_hosts").expanduser()
        if _known_entries(path, device):
            return {"known_hosts": str(path)}, True  # asyncssh then offers only the recorded key types
        if device.host_key_checking == "strict":
            # still connect: a dead address must read "unreachable", not "unknown key"
            return {"known_hosts": str(path) if path.exists() else b"", "server_host_key_algs": algs}, False
        return {"known_hosts": None, "server_host_key_algs": algs}, False

    async def connect(self, device: Device) -> Session:
        options: dict[str, object] = {
            "host": device.host,
            "port": device.port,
            "username": device.user,
            "client_keys": self._client_keys(device),
            "keepalive_interval": 30,
            "config": None,
        }
        if device.password_env:
            password = os.environ.get(device.password_env)
            if password is None:
                raise AuthFailed(f"password_env {device.password_env} is not set in the environment")
            options["password"] = password
        if device.proxy_jump:
            options["tunnel"] = device.proxy_jump  # asyncssh opens the jump connection itself
        host_key_options, known = self._host_key_options(device)
        options.update(host_key_options)
        if device.legacy_algorithms:
            options.update(
                kex_algs=list(LEGACY_KEX),
                encryption_algs=list(LEGACY_CIPHERS),
                mac_algs=list(LEGACY_MACS),
            )
        try:
            conn = await asyncssh.connect(**options)
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(f"authentication refused: {_reason(exc)}") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            if known:
                why = _reason(exc)
                raise HostKeyMismatch(f"host key differs from the one in known_hosts: {why}") from exc
            raise HostKeyMismatch(
                f"host key of {device.host} is not in known_hosts (host_key_checking: strict)"
            ) from exc
        except asyncssh.ConnectionLost as exc:
            hint = "" if device.legacy_algorithms else " (legacy_algorithms: true may help)"
            raise Unreachable(f"connection closed during handshake: no common algorithm?{hint}") from exc
        except asyncssh.Error as exc:
            raise Unreachable(f"ssh: {_reason(exc)}") from exc
        except OSError as exc:
            raise Unreachable(_reason(exc)) from exc
        if device.host_key_checking == "accept-new" and not known:
            _record_host_key(conn, device)
        return AsyncsshSession(conn)


def _host_key_algs(device: Device) -> tuple[str, ...]:
    return LEGACY_HOST_KEY_ALGS if device.legacy_algorithms else HOST_KEY_ALGS


def _known_entries(path: Path, device: Device) -> bool:
    """True when known_hosts holds a key for this host (and port)."""
    try:
        known = asyncssh.read_known_hosts(str(path))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        raise HostKeyMismatch(f"cannot read known_hosts {path}: {_reason(exc)}") from exc
    port = device.port if device.port != 22 else None
    trusted, _ca, revoked, *_ = known.match(device.host, "", port)
    return bool(trusted or revoked)


def _record_host_key(conn: asyncssh.SSHClientConnection, device: Device) -> None:
    key = conn.get_server_host_key()
    if key is None:
        return
    path = Path(device.known_hosts or "~/.ssh/known_hosts").expanduser()
    host = device.host if device.port == 22 else f"[{device.host}]:{device.port}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(f"{host} {key.export_public_key('openssh').decode().strip()}\n")
