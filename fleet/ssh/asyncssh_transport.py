"""The asyncssh transport (the default): sessions with a kept shell, connections through shared jump
hosts, and what the installed asyncssh supports. The one fleet.ssh module that imports asyncssh;
its errors are translated here, once, into fleet.ssh.outcomes' DeviceError subclasses.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh.encryption import get_encryption_algs
from asyncssh.kex import get_kex_algs
from asyncssh.mac import get_mac_algs
from asyncssh.public_key import get_certificate_algs, get_default_public_key_algs, get_public_key_algs

from fleet.inventory.model import Device
from fleet.ssh.algorithms import (
    LEGACY_CIPHERS,
    LEGACY_KEX,
    LEGACY_MACS,
    host_key_algs,
    legacy_hint,
)
from fleet.ssh.credentials import device_passphrase, device_password
from fleet.ssh.handshakes import BannerLost, HandshakeSlots, retry_lost_banner
from fleet.ssh.hostkeys import known_hosts_path, record_host_key
from fleet.ssh.jumps import jump_chain, jump_host, shared_jump_key
from fleet.ssh.outcomes import (
    STDERR_KEPT,
    AuthFailed,
    CaptureError,
    CommandResult,
    DeviceError,
    HostKeyMismatch,
    Session,
    Unreachable,
    reason,
)
from fleet.ssh.streams import read_capped, read_until

KEEPALIVE_INTERVAL = 30  # seconds; keepalive@openssh.com works on every Dropbear tested


class AsyncsshSession:
    def __init__(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn
        self._shell: _Shell | None = None  # the kept ``sh -s`` between two captures

    async def capture(self, script: bytes, end: bytes, limit: int, *, keep: bool) -> CommandResult:
        """Run one capture script (its stdout ends at ``end``, its end marker) in the session's
        kept shell, if it has one; else, with ``keep``, start one (``sh -s`` waiting for the next
        script: a repeat sample then opens no channel and the device forks no shell), or without,
        run it in a one-shot ``sh -s`` that exits at the end of its input (:meth:`run`). A shell
        that exits before the end marker (a restricted login shell, a script cut short) is reported
        by its exit status and stderr like :meth:`run`, and the next capture starts a new one."""
        shell, self._shell = self._shell, None  # kept again only after a whole capture
        if shell is not None and shell.ended():  # killed between two samples: start another
            shell.stop()
            shell = None
        if shell is None and not keep:
            return await self.run("sh -s", script, limit)
        try:
            if shell is None:
                proc = await self.conn.create_process("sh -s", encoding=None)
                shell = _Shell(proc)
            with contextlib.suppress(BrokenPipeError):  # a shell that ended without reading its
                shell.proc.stdin.write(script)  # input: its exit status and stderr say why
            out, ended, truncated = await read_until(shell.proc.stdout, end, limit)
            if ended:
                kept, shell = shell, None
                self._shell = kept
                return CommandResult(out, kept.take_stderr(), None, False)
            if truncated:
                return CommandResult(b"", b"", None, True)  # never stored: free the 16 MiB now
            await shell.proc.wait_closed()
            return CommandResult(out, await shell.stderr_at_exit(), shell.proc.exit_status, False)
        except (asyncssh.Error, OSError) as exc:
            raise CaptureError(f"session failed during capture: {reason(exc)}") from exc
        finally:
            if shell is not None:  # not kept: ended, cut, over the cap, or cancelled mid-capture
                shell.stop()

    async def run(self, command: str, stdin: bytes, limit: int) -> CommandResult:
        try:
            proc = await self.conn.create_process(command, encoding=None)
            try:
                proc.stdin.write(stdin)
                proc.stdin.write_eof()
            except BrokenPipeError:
                pass  # the command ended without reading its input (a shell that refuses to run
                # it): its exit status and stderr, read below, say why
            # stderr is drained beside stdout (unread data would stall the shared channel window),
            # but never awaited when stdout overflows: a flooding device's stderr never ends.
            err_task = asyncio.ensure_future(read_capped(proc.stderr, STDERR_KEPT, drain=True))
            try:
                out, truncated = await read_capped(proc.stdout, limit)
                if truncated:
                    proc.close()
                    return CommandResult(b"", b"", None, True)  # never stored: free the 16 MiB now
                await proc.wait_closed()
                err, _ = await err_task
                return CommandResult(out, err, proc.exit_status, False)
            finally:
                err_task.cancel()
        except (asyncssh.Error, OSError) as exc:
            raise CaptureError(f"session failed during capture: {reason(exc)}") from exc

    async def close(self) -> None:
        if self._shell is not None:  # end the kept shell the way a one-shot capture ends: stdin's EOF
            shell, self._shell = self._shell, None
            with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
                shell.proc.stdin.write_eof()
                await asyncio.wait_for(shell.proc.wait_closed(), 2)
            shell.stop()
        self.conn.close()
        try:
            await asyncio.wait_for(self.conn.wait_closed(), 2)
        except (TimeoutError, asyncssh.Error, OSError):
            self.conn.abort()


class _Shell:
    """A kept ``sh -s`` and its stderr, drained all along (unread stderr would stall the channel's
    window) into a buffer of at most ``STDERR_KEPT`` bytes that each capture takes."""

    def __init__(self, proc: asyncssh.SSHClientProcess[bytes]) -> None:
        self.proc = proc
        self.stderr = bytearray()
        self._drain = asyncio.ensure_future(self._read_stderr())

    async def _read_stderr(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            while chunk := await self.proc.stderr.read(65536):
                self.stderr += chunk[: max(0, STDERR_KEPT - len(self.stderr))]

    def ended(self) -> bool:
        """The shell's channel got its EOF (the shell exited or was killed) or failed."""
        return self._drain.done()

    def take_stderr(self) -> bytes:
        err = bytes(self.stderr)
        self.stderr.clear()
        return err

    async def stderr_at_exit(self) -> bytes:
        with contextlib.suppress(asyncssh.Error, OSError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._drain), 2)
        return self.take_stderr()

    def stop(self) -> None:
        self._drain.cancel()
        self.proc.close()


class _Probe(asyncssh.SSHClient):
    """Keeps the connection object so a failure can tell "no banner" from "failed in kex"."""

    def __init__(self) -> None:
        self.conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def got_banner(self) -> bool:
        return self.conn is not None and bool(self.conn.get_extra_info("server_version"))


class AsyncsshTransport:
    """One asyncssh connection per device; private keys are read once per file and reused.

    A jump host is connected once and shared by every device behind it (one handshake to the
    bastion, not one per device). :meth:`close` closes those shared connections.
    """

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str | None], asyncssh.SSHKey] = {}
        self._handshakes = HandshakeSlots()  # addresses being connected to
        self._jumps: dict[tuple[Any, ...], asyncssh.SSHClientConnection] = {}
        self._jump_locks: dict[tuple[Any, ...], asyncio.Lock] = {}
        self._known: dict[Path, tuple[tuple[int, int], asyncssh.SSHKnownHosts]] = {}

    def _known_hosts(self, path: Path) -> asyncssh.SSHKnownHosts | None:
        """known_hosts parsed once per file and version: re-reading it for every device made a
        sweep quadratic in fleet size (100 devices: 20,000 key parses, 7.7 ms per device)."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise HostKeyMismatch(f"cannot read known_hosts {path}: {reason(exc)}") from exc
        version = (st.st_mtime_ns, st.st_size)  # accept-new appends change both
        cached = self._known.get(path)
        if cached is None or cached[0] != version:
            try:
                cached = (version, asyncssh.read_known_hosts(str(path)))
            except (OSError, ValueError) as exc:
                raise HostKeyMismatch(f"cannot read known_hosts {path}: {reason(exc)}") from exc
            self._known[path] = cached
        return cached[1]

    def _client_keys(self, device: Device) -> list[asyncssh.SSHKey] | None:
        if not device.identity_files:
            return None  # asyncssh defaults: ~/.ssh keys and the agent
        passphrase = device_passphrase(device)
        keys = []
        for path in device.identity_files:
            cache_key = (path, passphrase)
            if cache_key not in self._keys:
                try:
                    self._keys[cache_key] = asyncssh.read_private_key(path, passphrase)
                except (OSError, asyncssh.KeyImportError, ValueError) as exc:
                    raise AuthFailed(f"cannot use identity file {path}: {reason(exc)}") from exc
            keys.append(self._keys[cache_key])
        return keys

    def _host_key_options(self, device: Device) -> tuple[dict[str, object], bool]:
        """asyncssh host-key options, and whether known_hosts already holds this host."""
        algs = list(device.host_key_algorithms or host_key_algs(device))
        if device.host_key_checking == "off":
            return {"known_hosts": None, "server_host_key_algs": algs}, False
        known = self._known_hosts(known_hosts_path(device))
        if known is not None and _known_entries(known, device):
            options: dict[str, object] = {"known_hosts": known}
            if device.host_key_algorithms:
                options["server_host_key_algs"] = algs
            return options, True  # else asyncssh offers only the recorded key types
        if device.host_key_checking == "strict":
            # still connect: a dead address must read "unreachable", not "unknown key"
            return {"known_hosts": known if known is not None else b"", "server_host_key_algs": algs}, False
        return {"known_hosts": None, "server_host_key_algs": algs}, False

    def _algorithm_options(self, device: Device) -> dict[str, object]:
        options: dict[str, object] = {}
        if device.legacy_algorithms:
            options.update(
                kex_algs=list(LEGACY_KEX),
                encryption_algs=list(LEGACY_CIPHERS),
                mac_algs=list(LEGACY_MACS),
                # client-key signatures: asyncssh's defaults (incl. ssh-rsa SHA-1) plus DSA keys
                signature_algs=[a.decode() for a in get_default_public_key_algs()] + ["ssh-dss"],
            )
        for option, names in (
            ("kex_algs", device.kex_algorithms),
            ("encryption_algs", device.ciphers),
            ("mac_algs", device.macs),
        ):
            if names:
                options[option] = list(names)
        return options

    def _auth_keys(self, device: Device) -> list[asyncssh.SSHKeyPair] | None:
        """The client keys to offer; with legacy_algorithms each RSA key is offered a second time
        signing with ssh-rsa (SHA-1), for old servers that advertise rsa-sha2 but verify only SHA-1."""
        keys = self._client_keys(device)
        if keys is None:
            return None
        pairs = list(asyncssh.load_keypairs(keys))
        if not device.legacy_algorithms:
            return pairs
        out = []
        for pair in pairs:
            out.append(pair)
            if pair.algorithm == b"ssh-rsa" and pair.sig_algorithms != (b"ssh-rsa",):
                sha1 = copy.copy(pair)
                sha1.sig_algorithm, sha1.sig_algorithms = b"ssh-rsa", (b"ssh-rsa",)
                out.append(sha1)
        return out

    async def connect(self, device: Device) -> Session:
        tunnel = None
        hops = jump_chain(device)
        for i in range(len(hops)):  # a,b: a directly, b through a, the device through b
            tunnel = await self._jump(device, hops, i, tunnel)
        return AsyncsshSession(await self._open(device, tunnel))

    async def _jump(
        self,
        device: Device,
        hops: list[str],
        i: int,
        tunnel: asyncssh.SSHClientConnection | None,
    ) -> asyncssh.SSHClientConnection:
        """The shared connection to hop ``i`` of this device's chain (reached through hop i-1);
        its failures name the jump host."""
        hop = hops[i]
        jump_device = jump_host(device, hop)
        key = shared_jump_key(device, hops, i)
        async with self._jump_locks.setdefault(key, asyncio.Lock()):
            conn = self._jumps.get(key)
            if conn is not None and not conn.is_closed():
                return conn
            try:
                conn = await self._open(jump_device, tunnel)
            except DeviceError as exc:
                err = type(exc)(f"jump host {hop}: {exc}")
                raise err from exc
            self._jumps[key] = conn
            return conn

    async def _open(
        self, device: Device, tunnel: asyncssh.SSHClientConnection | None
    ) -> asyncssh.SSHClientConnection:
        options: dict[str, object] = {
            "username": device.user,
            "keepalive_interval": KEEPALIVE_INTERVAL,
            "config": None,
        }
        keys = self._auth_keys(device)
        if keys is not None:  # None would switch public-key auth off; absent: ~/.ssh keys + agent
            options["client_keys"] = keys
        password = device_password(device)
        if password is not None:
            options["password"] = password
        if tunnel is not None:
            options["tunnel"] = tunnel
        host_key_options, known = self._host_key_options(device)
        options.update(host_key_options)
        options.update(self._algorithm_options(device))
        options.update(usable_algorithms(options))

        async def handshake() -> asyncssh.SSHClientConnection:
            async with self._handshakes.slot(device.host, device.port):
                return await self._handshake(device, options, known)

        conn = await retry_lost_banner(handshake)
        if device.host_key_checking == "accept-new" and not known:
            key = conn.get_server_host_key()
            if key is not None:
                public = key.export_public_key("openssh").decode()
                try:
                    await asyncio.to_thread(
                        record_host_key, known_hosts_path(device), device.host, device.port, public
                    )
                except OSError as exc:
                    conn.abort()
                    why = reason(exc)
                    raise HostKeyMismatch(f"cannot record the host key in known_hosts: {why}") from exc
        return conn

    async def _handshake(
        self, device: Device, options: dict[str, object], known: bool
    ) -> asyncssh.SSHClientConnection:
        """One connection attempt; every library error leaves here as a DeviceError (or BannerLost)."""
        probe = _Probe()
        try:
            conn, _ = await asyncssh.create_connection(lambda: probe, device.host, device.port, **options)
            return conn
        except asyncssh.PermissionDenied as exc:
            raise AuthFailed(f"authentication refused: {reason(exc)}") from exc
        except asyncssh.HostKeyNotVerifiable as exc:
            if known:
                why = reason(exc)
                raise HostKeyMismatch(
                    f"host key of {device.host} differs from the one in known_hosts"
                    f" (possible impersonation, or the device was re-flashed): {why}"
                ) from exc
            raise HostKeyMismatch(
                f"host key of {device.host} is not in known_hosts (host_key_checking: strict)"
            ) from exc
        except asyncssh.KeyExchangeFailed as exc:
            why = reason(exc)
            if known and "host key" in why.lower():
                raise HostKeyMismatch(
                    f"the device offers no host key of the type recorded in known_hosts: {why}"
                ) from exc
            raise Unreachable(f"no common algorithm: {why}{legacy_hint(device)}") from exc
        except (asyncssh.ConnectionLost, ConnectionResetError, BrokenPipeError) as exc:
            if not probe.got_banner():
                raise BannerLost() from exc
            raise Unreachable(
                "connection closed by the device during key exchange: no common algorithm"
                + legacy_hint(device)
            ) from exc
        except asyncssh.Error as exc:
            raise Unreachable(f"ssh: {reason(exc)}") from exc
        except OSError as exc:
            raise Unreachable(reason(exc)) from exc

    async def close(self) -> None:
        """Close the shared jump-host connections."""
        for conn in self._jumps.values():
            conn.close()
        for conn in self._jumps.values():
            with contextlib.suppress(TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(conn.wait_closed(), 2)
        self._jumps.clear()


# What the installed asyncssh (and the cryptography under it) can do, per connect() option: a name
# a future release drops (ssh-dss, group1-sha1, 3des-cbc, ...) must not reach asyncssh, which would
# reject the whole connection with a ValueError.
SUPPORTED_ALGORITHMS: dict[str, Callable[[], Sequence[bytes]]] = {
    "kex_algs": get_kex_algs,
    "encryption_algs": get_encryption_algs,
    "mac_algs": get_mac_algs,
    "server_host_key_algs": lambda: [*get_public_key_algs(), *get_certificate_algs()],
    "signature_algs": get_public_key_algs,
}


def usable_algorithms(options: Mapping[str, object]) -> dict[str, list[str]]:
    """The algorithm lists in ``options`` cut to what this asyncssh supports, order kept.

    Raises Unreachable (one device's clear error, not an internal one) when nothing is left.
    """
    usable: dict[str, list[str]] = {}
    for option, supported in SUPPORTED_ALGORITHMS.items():
        names = options.get(option)
        if not isinstance(names, list):
            continue
        known = {name.decode() for name in supported()}
        usable[option] = [name for name in names if name in known]
        if not usable[option]:
            raise Unreachable(
                f"none of {', '.join(map(str, names))} ({option}) is supported by the installed"
                f" asyncssh {asyncssh.__version__}: set other names in the inventory"
            )
    return usable


def _known_entries(known: asyncssh.SSHKnownHosts, device: Device) -> bool:
    """True when known_hosts holds a key for this host (and port)."""
    port = device.port if device.port != 22 else None
    trusted, _ca, revoked, *_ = known.match(device.host, "", port)
    return bool(trusted or revoked)
