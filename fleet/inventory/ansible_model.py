"""Ansible's inventory model: groups, hosts and their variables, merged by Ansible's precedence.

Every reader (INI, YAML, the JSON of ``ansible-inventory --list``, group_vars/ and host_vars/
files) fills one :class:`Model`; :meth:`Model.resolve` then merges each host's variables by name
as Ansible does (lowest first): the inventory's ``all`` vars, its other groups by depth (parents
before children; same depth by ``ansible_group_priority``, then name), ``group_vars/all``,
``group_vars/<group>`` in the same group order, the inventory's host vars, ``host_vars/<host>``.
Only then are the winning variables turned into fleet settings, so a host that sets
``ansible_ssh_common_args`` replaces its group's whole option string, as in Ansible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.inventory.ansible_vars import ALIASES, HOST_KEY_CHECKING, SECRETS, SKIP, SSH_ARGS, convert
from fleet.inventory.model import Inventory, InventoryError, safe_device_name
from fleet.inventory.settings import SettingsConflict, merge_level, resolve_device


@dataclass(frozen=True)
class Var:
    """One variable as written somewhere: its fleet settings (or why it has none) and its place."""

    settings: Mapping[str, Any]
    error: str | None
    path: Path
    line: int | None
    key: str  # key path for errors: "cams:vars.ansible_port", "all.hosts.h.ansible_user", "ansible_user"
    origin: str  # for `inventory show`: "group:cams", "host", "group_vars:FILE:LINE", "host_vars:FILE:LINE"

    def fail(self, message: str | None = None) -> InventoryError:
        return InventoryError(self.path, self.line, self.key, message or self.error or "")


def make_var(var: str, value: Any, ini: bool, path: Path, line: int | None, key: str, origin: str) -> Var:
    """Convert now (once per place, not per host); an error waits until the variable is used."""
    try:
        return Var(convert(var, value, ini), None, path, line, key, origin)
    except ValueError as exc:
        return Var({}, str(exc), path, line, key, origin)


Vars = dict[str, Var]


@dataclass
class Group:
    name: str
    path: Path
    line: int | None = None
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: Vars = field(default_factory=dict)
    priority: int = 1


@dataclass
class Host:
    path: Path
    line: int | None
    vars: Vars = field(default_factory=dict)


class Model:
    """Groups and hosts as read from any number of inventory files (an inventory directory)."""

    def __init__(self, path: Path, base: Path) -> None:
        self.path = path  # the inventory as given: a file or a directory
        self.base = base  # relative paths in it are relative to this directory
        self.groups: dict[str, Group] = {}
        self.hosts: dict[str, Host] = {}
        self.group("all", path, None)
        self.group("ungrouped", path, None)
        self.group_files: dict[str, Vars] = {}  # group_vars/NAME..., merged in load order
        self.host_files: dict[str, Vars] = {}

    def group(self, name: str, path: Path, line: int | None) -> Group:
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = Group(name, path, line)
        elif g.line is None and line is not None:
            g.path, g.line = path, line
        return g

    def add_child(self, parent: str, child: str, path: Path, line: int | None) -> None:
        self.group(child, path, None)
        g = self.group(parent, path, line)
        if child not in g.children:
            g.children.append(child)

    def add_host(self, group: str, name: str, path: Path, line: int | None, port: int | None = None) -> Host:
        """``port`` from ``name:port``: as in Ansible, an ``ansible_port`` where the host first appears."""
        if not safe_device_name(name):
            raise InventoryError(
                path, line, name, "host names may not contain '/', control characters or be '.'/'..'"
            )
        g = self.group(group, path, line)
        if name not in g.hosts:
            g.hosts.append(name)
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(path, line)
            if port is not None:
                host.vars["ansible_port"] = make_var(
                    "ansible_port", port, False, path, line, f"{name}:{port}", "host"
                )
        return host

    def set_group_var(self, group: Group, var: Var, name: str, value: Any) -> None:
        """A group variable from an inventory file; ``ansible_group_priority`` orders same-depth groups."""
        if name == "ansible_group_priority":
            try:
                group.priority = int(value)
            except (TypeError, ValueError):
                raise var.fail(f"must be an integer, not {value!r}") from None
            return
        group.vars[name] = var

    # --- resolving -----------------------------------------------------------------------------

    def _depths(self) -> dict[str, int]:
        depth: dict[str, int] = {"all": 0}
        parents: dict[str, list[str]] = {}
        for g in self.groups.values():
            for c in g.children:
                parents.setdefault(c, []).append(g.name)

        def walk(name: str, seen: tuple[str, ...]) -> int:
            if name in seen:
                g = self.groups[name]
                raise InventoryError(
                    g.path, g.line, f"{name}.children", "groups contain each other (a cycle)"
                )
            if name not in depth:
                ps = [p for p in parents.get(name, []) if p != "all"]
                depth[name] = 1 + max((walk(p, (*seen, name)) for p in ps), default=0)
            return depth[name]

        for name in self.groups:
            walk(name, ())
        return depth

    def _members(self, name: str, memo: dict[str, frozenset[str]]) -> frozenset[str]:
        if name not in memo:
            memo[name] = frozenset()  # cycles are refused by _depths first
            g = self.groups[name]
            out = set(g.hosts)
            for c in g.children:
                out |= self._members(c, memo)
            memo[name] = frozenset(out)
        return memo[name]

    def resolve(self) -> Inventory:
        for g in self.groups.values():
            for c in g.children:
                if c not in self.groups:
                    raise InventoryError(g.path, g.line, f"{g.name}.children", f"unknown group {c!r}")
        depth = self._depths()
        order = sorted(
            (n for n in self.groups if n != "all"), key=lambda n: (depth[n], self.groups[n].priority, n)
        )
        memo: dict[str, frozenset[str]] = {}
        members = {name: self._members(name, memo) for name in order}
        devices = []
        sources: dict[str, dict[str, str]] = {}
        for name, host in self.hosts.items():
            # as Ansible: a host is in "ungrouped" exactly when it is in no other group
            groups = [g for g in order if name in members[g] and g != "ungrouped"] or ["ungrouped"]
            layers = [self.groups["all"].vars]
            layers += [self.groups[g].vars for g in groups]
            layers += [self.group_files.get(g, {}) for g in ("all", *groups)]
            layers += [host.vars, self.host_files.get(name, {})]
            merged: dict[str, tuple[int, Var]] = {}
            for rank, layer in enumerate(layers):
                for var, value in layer.items():
                    merged[var] = (rank, value)
            settings, origins = _settings(merged)
            if settings.pop(SKIP, False):
                continue
            settings.setdefault("host", name)
            origins.setdefault("host", "host")
            settings["groups"] = tuple(g for g in groups if g != "ungrouped")
            try:
                device, sources[name] = resolve_device(name, settings, self.base, origins)
            except SettingsConflict as exc:
                raise InventoryError(host.path, host.line, f"{name}.{exc.key}", exc.message) from None
            except TypeError as exc:  # a setting at a level Device does not take
                raise InventoryError(host.path, host.line, name, str(exc)) from None
            devices.append(device)
        if not devices:
            raise InventoryError(self.path, None, "", "empty inventory: no hosts")
        return Inventory(path=self.path, devices=tuple(devices), sources=sources)


# fleet variables that say where a secret is; Ansible's own secret variable is then not read
_SECRET_SETTINGS = {
    "password_env": {"fleet_password_env", "fleet_password_file"},
    "passphrase_env": {"fleet_passphrase_env"},
}


def _settings(merged: Mapping[str, tuple[int, Var]]) -> tuple[dict[str, Any], dict[str, str]]:
    """A host's winning variables -> fleet settings and where each came from.

    OpenSSH options first (the first value obtained wins, across ``ansible_ssh_args``, ``_common_args``
    and ``_extra_args`` in that order), then the other ``ansible_`` variables by precedence, then the
    ``fleet_`` ones, which win over the ``ansible_`` variables they overlap."""
    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for args in SSH_ARGS:
        if args in merged:
            found = _used(merged[args][1])
            for key, value in found.settings.items():
                if key not in settings:
                    settings[key], origins[key] = value, found.origin
    losers = {name for names in ALIASES for name in _shadowed(names, merged)}
    order = sorted(
        (name.startswith("fleet_"), rank, name)
        for name, (rank, _) in merged.items()
        if name not in SSH_ARGS and name not in losers
    )
    for _, _, name in order:
        if name in SECRETS and _SECRET_SETTINGS[SECRETS[name]] & merged.keys():
            continue  # fleet_password_env / _file says where the secret is: Ansible's is not read
        found = _used(merged[name][1])
        strict = found.settings.get("host_key_checking") == "strict"
        if name in HOST_KEY_CHECKING and strict and "host_key_checking" in settings:
            continue  # true adds no option: StrictHostKeyChecking in the ssh options stands
        merge_level(settings, origins, found.settings, found.origin)
    return settings, origins


def _shadowed(names: Iterable[str], merged: Mapping[str, Any]) -> list[str]:
    """Of aliases read by Ansible in ``names``' order (the last one set wins), all but the winner."""
    present = [n for n in names if n in merged]
    return present[:-1]


def _used(var: Var) -> Var:
    """The variable, whose value is now in use: its error, if any, stops the load here."""
    if var.error is not None:
        raise var.fail()
    return var
