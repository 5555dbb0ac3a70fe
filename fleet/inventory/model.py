"""The inventory's records: Device and Inventory (frozen, resolved once), the errors naming
file, line and key, --only selection (by fleet.inventory.patterns), hop syntax and sharding."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fleet.errors import UsageError
from fleet.inventory.patterns import Selection, select

HOST_KEY_MODES = ("strict", "accept-new", "off")


TRANSPORTS = ("asyncssh", "paramiko")

# Where firmware keeps its version, most specific first: a vendor's own file names the image
# itself, while os-release on Buildroot or Yocto may name only the distribution's release.
# The first that exists on the device is its firmware identity (fleet.metrics.firmware).
DEFAULT_FIRMWARE_FILES = ("/etc/fw_version", "/etc/version", "/etc/os-release", "/usr/lib/os-release")
MAX_FIRMWARE_FILES = 16
MAX_FIRMWARE_PATH = 1024


def check_firmware_path(path: str) -> str:
    """A ``firmware_files`` entry goes into the capture script and comes back in grep's
    ``NAME:line`` output: an absolute path without a newline, NUL or ``:``. ValueError saying why."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"{path!r} is not an absolute path")
    if len(path) > MAX_FIRMWARE_PATH:
        raise ValueError(f"a path of {len(path)} characters: at most {MAX_FIRMWARE_PATH}")
    for bad, why in (("\n", "a newline"), ("\0", "a NUL"), ("\r", "a carriage return"), (":", "a ':'")):
        if bad in path:
            raise ValueError(f"{path!r} holds {why}: not a file fleet can name in a capture")
    return path


class InventoryError(UsageError):
    """A broken inventory: one line naming file, line and key path."""

    def __init__(self, path: Path | str, line: int | None, key: str, message: str) -> None:
        self.path, self.line, self.key, self.message = str(path), line, key, message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


@dataclass(frozen=True)
class Device:
    """Everything needed to reach one device; settings already merged from defaults and groups."""

    name: str
    host: str
    port: int = 22
    user: str = "root"
    identity_files: tuple[str, ...] = ()
    password_env: str | None = None
    password_file: str | None = None  # read at connect time, only if mode 0600/0400 and ours
    passphrase_env: str | None = None
    known_hosts: str | None = None  # None: ~/.ssh/known_hosts
    host_key_checking: str = "strict"
    timeout: float = 20.0
    legacy_algorithms: bool = False
    # Explicit algorithm lists for the odd device; each replaces the default or legacy list.
    kex_algorithms: tuple[str, ...] = ()
    ciphers: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    host_key_algorithms: tuple[str, ...] = ()
    proxy_jump: str | None = None
    transport: str = "asyncssh"
    firmware_files: tuple[str, ...] = DEFAULT_FIRMWARE_FILES  # the first found is the firmware identity
    groups: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    path: Path
    devices: tuple[Device, ...] = field(default_factory=tuple)
    # device name -> inventory key -> where its value came from ("defaults", "group:cams", "device",
    # "ssh_config:FILE:LINE"); keys absent here have Device's built-in default. "ssh_config_file" is
    # the OpenSSH config consulted ("none": none). For `fleet inventory show`.
    sources: Mapping[str, Mapping[str, str]] = field(default_factory=dict, compare=False)

    def select(self, only: Sequence[str] | None) -> tuple[Device, ...]:
        """Devices ``only``'s host patterns select by name, group or tag (all devices when empty);
        what ``--only`` means on every command (fleet.inventory.patterns)."""
        return self.selection(only).devices

    def selection(self, only: Sequence[str] | None) -> Selection[Device]:
        """:meth:`select`, with the patterns and terms that matched nothing."""
        return select(only, self.devices)


MAX_ALGORITHMS = 20  # Dropbear before 2020.81 ignores names past the 20th


def split_hop(spec: str) -> tuple[str, str, int | None]:
    """One jump host ``[user@]host[:port]`` -> (user or "", host, port or None); ValueError naming
    the hop when it is not of that form or its port is not 1-65535. The one parser of a hop."""
    user, _, hostport = spec.rpartition("@")
    if not spec or any(c.isspace() for c in spec) or not hostport or (user == "" and "@" in spec):
        raise ValueError(f"bad jump host {spec!r}: expected user@host:port")
    port: str | None = None
    if hostport.startswith("["):  # [v6addr]:port
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None if not rest else "?"
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    else:
        host = hostport
    if not host or (port is not None and (not port.isdigit() or not 1 <= int(port) <= 65535)):
        raise ValueError(f"bad jump host {spec!r}: expected user@host:port with a port 1-65535")
    return user, host, int(port) if port is not None else None


def safe_device_name(name: str) -> bool:
    """Device names end up in file names, logs and reports: no path tricks, no control bytes."""
    return name not in (".", "..") and "/" not in name and all(c.isprintable() for c in name)


def shard(devices: Sequence[Device], k: int, n: int) -> tuple[Device, ...]:
    """``--shard K/N`` (K from 1 to N): the devices whose name hashes to share K.

    crc32 of the name, not ``hash()`` (randomised per process): N collectors given the same
    inventory, one share each, cover every device exactly once, on any machine and Python.
    """
    if not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n}: K must be between 1 and N")
    return tuple(d for d in devices if zlib.crc32(d.name.encode()) % n == k - 1)
