"""Jump hosts: a device's ``proxy_jump`` chain and the record each hop is logged into with."""

from __future__ import annotations

from dataclasses import replace

from fleet.inventory.native import Device, split_hop


def jump_chain(device: Device) -> list[str]:
    """The hops of the device's ``proxy_jump`` (``a,b``: a directly, b through a, the device
    through b); empty for a direct connection."""
    return device.proxy_jump.split(",") if device.proxy_jump else []


def jump_host(device: Device, hop: str) -> Device:
    """The device record hop ``hop`` (one of :func:`jump_chain`) is logged into with: the device's
    keys, known_hosts and algorithms, never its password (a password is for the device alone)."""
    user, host, port = split_hop(hop)
    return replace(
        device,
        name=f"jump host {hop}",
        host=host,
        port=22 if port is None else port,
        user=user or device.user,
        proxy_jump=None,
        password_env=None,
        password_file=None,
    )
