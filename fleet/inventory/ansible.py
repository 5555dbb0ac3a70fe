"""Ansible inventories (INI and YAML) read into the same frozen Device records as fleet's own.

Users already keep their device lists in Ansible; ``fleet collect hosts.ini`` reads them as they are,
without the ansible package. Only the connection variables are read (``ansible_host``,
``ansible_port``, ``ansible_user``, ``ansible_ssh_private_key_file``, ``ansible_connection``, the
ProxyJump / StrictHostKeyChecking / UserKnownHostsFile options and ``-F`` in ``ansible_ssh_common_args``)
plus ``fleet_<setting>`` variables for fleet's own settings (``fleet_legacy_algorithms: true``,
``fleet_password_env``, ``fleet_tags`` ...). Every other variable belongs to playbooks and is
ignored; an unknown ``fleet_`` variable is an error, like an unknown key in a fleet inventory.

Secrets are never read from an inventory: ``ansible_password: "{{ lookup('env', 'CAM_PW') }}"``
becomes ``password_env: CAM_PW``; a literal password is an error (that never repeats its value).
Variables merge as in Ansible: ``all``, then groups by depth (parents before children, same depth by
name), then the host's own. Errors name file, line and key: ``hosts.ini:7: cam-1.ansible_port: ...``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fleet.inventory.model import Inventory, InventoryError, safe_device_name
from fleet.inventory.native import YAML_LOADER, _Loader, compose_yaml, refuse_misread
from fleet.inventory.settings import DEVICE_ONLY, SETTINGS, SettingsConflict, merge_level, resolve_device

_SECTION = re.compile(r"^\[([^\]\s:]+)(?::(vars|children))?\]\s*(?:[#;].*)?$")
_YAML_TOP = re.compile(r"^([A-Za-z_][\w.-]*):\s*(?:#.*)?$", re.MULTILINE)  # "devices:", "all:"
_ENV_LOOKUP = re.compile(
    r"""^\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}$"""
)
_RANGE = re.compile(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::([0-9]+))?\]")

# Ansible connection variable -> fleet setting.
_DIRECT = {
    "ansible_host": "host",
    "ansible_ssh_host": "host",
    "ansible_port": "port",
    "ansible_ssh_port": "port",
    "ansible_user": "user",
    "ansible_ssh_user": "user",
    "ansible_ssh_private_key_file": "identity_file",
    "ansible_private_key_file": "identity_file",
}
_SECRETS = {
    "ansible_password": "password_env",
    "ansible_ssh_pass": "password_env",
    "ansible_ssh_password": "password_env",
    "ansible_ssh_private_key_passphrase": "passphrase_env",
}
_SKIP = "_skip"  # internal setting: ansible_connection=local, not a device


def detect_format(text: str) -> str:
    """``fleet``, ``ansible-ini`` or ``ansible-yaml``, from the content (extensions lie)."""
    for line in text.splitlines():
        if _SECTION.match(line.strip()):
            return "ansible-ini"
    try:
        doc = yaml.load(text, Loader=YAML_LOADER)  # a safe loader
    except yaml.YAMLError:
        # broken YAML, or INI host lines that YAML cannot read; a bare "key:" line (INI has none)
        # says YAML, so its loader names the problem and its line
        top = _YAML_TOP.search(text)
        if top is None:
            return "ansible-ini"
        return "ansible-yaml" if top.group(1) == "all" else "fleet"
    if doc is None:
        return "fleet"  # the native loader explains what is missing
    if not isinstance(doc, dict):
        return "ansible-ini" if isinstance(doc, str) else "fleet"
    if "all" in doc or any(
        isinstance(v, dict) and {"hosts", "children", "vars"} & set(v) for v in doc.values()
    ):
        return "ansible-yaml"
    return "fleet"


def parse_ansible(text: str, path: Path, kind: str) -> Inventory:
    """An Ansible inventory (``kind`` from :func:`detect_format`) as an Inventory."""
    model = _Model(path)
    if kind == "ansible-ini":
        _read_ini(text, model)
    else:
        _read_yaml(text, model)
    return model.resolve()


@dataclass
class _Group:
    name: str
    line: int | None = None
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


class _Model:
    """Groups, hosts and their converted settings, as read from either syntax."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.groups: dict[str, _Group] = {"all": _Group("all"), "ungrouped": _Group("ungrouped")}
        self.hosts: dict[str, dict[str, Any]] = {}
        self.host_lines: dict[str, int | None] = {}

    def fail(self, line: int | None, key: str, message: str) -> InventoryError:
        return InventoryError(self.path, line, key, message)

    def group(self, name: str, line: int | None) -> _Group:
        g = self.groups.setdefault(name, _Group(name, line))
        if g.line is None:
            g.line = line
        return g

    def add_host(self, group: str, name: str, line: int | None) -> None:
        if not safe_device_name(name):
            raise self.fail(line, name, "host names may not contain '/', control characters or be '.'/'..'")
        g = self.group(group, line)
        if name not in g.hosts:
            g.hosts.append(name)
        self.hosts.setdefault(name, {})
        self.host_lines.setdefault(name, line)

    def set_var(
        self, target: dict[str, Any], key: str, var: str, value: Any, line: int | None, ini: bool
    ) -> None:
        """Convert one Ansible variable to a fleet setting (or ignore it), failing at its line."""
        try:
            converted = _convert(var, value, ini)
        except ValueError as exc:
            raise self.fail(line, f"{key}.{var}", str(exc)) from None
        target.update(converted)

    def _depths(self) -> dict[str, int]:
        depth: dict[str, int] = {"all": 0}
        parents: dict[str, list[str]] = {}
        for g in self.groups.values():
            for c in g.children:
                parents.setdefault(c, []).append(g.name)

        def walk(name: str, seen: tuple[str, ...]) -> int:
            if name in seen:
                g = self.groups[name]
                raise self.fail(g.line, f"{name}.children", "groups contain each other (a cycle)")
            if name not in depth:
                ps = [p for p in parents.get(name, []) if p != "all"]
                depth[name] = 1 + max((walk(p, (*seen, name)) for p in ps), default=0)
            return depth[name]

        for name in self.groups:
            walk(name, ())
        return depth

    def _members(self, name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        g = self.groups[name]
        out = set(g.hosts)
        for c in g.children:
            if c not in seen:
                out |= self._members(c, seen | {name})
        return out

    def resolve(self) -> Inventory:
        for g in self.groups.values():
            for c in g.children:
                if c not in self.groups:
                    raise self.fail(g.line, f"{g.name}.children", f"unknown group {c!r}")
        depth = self._depths()
        order = sorted(self.groups, key=lambda n: (depth[n], n))
        members = {name: self._members(name) for name in order}
        devices = []
        sources: dict[str, dict[str, str]] = {}
        base = self.path.parent
        for host, own in self.hosts.items():
            groups = [g for g in order if host in members[g] or g == "all"]
            merged: dict[str, Any] = {}
            origins: dict[str, str] = {}
            for gname in groups:
                merge_level(merged, origins, self.groups[gname].settings, f"group:{gname}")
            merge_level(merged, origins, own, "host")
            if merged.pop(_SKIP, False):
                continue
            merged.setdefault("host", host)
            origins.setdefault("host", "host")
            merged["groups"] = tuple(g for g in groups if g not in ("all", "ungrouped"))
            try:
                device, sources[host] = resolve_device(host, merged, base, origins)
                devices.append(device)
            except SettingsConflict as exc:
                raise self.fail(self.host_lines[host], f"{host}.{exc.key}", exc.message) from None
            except TypeError as exc:  # a setting at a level Device does not take
                raise self.fail(self.host_lines[host], host, str(exc)) from None
        if not devices:
            raise self.fail(None, "", "empty inventory: no hosts")
        return Inventory(path=self.path, devices=tuple(devices), sources=sources)


# --- variables -----------------------------------------------------------------------------------


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
_BOOLS = _TRUE + _FALSE


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in _BOOLS:
        return v.lower() in _TRUE
    raise ValueError(f"must be true or false, not {v!r}")


# Settings whose INI value is a comma-separated list.
_LISTS = frozenset(
    ("identity_file", "kex_algorithms", "ciphers", "macs", "host_key_algorithms", "tags", "firmware_files")
)


def _ini_value(setting: str, v: Any) -> Any:
    """INI values are text: give a setting the type its YAML spelling would have had."""
    if not isinstance(v, str):
        return v
    if setting == "port" and v.isdigit() and not v.startswith("0"):
        return int(v)
    if setting == "timeout":
        try:
            return float(v)
        except ValueError:
            return v
    if setting == "legacy_algorithms" or (setting == "host_key_checking" and v.lower() in _BOOLS):
        return _to_bool(v)
    if setting == "ssh_config" and v.lower() in ("false", "no", "off"):
        return False
    if setting in _LISTS:
        return [x.strip() for x in v.split(",") if x.strip()]
    return v


def _check(setting: str, value: Any, ini: bool) -> dict[str, Any]:
    check: Callable[[Any], Any] = {**SETTINGS, **DEVICE_ONLY}[setting]
    return {setting: check(_ini_value(setting, value) if ini else refuse_misread(value))}


def _no_template(v: Any) -> None:
    if isinstance(v, str) and "{{" in v:
        raise ValueError("Jinja templates are not evaluated by fleet: write the value itself")


def _convert(var: str, value: Any, ini: bool) -> dict[str, Any]:
    if var in _DIRECT:
        _no_template(value)
        return _check(_DIRECT[var], value, ini)
    if var in _SECRETS:
        m = _ENV_LOOKUP.match(value.strip()) if isinstance(value, str) else None
        if m is None:
            raise ValueError(
                "a secret written in the inventory is not used (fleet never reads or stores secrets"
                " from files): write \"{{ lookup('env', 'VAR') }}\" or set fleet_" + _SECRETS[var] + ": VAR"
            )
        return {_SECRETS[var]: m.group(1)}
    if var == "ansible_connection":
        if value in ("ssh", "smart"):
            return {}
        if value == "paramiko":
            return {"transport": "paramiko"}
        if value == "local":
            return {_SKIP: True}
        raise ValueError(f"connection {value!r} is not SSH: fleet reaches devices over SSH only")
    if var in ("ansible_host_key_checking", "ansible_ssh_host_key_checking"):
        return {"host_key_checking": "strict" if _to_bool(refuse_misread(value)) else "off"}
    if var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        _no_template(value)
        return _ssh_args(value)
    if var.startswith("fleet_"):
        setting = var[len("fleet_") :]
        if setting not in SETTINGS and setting != "tags":
            raise ValueError("unknown fleet setting")
        return _check(setting, value, ini)
    return {}  # playbook variables and other connection options: not fleet's business


def _ssh_args(value: Any) -> dict[str, Any]:
    """The OpenSSH options fleet honours from ``ansible_ssh_common_args``; the rest are ignored."""
    if not isinstance(value, str):
        raise ValueError("must be a string of ssh options")
    try:
        words = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot split ssh options: {exc}") from None
    opts: list[tuple[str, str]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("-J", "-o", "-F") and i + 1 < len(words):
            nxt = words[i + 1]
            if w == "-o":
                opts.append(tuple(re.split(r"[= ]", nxt, maxsplit=1)))  # type: ignore[arg-type]
            else:
                opts.append(("ProxyJump" if w == "-J" else "ConfigFile", nxt))
            i += 2
            continue
        if w.startswith("-o") and len(w) > 2:
            opts.append(tuple(re.split(r"[= ]", w[2:], maxsplit=1)))  # type: ignore[arg-type]
        elif w.startswith("-J") and len(w) > 2:
            opts.append(("ProxyJump", w[2:]))
        i += 1
    out: dict[str, Any] = {}
    for opt in opts:
        if len(opt) != 2:
            continue
        name, val = opt[0].lower(), opt[1].strip()
        if name == "proxyjump":
            out.update(_check("proxy_jump", val, False))
        elif name == "stricthostkeychecking":
            mode = {"yes": "strict", "no": "off", "accept-new": "accept-new", "off": "off"}.get(val.lower())
            if mode is None:
                raise ValueError(f"StrictHostKeyChecking={val}: fleet knows yes, accept-new and no")
            out["host_key_checking"] = mode
        elif name == "userknownhostsfile":
            out["known_hosts"] = val.split()[0]
        elif name == "configfile":
            out["ssh_config"] = False if val.lower() == "none" else val
    return out


# --- INI -----------------------------------------------------------------------------------------


def _expand(pattern: str) -> list[str]:
    """Ansible host ranges: ``cam[01:20]``, ``node[a:f]``, ``x[0:10:2]``."""
    m = _RANGE.search(pattern)
    if m is None:
        return [pattern]
    lo, hi, step = m.group(1), m.group(2), int(m.group(3) or 1)
    head, tail = pattern[: m.start()], pattern[m.end() :]
    if lo.isdigit() and hi.isdigit():
        width = len(lo) if lo.startswith("0") and len(lo) > 1 else 0
        items = [str(i).zfill(width) for i in range(int(lo), int(hi) + 1, max(step, 1))]
    elif len(lo) == 1 and len(hi) == 1 and lo.isalpha() and hi.isalpha():
        items = [chr(c) for c in range(ord(lo), ord(hi) + 1, max(step, 1))]
    else:
        raise ValueError(f"bad host range [{m.group(0)[1:-1]}]")
    if not items:
        raise ValueError(f"empty host range {m.group(0)}")
    return [x for i in items for x in _expand(head + i + tail)]


def _read_ini(text: str, model: _Model) -> None:
    section, kind = "ungrouped", "hosts"
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = _SECTION.match(line)
        if m:
            section, kind = m.group(1), m.group(2) or "hosts"
            model.group(section, n)
            continue
        if line.startswith("["):
            raise model.fail(n, "", f"bad section header {line!r}")
        if kind == "children":
            child = line.split()[0]
            model.group(child, None)
            g = model.group(section, n)
            if child not in g.children:
                g.children.append(child)
            continue
        if kind == "vars":
            var, eq, value = line.partition("=")
            if not eq or not var.strip():
                raise model.fail(n, f"{section}:vars", "expected key=value")
            value = _unquote(value.strip())
            model.set_var(model.group(section, n).settings, f"{section}:vars", var.strip(), value, n, True)
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise model.fail(n, section, f"cannot split the host line: {exc}") from None
        try:
            names = _expand(words[0])
        except ValueError as exc:
            raise model.fail(n, f"{section}.{words[0]}", str(exc)) from None
        for name in names:
            model.add_host(section, name, n)
        for word in words[1:]:
            var, eq, value = word.partition("=")
            if not eq:
                raise model.fail(n, f"{section}.{words[0]}", f"expected key=value, not {word!r}")
            for name in names:
                model.set_var(model.hosts[name], name, var, value, n, True)


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        return v[1:-1]
    return v


# --- YAML ----------------------------------------------------------------------------------------


def _read_yaml(text: str, model: _Model) -> None:
    root = compose_yaml(text, model.path)
    if root is None:
        raise model.fail(None, "", "empty inventory: no hosts")
    ld = _Loader(model.path)
    for name, (knode, gnode) in ld.mapping(root, "").items():
        _yaml_group(ld, model, name, knode, gnode, name)


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _yaml_group(ld: _Loader, model: _Model, name: str, knode: yaml.Node, node: yaml.Node, key: str) -> None:
    g = model.group(name, _line(knode))
    for part, (pk, pv) in ld.mapping(node, key).items():
        path = f"{key}.{part}"
        if part == "hosts":
            for pattern, (hk, hv) in ld.mapping(pv, path).items():
                try:
                    names = _expand(pattern)
                except ValueError as exc:
                    raise ld.fail(hk, f"{path}.{pattern}", str(exc)) from None
                for host in names:
                    model.add_host(name, host, _line(hk))
                for var, (vk, vv) in ld.mapping(hv, f"{path}.{pattern}").items():
                    value = ld.value(vv)
                    for host in names:
                        model.set_var(model.hosts[host], f"{path}.{pattern}", var, value, _line(vk), False)
        elif part == "vars":
            for var, (vk, vv) in ld.mapping(pv, path).items():
                model.set_var(g.settings, path, var, ld.value(vv), _line(vk), False)
        elif part == "children":
            for child, (ck, cv) in ld.mapping(pv, path).items():
                if child not in g.children:
                    g.children.append(child)
                _yaml_group(ld, model, child, ck, cv, f"{path}.{child}")
        else:
            raise ld.fail(pk, path, "unknown key (an Ansible group has hosts, children and vars)")
