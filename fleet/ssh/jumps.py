"""Jump hosts: a device's ``proxy_jump`` chain, the record each hop is logged into with, and which
devices may share one connection to a hop."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fleet.inventory.model import Device, split_hop


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


def shared_jump_key(device: Device, hops: Sequence[str], i: int) -> tuple[object, ...]:
    """What a connection to hop ``i`` of ``hops`` (the device's :func:`jump_chain`) is shared by:
    the route to it, its address and login, and every setting it is opened with. Devices whose
    keys are equal share one connection to that jump host."""
    jump = jump_host(device, hops[i])
    return (
        tuple((j.user, j.host, j.port) for j in (jump_host(device, h) for h in hops[:i])),  # the route
        jump.host,
        jump.port,
        jump.user,
        device.identity_files,
        device.passphrase_env,
        device.known_hosts,
        device.host_key_checking,
        device.legacy_algorithms,
        device.kex_algorithms,
        device.ciphers,
        device.macs,
        device.host_key_algorithms,
    )
