"""Inventory: defaults -> groups -> devices, resolved once at load time into frozen records.

Strict by design: an unknown key, a missing host, a bad port, an unknown group or a duplicate device
is an error naming the file, the line and the key path (``inv.yaml:14: devices.cam-7.prot: unknown
key``), so a typo never silently drops a device or its settings.
"""

from __future__ import annotations

import functools
import math
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import UsageError
from fleet.inventory import ssh_config

# libyaml's loader when PyYAML was built with it: ~10x less CPU on a 2,000-device inventory,
# which every collect and sweep reads; same nodes, same line marks.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HOST_KEY_MODES = ("strict", "accept-new", "off")
TRANSPORTS = ("asyncssh", "paramiko")


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

    def select(self, only: list[str] | None) -> tuple[Device, ...]:
        """Devices matching any of ``only`` by name, group or tag (all devices when empty)."""
        if not only:
            return self.devices
        wanted = set(only)
        return tuple(d for d in self.devices if selected(wanted, d.name, d.groups, d.tags))


def selected(wanted: set[str], name: str, groups: Sequence[str], tags: Sequence[str]) -> bool:
    """What ``--only`` means on every command: the device's name, one of its groups or a tag."""
    return name in wanted or not wanted.isdisjoint(groups) or not wanted.isdisjoint(tags)


# --- validation of one settings mapping -------------------------------------------------------

Check = Callable[[Any], Any]


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError("must be a non-empty string")
    return v


def _port(v: Any) -> int:
    if isinstance(v, str) and v.isdigit() and v.startswith("0"):  # an INI value
        raise ValueError(f"bad port {v!r}: write it without leading zeros")
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise ValueError(f"bad port {v!r}: must be an integer 1-65535")
    return v


def _timeout(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"bad timeout {v!r}: must be a positive number of seconds")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"must be true or false, not {v!r}")
    return v


def _host_key_checking(v: Any) -> str:
    """A mode, or a YAML boolean as Ansible users write it: an unquoted ``off`` (or ``no``,
    ``false``) is false in YAML 1.1 and means off; true (``on``, ``yes``) means strict."""
    if isinstance(v, bool):
        return "strict" if v else "off"
    return str(_choice(HOST_KEY_MODES)(v))


def _choice(choices: tuple[str, ...]) -> Check:
    def check(v: Any) -> str:
        if v not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {v!r}")
        return str(v)

    return check


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise ValueError("must be a string or a list of strings")
    return tuple(v)


def _env_name(v: Any) -> str:
    name = _str(v)
    if not name.replace("_", "").isalnum():
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


MAX_ALGORITHMS = 20  # Dropbear before 2020.81 ignores names past the 20th


@functools.cache
def _supported(kind: str) -> frozenset[str]:
    """Algorithm names the asyncssh transport can use (imported late: parsing stays light)."""
    from asyncssh.encryption import get_encryption_algs
    from asyncssh.kex import get_kex_algs
    from asyncssh.mac import get_mac_algs
    from asyncssh.public_key import get_certificate_algs, get_public_key_algs

    if kind == "kex":
        algs: list[bytes] = get_kex_algs()
    elif kind == "cipher":
        algs = get_encryption_algs()
    elif kind == "mac":
        algs = get_mac_algs()
    else:
        algs = get_public_key_algs() + get_certificate_algs()
    return frozenset(a.decode() for a in algs)


def _algorithms(kind: str) -> Check:
    def check(v: Any) -> tuple[str, ...]:
        names = _str_list(v)
        if not names:
            raise ValueError("must list at least one algorithm")
        if len(names) > MAX_ALGORITHMS:
            raise ValueError(f"{len(names)} names: old Dropbear reads only the first {MAX_ALGORITHMS}")
        unknown = [n for n in names if n not in _supported(kind)]
        if unknown:
            raise ValueError(f"unsupported {kind} algorithm {unknown[0]!r}")
        return names

    return check


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


def _jump(v: Any) -> str:
    """Jump hosts as in OpenSSH's ProxyJump: ``[user@]host[:port]``, several hops comma-separated
    (``a,b``: a is reached first, b through a, the device through b)."""
    spec = _str(v)
    for hop in spec.split(","):
        try:
            split_hop(hop)
        except ValueError as exc:
            if "," not in spec:
                raise
            head, _, why = str(exc).partition(": ")
            raise ValueError(f"{head} in chain {spec!r}: {why}") from None
    return spec


def _ssh_config(v: Any) -> str | bool:
    """A path to an OpenSSH client config, or false to ignore ~/.ssh/config."""
    if v is False:
        return False
    if isinstance(v, str) and v:
        return v
    raise ValueError(f"must be a path or false, not {v!r}")


# Keys settable at every level (defaults, group, device), with their checks.
SETTINGS: dict[str, Check] = {
    "user": _str,
    "port": _port,
    "identity_file": _str_list,
    "password_env": _env_name,
    "password_file": _str,
    "passphrase_env": _env_name,
    "known_hosts": _str,
    "host_key_checking": _host_key_checking,
    "timeout": _timeout,
    "legacy_algorithms": _bool,
    "kex_algorithms": _algorithms("kex"),
    "ciphers": _algorithms("cipher"),
    "macs": _algorithms("mac"),
    "host_key_algorithms": _algorithms("host key"),
    "proxy_jump": _jump,
    "transport": _choice(TRANSPORTS),
    "ssh_config": _ssh_config,
}
# A level that sets one of these drops the other inherited from an earlier level.
_EXCLUSIVE = {"password_env": "password_file", "password_file": "password_env"}
DEVICE_ONLY: dict[str, Check] = {"host": _str, "groups": _str_list, "tags": _str_list}


# --- YAML nodes with line numbers ----------------------------------------------------------------

_DECIMAL_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")


@dataclass(frozen=True)
class Misread:
    """A number YAML 1.1 reads otherwise than it looks: ``022`` is 18 (octal); ``0x16``,
    ``0b10110`` and ``2_2`` are 22; ``1:30`` is 90 (base 60). Any setting written so is refused
    (:func:`refuse_misread`); variables fleet ignores (an Ansible playbook's ``mode: 0644``) may
    hold one."""

    text: str
    value: float

    def __repr__(self) -> str:
        return repr(self.text)


def refuse_misread(v: Any) -> Any:
    """``v``, unless it is a :class:`Misread` number."""
    if isinstance(v, Misread):
        raise ValueError(f"bad number {v.text!r}: YAML reads it as {v.value}; write plain decimal digits")
    return v


class _Loader:
    """Walks PyYAML nodes so every error can name its line, and duplicate keys are caught."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, key: str, message: str) -> InventoryError:
        line = node.start_mark.line + 1 if node is not None else None
        return InventoryError(self.path, line, key, message)

    def mapping(self, node: yaml.Node, key: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A YAML mapping as name -> (key node, value node); rejects duplicates and non-string keys."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, "must be a mapping")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or not knode.value:
                raise self.fail(knode, key, "keys must be plain names")
            name = str(knode.value)
            if name in out:
                raise self.fail(knode, f"{key}.{name}" if key else name, "duplicate key")
            out[name] = (knode, vnode)
        return out

    def value(self, node: yaml.Node) -> Any:
        v = yaml.constructor.SafeConstructor().construct_object(node, deep=True)
        if isinstance(v, int | float) and not isinstance(v, bool) and isinstance(node, yaml.ScalarNode):
            text = str(node.value)
            if isinstance(v, int) and not _DECIMAL_INT.fullmatch(text):
                return Misread(text, v)
            if isinstance(v, float) and math.isfinite(v) and (":" in text or "_" in text):
                return Misread(text, v)
        return v

    def settings(self, node: yaml.Node, key: str, allowed: Mapping[str, Check]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, (knode, vnode) in self.mapping(node, key).items():
            path = f"{key}.{name}"
            check = allowed.get(name)
            if check is None:
                raise self.fail(knode, path, "unknown key")
            try:
                out[name] = check(refuse_misread(self.value(vnode)))
            except (ValueError, yaml.YAMLError) as exc:
                raise self.fail(vnode, path, str(exc)) from None
            if _EXCLUSIVE.get(name) in out:
                raise self.fail(knode, path, f"{_EXCLUSIVE[name]} is set too: choose one")
        return out


def _resolve_path(value: str, base: Path) -> str:
    """``~`` expands to home; a relative path is relative to the inventory file, not the cwd."""
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p))


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate inventory text; ``path`` names it in errors and anchors relative paths."""
    try:
        root = yaml.compose(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InventoryError(path, line, "", f"invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise InventoryError(path, None, "", "empty inventory: no devices")
    ld = _Loader(path)
    top = ld.mapping(root, "")
    for name, (knode, _) in top.items():
        if name not in ("defaults", "groups", "devices"):
            raise ld.fail(knode, name, "unknown key (expected defaults, groups, devices)")
    defaults = ld.settings(top["defaults"][1], "defaults", SETTINGS) if "defaults" in top else {}
    groups: dict[str, dict[str, Any]] = {}
    if "groups" in top:
        for gname, (_, gnode) in ld.mapping(top["groups"][1], "groups").items():
            groups[gname] = ld.settings(gnode, f"groups.{gname}", SETTINGS)
    if "devices" not in top:
        raise ld.fail(root, "devices", "missing: the inventory lists no devices")
    device_nodes = ld.mapping(top["devices"][1], "devices")
    if not device_nodes:
        raise ld.fail(top["devices"][1], "devices", "empty: the inventory lists no devices")

    base = path.parent
    devices: list[Device] = []
    sources: dict[str, dict[str, str]] = {}
    for dname, (knode, dnode) in device_nodes.items():
        key = f"devices.{dname}"
        if not safe_device_name(dname):
            raise ld.fail(knode, key, "device names may not contain '/', control characters or be '.'/'..'")
        own = ld.settings(dnode, key, {**SETTINGS, **DEVICE_ONLY})
        if "host" not in own:
            raise ld.fail(knode, key + ".host", "missing: every device needs a host")
        merged: dict[str, Any] = {}
        origins: dict[str, str] = {}
        merge_level(merged, origins, defaults, "defaults")
        for g in own.get("groups", ()):
            if g not in groups:
                gnode = ld.mapping(dnode, key)["groups"][1]
                raise ld.fail(gnode, key + ".groups", f"unknown group {g!r}")
            merge_level(merged, origins, groups[g], f"group:{g}")
        merge_level(merged, origins, own, "device")
        try:
            device, sources[dname] = resolve_device(dname, merged, base, origins)
        except SettingsConflict as exc:
            raise ld.fail(knode, f"{key}.{exc.key}", exc.message) from None
        devices.append(device)
    return Inventory(path=path, devices=tuple(devices), sources=sources)


def merge_level(
    merged: dict[str, Any], origins: dict[str, str], level: Mapping[str, Any], origin: str
) -> None:
    """Settings of one level over the earlier ones, remembering where each value came from."""
    for k, v in level.items():
        other = _EXCLUSIVE.get(k)
        if other is not None:
            merged.pop(other, None)
            origins.pop(other, None)
        merged[k] = v
        origins[k] = origin


class SettingsConflict(ValueError):
    """Two merged settings that cannot go together; ``key`` names the one to change."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key, self.message = key, message


def make_device(name: str, merged: Mapping[str, Any], base: Path) -> Device:
    """Validated, merged settings -> a Device (see :func:`resolve_device`)."""
    return resolve_device(name, merged, base, {})[0]


def resolve_device(
    name: str, merged: Mapping[str, Any], base: Path, origins: Mapping[str, str]
) -> tuple[Device, dict[str, str]]:
    """Validated, merged settings -> a Device and where each setting came from; shared by the
    native and the Ansible loaders. ``merged`` holds only what the inventory set: the OpenSSH
    client config fills the rest of host/user/port/identity_file/proxy_jump, then Device defaults."""
    settings = dict(merged)
    sources = dict(origins)
    config = settings.pop("ssh_config", None)
    config_path = None if config is False else ssh_config.default_path() if config is None else None
    if isinstance(config, str):
        config_path = Path(_resolve_path(config, base))
    sources["ssh_config_file"] = str(config_path) if config_path is not None else "none"
    if config_path is not None:
        try:
            _apply_ssh_config(settings, sources, config_path)
        except ssh_config.SshConfigError as exc:
            if not exc.line:  # unreadable: the inventory's ssh_config key is at fault
                raise SettingsConflict("ssh_config", f"{exc.path}: {exc.message}") from None
            raise InventoryError(exc.path, exc.line, exc.key, exc.message) from None
    identity = settings.pop("identity_file", ())
    known_hosts = settings.pop("known_hosts", None)
    password_file = settings.pop("password_file", None)
    if "password_env" in settings and password_file:
        raise SettingsConflict("password_file", "password_env is set too: choose one")
    device = Device(
        name=name,
        identity_files=tuple(_resolve_path(p, base) for p in identity),
        known_hosts=_resolve_path(known_hosts, base) if known_hosts else None,
        password_file=_resolve_path(password_file, base) if password_file else None,
        **settings,
    )
    if device.transport == "paramiko":
        # paramiko 5 has dropped group1/group14-sha1, ssh-rsa SHA-1 and DSA: it cannot honour these
        for key in ("legacy_algorithms", "kex_algorithms", "ciphers", "macs", "host_key_algorithms"):
            if getattr(device, key):
                raise SettingsConflict(
                    key, "not available with transport: paramiko (it dropped legacy algorithms): use asyncssh"
                )
    return device, sources


def _apply_ssh_config(settings: dict[str, Any], sources: dict[str, str], path: Path) -> None:
    """Fill host (HostName), user, port, identity_file and proxy_jump from the OpenSSH config where
    the inventory is silent; the inventory always wins. Jump hosts named by alias are resolved too."""
    alias = settings["host"]
    found = ssh_config.resolve(path, alias)

    def bad(keyword: str, message: str) -> ssh_config.SshConfigError:
        where = found.values[keyword][1]
        file, _, line = where.rpartition(":")
        return ssh_config.SshConfigError(file, int(line), keyword, message)

    def take(keyword: str, key: str, check: Check) -> None:
        if keyword in found.values and key not in settings:
            value, where = found.values[keyword]
            try:
                settings[key] = check(value)
            except ValueError as exc:
                raise bad(keyword, str(exc)) from None
            sources[key] = f"ssh_config:{where}"

    take("user", "user", _str)
    take("port", "port", lambda v: _port(int(v)) if v.isdigit() else _port(v))
    if "hostname" in found.values:
        value, where = found.values["hostname"]
        settings["host"] = ssh_config.expand(value, host=alias, original=alias, user="", port=22)
        sources["host"] = f"ssh_config:{where}"
    if found.identity_files and "identity_file" not in settings:
        user, port, host = settings.get("user", "root"), settings.get("port", 22), settings["host"]
        settings["identity_file"] = [
            ssh_config.expand(v, host=host, original=alias, user=user, port=port)
            for v, _ in found.identity_files
        ]
        sources["identity_file"] = "ssh_config:" + ", ".join(w for _, w in found.identity_files)
    if "proxy_jump" not in settings and "proxyjump" in found.values:
        if found.values["proxyjump"][0].lower() == "none":
            return
        take("proxyjump", "proxy_jump", _jump)
    if "proxy_jump" in settings:
        hops = [_resolve_hop(hop, path) for hop in settings["proxy_jump"].split(",")]
        if ",".join(hops) != settings["proxy_jump"]:
            settings["proxy_jump"] = ",".join(hops)
            if not sources.get("proxy_jump", "").startswith("ssh_config"):
                sources["proxy_jump"] = sources.get("proxy_jump", "device") + " (hosts via ssh_config)"


def _resolve_hop(hop: str, path: Path) -> str:
    """A jump host alias -> ``user@host:port`` from its own Host block (HostName, User, Port)."""
    user, host, port = split_hop(hop)
    found = ssh_config.resolve(path, host).values
    if not {"hostname", "user", "port"} & set(found):
        return hop
    real = (
        ssh_config.expand(found["hostname"][0], host=host, original=host, user="", port=22)
        if "hostname" in found
        else host
    )
    user = user or found.get("user", ("", ""))[0]
    if port is None and "port" in found:
        value, where = found["port"]
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            file, _, line = where.rpartition(":")
            raise ssh_config.SshConfigError(
                file, int(line), "port", f"bad port {value!r}: must be an integer 1-65535"
            )
        port = int(value)
    spec = f"[{real}]" if ":" in real else real
    spec = f"{user}@{spec}" if user else spec
    return f"{spec}:{port}" if port is not None else spec


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
