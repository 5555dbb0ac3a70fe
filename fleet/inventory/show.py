"""``fleet inventory show``: the devices an inventory resolves to, and where each setting came from.

So users can check what will be contacted, with which login and keys, before a collection: merged
defaults/groups/device settings, Ansible variables and ~/.ssh/config all end up here as fleet sees
them. Secrets are named (variable, file path), never read.
"""

from __future__ import annotations

from typing import Any

from fleet.inventory.model import Device, Inventory
from fleet.text import visible

BUILT_IN = "default"

# (inventory key, Device field); the order of the text output.
FIELDS = (
    ("host", "host"),
    ("port", "port"),
    ("user", "user"),
    ("transport", "transport"),
    ("identity_file", "identity_files"),
    ("password_env", "password_env"),
    ("password_file", "password_file"),
    ("passphrase_env", "passphrase_env"),
    ("host_key_checking", "host_key_checking"),
    ("known_hosts", "known_hosts"),
    ("proxy_jump", "proxy_jump"),
    ("timeout", "timeout"),
    ("legacy_algorithms", "legacy_algorithms"),
    ("kex_algorithms", "kex_algorithms"),
    ("ciphers", "ciphers"),
    ("macs", "macs"),
    ("host_key_algorithms", "host_key_algorithms"),
    ("firmware_files", "firmware_files"),
    ("groups", "groups"),
    ("tags", "tags"),
)


def device_json(device: Device, sources: dict[str, str]) -> dict[str, Any]:
    """One device as JSON: every setting by its inventory key, plus ``sources`` for each key."""
    out: dict[str, Any] = {"name": device.name}
    for key, attr in FIELDS:
        value = getattr(device, attr)
        out[key] = list(value) if isinstance(value, tuple) else value
    out["sources"] = {key: sources.get(key, BUILT_IN) for key, _ in FIELDS if key not in ("groups", "tags")}
    out["ssh_config"] = sources.get("ssh_config_file", "none")
    out["sources"]["ssh_config"] = sources.get("ssh_config", BUILT_IN)
    return out


def inventory_json(inv: Inventory, devices: tuple[Device, ...] | None = None) -> dict[str, Any]:
    chosen = inv.devices if devices is None else devices
    return {
        "inventory": str(inv.path),
        "devices": [device_json(d, dict(inv.sources.get(d.name, {}))) for d in chosen],
    }


def _text(key: str, value: Any) -> str:
    if value is None or value == ():
        if key == "known_hosts":
            return "~/.ssh/known_hosts"
        if key == "identity_file":
            return "(ssh-agent and ~/.ssh keys)"
        if key == "proxy_jump":
            return "(direct)"
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(visible(str(v)) for v in value)
    return visible(str(value))


def _algorithms(device: Device) -> str:
    """What the transport will offer when no explicit list is set (the JSON has the lists)."""
    if device.legacy_algorithms:
        return "(legacy profile)"
    return f"({device.transport} defaults)"


def render_text(inv: Inventory, devices: tuple[Device, ...] | None = None) -> str:
    """Each device as a block of ``key  value  [source]`` lines."""
    chosen = inv.devices if devices is None else devices
    lines = [f"{visible(str(inv.path))}: {len(chosen)} device{'s' if len(chosen) != 1 else ''}"]
    for d in chosen:
        sources = inv.sources.get(d.name, {})
        lines.append("")
        lines.append(f"{visible(d.name)}  {visible(d.user)}@{visible(d.host)}:{d.port}")
        for key, attr in FIELDS:
            value = getattr(d, attr)
            if key in ("password_env", "password_file", "passphrase_env") and not value:
                continue
            if key in ("kex_algorithms", "ciphers", "macs", "host_key_algorithms") and not value:
                shown = _algorithms(d)
            else:
                shown = _text(key, value)
            source = "" if key in ("groups", "tags") else f"  [{visible(sources.get(key, BUILT_IN))}]"
            lines.append(f"  {key:<20}{shown}{source}")
        used = visible(sources.get("ssh_config_file", "none"))
        lines.append(f"  {'ssh_config':<20}{used}  [{visible(sources.get('ssh_config', BUILT_IN))}]")
    return "\n".join(lines)
