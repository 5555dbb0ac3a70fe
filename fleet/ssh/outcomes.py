"""The transport contract: outcome names, the errors that carry them, and what a session returns.

Library errors are translated by each transport, once, into :class:`DeviceError` subclasses whose
``status`` is one of the outcome names users see (``unreachable``, ``auth_failed``,
``host_key_mismatch``, ``capture_error``). Timeouts are the orchestrator's business: it wraps
connect + capture in one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from fleet.errors import FleetError
from fleet.inventory.model import Device

# Outcome names (interface.md).
OK = "ok"
UNREACHABLE = "unreachable"
AUTH_FAILED = "auth_failed"
HOST_KEY_MISMATCH = "host_key_mismatch"
TIMEOUT = "timeout"
CAPTURE_ERROR = "capture_error"
STATUSES = (OK, UNREACHABLE, AUTH_FAILED, HOST_KEY_MISMATCH, TIMEOUT, CAPTURE_ERROR)

# Flags recorded per device (store ``devices.flags_json``) so reports can point at weak settings.
FLAG_LEGACY = "legacy_algorithms"
FLAG_OVERRIDES = "algorithm_overrides"
FLAG_HOST_KEY_OFF = "host_key_checking_off"


class DeviceError(FleetError):
    """A device could not be sampled; ``status`` is the outcome name, the message the reason."""

    status = CAPTURE_ERROR


class Unreachable(DeviceError):
    """No SSH session could be set up (refused, no route, reset, handshake failure)."""

    status = UNREACHABLE


class AuthFailed(DeviceError):
    """The device refused every credential offered."""

    status = AUTH_FAILED


class HostKeyMismatch(DeviceError):
    """The host key is unknown (strict mode) or differs from the recorded one."""

    status = HOST_KEY_MISMATCH


class CaptureError(DeviceError):
    """The session worked but the capture did not (non-zero exit, cut stream, too much output)."""

    status = CAPTURE_ERROR


@dataclass(frozen=True)
class CommandResult:
    stdout: bytes
    stderr: bytes
    exit_status: int | None
    truncated: bool  # stdout hit the size cap and the command was stopped


STDERR_KEPT = 64 * 1024  # of a command's stderr; the rest is read and dropped


class Session(Protocol):
    async def run(self, command: str, stdin: bytes, limit: int) -> CommandResult: ...

    async def capture(self, script: bytes, end: bytes, limit: int, *, keep: bool) -> CommandResult: ...

    async def close(self) -> None: ...


class Transport(Protocol):
    async def connect(self, device: Device) -> Session: ...


def reason(exc: BaseException) -> str:
    """The text of a library or OS error, for a DeviceError's message."""
    text = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__


def device_flags(device: Device) -> tuple[str, ...]:
    """What a report should flag about how this device is reached (weak algorithms, no host keys)."""
    flags = []
    if device.legacy_algorithms:
        flags.append(FLAG_LEGACY)
    if device.kex_algorithms or device.ciphers or device.macs or device.host_key_algorithms:
        flags.append(FLAG_OVERRIDES)
    if device.host_key_checking == "off":
        flags.append(FLAG_HOST_KEY_OFF)
    return tuple(flags)
