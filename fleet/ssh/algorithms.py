"""Algorithm policy: the legacy profile, the host key algorithms offered, and the hint a failed
negotiation gives. What the installed library supports is each transport's business; the inventory
caps explicit lists at MAX_ALGORITHMS (fleet.inventory.native)."""

from __future__ import annotations

from fleet.inventory.model import Device

# The legacy profile (``legacy_algorithms: true``). Short lists on purpose: Dropbear before 2020.81
# reads only the first 20 names of each list and drops lists longer than ~1,300 bytes
# (docs/ssh-field-notes.md). Modern names first, legacy last, every legacy name well within reach.
# Tested against OpenSSH 9.2 servers restricted to group1-sha1/group14-sha1, ssh-rsa/ssh-dss,
# aes128-cbc/3des-cbc and hmac-sha1/hmac-md5, and against Dropbear 2022.83 (tests/ssh/).
LEGACY_KEX = (
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group1-sha1",
)
LEGACY_CIPHERS = (
    "aes128-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-cbc",
    "aes256-cbc",
    "3des-cbc",
)
LEGACY_MACS = ("hmac-sha2-256", "hmac-sha1", "hmac-md5")
# Also used when no known_hosts entry restricts the choice: ed25519 first, because Dropbear 2022.83
# with only an ed25519 key still offers rsa-sha2-256 and aborts when a client picks it.
HOST_KEY_ALGS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa")
LEGACY_HOST_KEY_ALGS = (*HOST_KEY_ALGS, "ssh-dss")


def legacy_hint(device: Device) -> str:
    """What to try next, appended to a "no common algorithm" error."""
    if device.legacy_algorithms:
        return " (even with legacy_algorithms: set kex_algorithms, ciphers, macs or host_key_algorithms)"
    return " (legacy_algorithms: true may help)"


def host_key_algs(device: Device) -> tuple[str, ...]:
    """The host key algorithms to offer when the inventory sets none."""
    return LEGACY_HOST_KEY_ALGS if device.legacy_algorithms else HOST_KEY_ALGS
