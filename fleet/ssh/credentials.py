"""Passwords and passphrases: read at connect time from the environment or an owner-only file,
never stored; errors name the variable or file, never a value."""

from __future__ import annotations

import os
import stat

from fleet.inventory.model import Device
from fleet.ssh.outcomes import AuthFailed, reason


def secret_from_env(env: str, key: str) -> str:
    """A password or passphrase from the environment; the error names the variable, never a value."""
    value = os.environ.get(env)
    if value is None:
        raise AuthFailed(f"{key} {env} is not set in the environment")
    return value


def device_passphrase(device: Device) -> str | None:
    """The passphrase of the device's identity files, from passphrase_env (None: none set)."""
    return secret_from_env(device.passphrase_env, "passphrase_env") if device.passphrase_env else None


def device_password(device: Device) -> str | None:
    """The device's password, from password_env or password_file (None: no password login)."""
    if device.password_env:
        return secret_from_env(device.password_env, "password_env")
    if device.password_file:
        return read_password_file(device.password_file)
    return None


MAX_PASSWORD_FILE = 4096


def read_password_file(path: str) -> str:
    """The first line of a file only its owner can read (like ssh refuses a loose private key):
    a password readable by others is already leaked, so it is refused, never used."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY)
    except OSError as exc:
        raise AuthFailed(f"password_file {path} cannot be read: {reason(exc)}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise AuthFailed(f"password_file {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise AuthFailed(
                f"password_file {path} is owned by uid {st.st_uid}, not by the user running fleet"
                f" (uid {os.geteuid()}): refused"
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise AuthFailed(
                f"password_file {path} has mode {mode:04o}, readable or writable by group or others:"
                " refused (chmod 600 it)"
            )
        data = os.read(fd, MAX_PASSWORD_FILE + 1)
    except OSError as exc:
        raise AuthFailed(f"password_file {path} cannot be read: {reason(exc)}") from exc
    finally:
        os.close(fd)
    if len(data) > MAX_PASSWORD_FILE:
        raise AuthFailed(f"password_file {path} is larger than {MAX_PASSWORD_FILE} bytes: not a password")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthFailed(f"password_file {path} is not UTF-8 text") from None
    password = text.split("\n", 1)[0].removesuffix("\r")
    if not password:
        raise AuthFailed(f"password_file {path}: its first line is empty")
    return password
