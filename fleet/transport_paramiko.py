"""The paramiko transport (``transport: paramiko``), for sites that standardise on it.

paramiko is blocking, so every call runs in a worker thread; its own socket, banner, auth and
channel timeouts are set to the device timeout so a thread never outlives a hung device by much.
Stock paramiko 5.x has dropped ssh-rsa SHA-1, group1/group14-sha1 and DSA: it cannot reach Dropbear
older than 2020.79 (docs/ssh-field-notes.md); use the default asyncssh transport for those.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import paramiko

from fleet.inventory import Device
from fleet.transport import (
    AuthFailed,
    CaptureError,
    CommandResult,
    DeviceError,
    HostKeyMismatch,
    Session,
    Unreachable,
)


class ParamikoSession:
    def __init__(self, client: paramiko.SSHClient, timeout: float) -> None:
        self.client, self.timeout = client, timeout

    def _run(self, command: str, stdin: bytes, limit: int) -> CommandResult:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise CaptureError("session closed before the capture")
        try:
            chan = transport.open_session(timeout=self.timeout)
            chan.settimeout(self.timeout)
            chan.exec_command(command)
            chan.sendall(stdin)
            chan.shutdown_write()
            chunks: list[bytes] = []
            size = 0
            deadline = time.monotonic() + self.timeout
            while True:
                chunk = chan.recv(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    chunks.append(chunk[: len(chunk) - (size - limit)])
                    chan.close()
                    return CommandResult(b"".join(chunks), b"", None, True)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError("capture took longer than the device timeout")
            err = chan.recv_stderr(65536) if chan.recv_stderr_ready() else b""
            status = chan.recv_exit_status()
            chan.close()
            return CommandResult(b"".join(chunks), err, status, False)
        except (paramiko.SSHException, OSError) as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise CaptureError(f"session failed during capture: {exc}") from exc

    async def run(self, command: str, stdin: bytes, limit: int) -> CommandResult:
        return await asyncio.to_thread(self._run, command, stdin, limit)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.close)


class ParamikoTransport:
    """One paramiko client per device, driven from worker threads."""

    def _connect(self, device: Device) -> ParamikoSession:
        client = paramiko.SSHClient()
        path = Path(device.known_hosts or "~/.ssh/known_hosts").expanduser()
        if device.host_key_checking != "off" and path.exists():
            try:
                client.load_host_keys(str(path))
            except (OSError, paramiko.SSHException) as exc:
                raise HostKeyMismatch(f"cannot read known_hosts {path}: {exc}") from exc
        if device.host_key_checking == "strict":
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        password = None
        if device.password_env:
            password = os.environ.get(device.password_env)
            if password is None:
                raise AuthFailed(f"password_env {device.password_env} is not set in the environment")
        passphrase = os.environ.get(device.passphrase_env) if device.passphrase_env else None
        try:
            client.connect(
                device.host,
                port=device.port,
                username=device.user,
                password=password,
                passphrase=passphrase,
                key_filename=list(device.identity_files) or None,  # type: ignore[arg-type]  # takes lists
                timeout=device.timeout,
                banner_timeout=device.timeout,
                auth_timeout=device.timeout,
                channel_timeout=device.timeout,
                allow_agent=not device.identity_files,
                look_for_keys=not device.identity_files,
            )
        except paramiko.BadHostKeyException as exc:
            raise HostKeyMismatch(f"host key differs from the one in known_hosts: {exc}") from exc
        except paramiko.AuthenticationException as exc:
            raise AuthFailed(f"authentication refused: {exc}") from exc
        except paramiko.SSHException as exc:
            if "not found in known_hosts" in str(exc):
                raise HostKeyMismatch(
                    f"host key of {device.host} is not in known_hosts (host_key_checking: strict)"
                ) from exc
            raise Unreachable(f"ssh: {exc}") from exc
        except TimeoutError:
            raise
        except OSError as exc:
            raise Unreachable(exc.strerror or str(exc)) from exc
        if device.host_key_checking == "accept-new":
            try:
                client.save_host_keys(str(path))
            except OSError as exc:
                raise DeviceError(f"cannot record the host key in {path}: {exc}") from exc
        return ParamikoSession(client, device.timeout)

    async def connect(self, device: Device) -> Session:
        return await asyncio.to_thread(self._connect, device)
