"""The firmware identity (fleet.metrics.firmware) from real firmware files and hostile ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.metrics.firmware import firmware_identity
from fleet.metrics.limits import MAX_FIRMWARE

DATA = Path(__file__).parent / "data" / "firmware"


@pytest.mark.parametrize(
    ("name", "identity"),
    [
        ("debian12-os-release", "12"),  # VERSION_ID="12", not VERSION="12 (bookworm)"
        ("buildroot-os-release", "2020.02"),  # VERSION_ID, though VERSION comes first
        ("poky-os-release", "4.0.17"),
        ("openwrt-os-release", "23.05.3"),  # double-quoted
        ("openwrt_version", "r23809-234f1a2efa"),  # one line, no KEY=
        ("camera-fw_version", "V2.3.1.240518 build 0412"),  # first non-empty line, trimmed
    ],
)
def test_real_firmware_files(name: str, identity: str) -> None:
    assert firmware_identity((DATA / name).read_text()) == identity


@pytest.mark.parametrize(
    ("text", "identity"),
    [
        ("NAME=x\nVERSION='2.3.1 (rc)'\n", "2.3.1 (rc)"),  # VERSION without VERSION_ID, single quotes
        ('VERSION_ID=""\nVERSION="7"\n', "7"),  # an empty VERSION_ID does not count
        ('VERSION_ID="2.\\"3\\$"\n', '2."3$'),  # the escapes os-release(5) allows
        ("  VERSION_ID=  2.3.1  \n", "2.3.1"),
        ("VERSION_ID=1\nVERSION_ID=2\n", "1"),  # the first assignment wins
        ("NAME=acme\nID=acme\n", "NAME=acme"),  # KEY=value, but no version: the first line
        ("\r\n\t\n   fw-9 \r\n", "fw-9"),  # CRLF and blank lines
        ("", None),
        (" \n\t\n", None),
        (None, None),
    ],
)
def test_os_release_rules(text: str | None, identity: str | None) -> None:
    assert firmware_identity(text) == identity


def test_hostile_and_overlong_text_is_kept_as_text_within_the_cap() -> None:
    """Device text: markup, escape codes and NULs are not interpreted here (shown escaped by the
    report and fleet.text.visible); NUL ends a line; the identity never exceeds MAX_FIRMWARE."""
    hostile = firmware_identity('VERSION_ID="<script>\x1b]0;pwn\x07</script>"\n')
    assert hostile == "<script>\x1b]0;pwn\x07</script>"
    assert firmware_identity("\0\0v1\0junk") == "v1"
    long = firmware_identity("VERSION=" + "9" * 100_000)
    assert long == "9" * MAX_FIRMWARE
    assert firmware_identity("x" * 10_000_000 + "\nVERSION_ID=late") is not None  # head only, quick
    assert firmware_identity("\ufffd\ufffdbin\udcff") == "\ufffd\ufffdbin\udcff"  # decoded bytes as they came
