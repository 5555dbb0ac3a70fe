"""fleet's own YAML inventory: defaults -> groups -> devices, read with line numbers.

Strict by design: an unknown key, a missing host, a bad port, an unknown group or a duplicate device
is an error naming the file, the line and the key path (``inv.yaml:14: devices.cam-7.prot: unknown
key``), so a typo never silently drops a device or its settings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet.inventory.model import Device, Inventory, InventoryError, safe_device_name
from fleet.inventory.settings import (
    _EXCLUSIVE,
    DEVICE_ONLY,
    SETTINGS,
    Check,
    SettingsConflict,
    merge_level,
    resolve_device,
)

# libyaml's loader when PyYAML was built with it: ~10x less CPU on a 2,000-device inventory,
# which every collect and sweep reads; same nodes, same line marks.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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

    constructor: type[yaml.constructor.SafeConstructor] = yaml.constructor.SafeConstructor

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
        v = self.constructor().construct_object(node, deep=True)
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


def compose_yaml(text: str, path: Path) -> yaml.Node | None:
    """The YAML node tree (line numbers kept) of an inventory, fleet's or Ansible's; broken YAML is
    an InventoryError naming its line and the problem in one line (without PyYAML's context)."""
    try:
        return yaml.compose(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or exc
        raise InventoryError(path, line, "", f"invalid YAML: {problem}") from None


def parse_inventory(text: str, path: Path) -> Inventory:
    """Validate inventory text; ``path`` names it in errors and anchors relative paths."""
    root = compose_yaml(text, path)
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
