"""The paramiko transport (``transport: paramiko``), for sites that standardise on it.

paramiko is blocking, so every call runs in a worker thread; its own socket, banner, auth and
channel timeouts are set to the device timeout so a thread never outlives a hung device by much.
Stock paramiko 5.x has dropped ssh-rsa SHA-1, group1/group14-sha1 and DSA: it cannot reach Dropbear
older than 2020.79 or any legacy-only server (docs/ssh-field-notes.md, tests/ssh/test_legacy.py); the
inventory refuses ``legacy_algorithms`` and algorithm lists with it. Use asyncssh for those.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import paramiko

from fleet.inventory.model import Device
from fleet.ssh.credentials import device_passphrase, device_password
from fleet.ssh.hostkeys import known_hosts_path, record_host_key
from fleet.ssh.jumps import jump_chain, jump_host
from fleet.ssh.outcomes import (
    STDERR_KEPT,
    AuthFailed,
    CaptureError,
    CommandResult,
    DeviceError,
    HostKeyMismatch,
    Session,
    Unreachable,
)


class ParamikoSession:
    def __init__(
        self, client: paramiko.SSHClient, timeout: float, jumps: Sequence[paramiko.SSHClient] = ()
    ) -> None:
        self.client, self.timeout, self.jumps = client, timeout, tuple(jumps)
        self._shell: paramiko.Channel | None = None  # the kept ``sh -s`` between two captures

    async def capture(self, script: bytes, end: bytes, limit: int, *, keep: bool) -> CommandResult:
        return await asyncio.to_thread(self._capture, script, end, limit, keep)

    def _capture(self, script: bytes, end: bytes, limit: int, keep: bool) -> CommandResult:
        """One capture, in a kept ``sh -s`` or a one-shot one (as AsyncsshSession.capture)."""
        chan, self._shell = self._shell, None  # kept again only after a whole capture
        if chan is not None and (chan.closed or chan.eof_received or chan.exit_status_ready()):
            chan.close()  # the shell was killed between two samples: start another
            chan = None
        if chan is None and not keep:
            return self._run("sh -s", script, limit)
        try:
            with _capture_errors():
                if chan is None:
                    chan = self._open("sh -s")
                _send(chan, script, eof=False)
                result = self._receive(chan, end, limit)
            if result.exit_status is None and not result.truncated:  # whole, and the shell waits
                self._shell, chan = chan, None
            return result
        finally:
            if chan is not None:  # not kept: ended, cut, over the cap, or failed
                chan.close()

    def _open(self, command: str) -> paramiko.Channel:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise CaptureError("session closed before the capture")
        chan = transport.open_session(timeout=self.timeout)
        chan.settimeout(self.timeout)
        chan.exec_command(command)
        return chan

    def _receive(self, chan: paramiko.Channel, end: bytes | None, limit: int) -> CommandResult:
        """stdout up to and including ``end`` (exit status None: the command still runs), or to its
        EOF (``end`` None, or never printed), never holding more than ``limit`` bytes; stderr is
        drained beside it (unread, it would stall the channel's window)."""
        buf, err = bytearray(), bytearray()
        deadline = time.monotonic() + self.timeout
        while chunk := chan.recv(65536):
            buf += chunk
            _drain_stderr(chan, err)
            if end is not None:
                at = buf.find(end, max(0, len(buf) - len(chunk) - len(end) + 1))
                if 0 <= at <= limit - len(end):
                    return CommandResult(bytes(buf[: at + len(end)]), bytes(err), None, False)
            if len(buf) > limit:
                return CommandResult(b"", b"", None, True)  # never stored: free it now
            if time.monotonic() > deadline:
                raise TimeoutError("capture took longer than the device timeout")
        status = chan.recv_exit_status()
        _drain_stderr(chan, err)
        return CommandResult(bytes(buf), bytes(err), status, False)

    def _run(self, command: str, stdin: bytes, limit: int) -> CommandResult:
        chan: paramiko.Channel | None = None
        try:
            with _capture_errors():
                chan = self._open(command)
                _send(chan, stdin, eof=True)
                return self._receive(chan, None, limit)
        finally:
            if chan is not None:
                chan.close()

    async def run(self, command: str, stdin: bytes, limit: int) -> CommandResult:
        return await asyncio.to_thread(self._run, command, stdin, limit)

    def _close(self) -> None:
        if self._shell is not None:  # end the kept shell the way a one-shot capture ends: stdin's EOF
            shell, self._shell = self._shell, None
            with contextlib.suppress(paramiko.SSHException, OSError):
                shell.shutdown_write()
                shell.status_event.wait(2)
            shell.close()
        self.client.close()
        for jump in reversed(self.jumps):
            jump.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._close)


@contextlib.contextmanager
def _capture_errors() -> Iterator[None]:
    """Library and socket failures during a capture become CaptureError; the device's timeout
    (a TimeoutError, itself an OSError) stays what it is."""
    try:
        yield
    except TimeoutError:
        raise
    except (paramiko.SSHException, OSError) as exc:
        raise CaptureError(f"session failed during capture: {exc}") from exc


def _send(chan: paramiko.Channel, data: bytes, *, eof: bool) -> None:
    """Write a command's input (and its EOF). A command that ended without reading it (a shell
    that refuses to run it) is not an error here: its exit status and stderr, read next, say why."""
    try:
        chan.sendall(data)
        if eof:
            chan.shutdown_write()
    except OSError as exc:
        if isinstance(exc, TimeoutError):
            raise


def _drain_stderr(chan: paramiko.Channel, err: bytearray) -> None:
    """Read the stderr that arrived (unread, it would stall the channel's window); keep the head."""
    while chan.recv_stderr_ready():
        chunk = chan.recv_stderr(65536)
        err += chunk[: max(0, STDERR_KEPT - len(err))]


class _RecordNewKey(paramiko.MissingHostKeyPolicy):
    """accept-new: append the first-seen key through the shared, locked writer (never rewrite)."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.port = path, port

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        host = hostname[1:].split("]")[0] if hostname.startswith("[") else hostname
        record_host_key(self.path, host, self.port, f"{key.get_name()} {key.get_base64()}")


class ParamikoTransport:
    """One paramiko client per device, driven from worker threads.

    ``proxy_jump`` opens a client to each jump host in turn and a direct-tcpip channel through it
    (jump connections per device, not shared: paramiko is the transport for small, modern fleets).
    """

    def _client(self, device: Device) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        path = known_hosts_path(device)
        if device.host_key_checking != "off" and path.exists():
            try:
                client.load_host_keys(str(path))
            except (OSError, paramiko.SSHException) as exc:
                raise HostKeyMismatch(f"cannot read known_hosts {path}: {exc}") from exc
        if device.host_key_checking == "strict":
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        elif device.host_key_checking == "accept-new":
            client.set_missing_host_key_policy(_RecordNewKey(path, device.port))
        else:
            client.set_missing_host_key_policy(paramiko.WarningPolicy())
        return client

    def _login(self, device: Device, sock: paramiko.Channel | None) -> paramiko.SSHClient:
        """Connect and authenticate; every paramiko error leaves as a DeviceError."""
        client = self._client(device)
        password = device_password(device)
        passphrase = device_passphrase(device)
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
                sock=sock,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyMismatch(
                f"host key of {device.host} differs from the one in known_hosts"
                f" (possible impersonation, or the device was re-flashed): {exc}"
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            raise AuthFailed(f"authentication refused: {exc}") from exc
        except paramiko.ssh_exception.IncompatiblePeer as exc:
            client.close()
            raise Unreachable(
                f"no common algorithm: {exc}; paramiko cannot reach legacy-only servers"
                " (use transport: asyncssh with legacy_algorithms: true)"
            ) from exc
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise HostKeyMismatch(
                    f"host key of {device.host} is not in known_hosts (host_key_checking: strict)"
                ) from exc
            raise Unreachable(f"ssh: {exc}") from exc
        except TimeoutError:
            client.close()
            raise
        except OSError as exc:
            client.close()
            raise Unreachable(exc.strerror or str(exc)) from exc
        return client

    def _connect(self, device: Device) -> ParamikoSession:
        """Log into each jump host in turn through a direct-tcpip channel of the previous one."""
        jumps: list[paramiko.SSHClient] = []
        sock: paramiko.Channel | None = None
        hops = jump_chain(device)
        try:
            for hop in hops:
                jump_device = jump_host(device, hop)
                host, port = jump_device.host, jump_device.port
                if jumps:
                    sock = self._channel(jumps[-1], hops[len(jumps) - 1], host, port)
                try:
                    jumps.append(self._login(jump_device, sock))
                except DeviceError as exc:
                    raise type(exc)(f"jump host {hop}: {exc}") from exc
            if jumps:
                sock = self._channel(jumps[-1], hops[-1], device.host, device.port)
            return ParamikoSession(self._login(device, sock), device.timeout, jumps)
        except BaseException:
            for jump in reversed(jumps):
                jump.close()
            raise

    @staticmethod
    def _channel(jump: paramiko.SSHClient, name: str, host: str, port: int) -> paramiko.Channel:
        try:
            transport = jump.get_transport()
            assert transport is not None
            return transport.open_channel("direct-tcpip", (host, port), ("127.0.0.1", 0))
        except (paramiko.SSHException, OSError) as exc:
            raise Unreachable(f"jump host {name} cannot open a channel: {exc}") from exc

    async def connect(self, device: Device) -> Session:
        return await asyncio.to_thread(self._connect, device)
