"""The settings a device can have: one checking function per key (a table), and how defaults,
groups, the device and ~/.ssh/config merge into one Device."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fleet.inventory import ssh_config
from fleet.inventory.model import (
    HOST_KEY_MODES,
    MAX_ALGORITHMS,
    MAX_FIRMWARE_FILES,
    TRANSPORTS,
    Device,
    InventoryError,
    check_firmware_path,
    split_hop,
)

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


def _firmware_files(v: Any) -> tuple[str, ...]:
    """Absolute paths, tried in order on the device; an empty list reads no firmware identity."""
    if v == []:
        return ()
    paths = _str_list(v)
    if len(paths) > MAX_FIRMWARE_FILES:
        raise ValueError(f"{len(paths)} paths: at most {MAX_FIRMWARE_FILES}")
    return tuple(check_firmware_path(p) for p in paths)


def _env_name(v: Any) -> str:
    name = _str(v)
    if not name.replace("_", "").isalnum():
        raise ValueError(f"{name!r} is not an environment variable name")
    return name


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
    "firmware_files": _firmware_files,
}


# A level that sets one of these drops the other inherited from an earlier level.
_EXCLUSIVE = {"password_env": "password_file", "password_file": "password_env"}


DEVICE_ONLY: dict[str, Check] = {"host": _str, "groups": _str_list, "tags": _str_list}


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


def _resolve_path(value: str, base: Path) -> str:
    """``~`` expands to home; a relative path is relative to the inventory file, not the cwd."""
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p))
