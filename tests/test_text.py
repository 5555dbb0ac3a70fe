"""The shared number and time helpers of fleet.text: sizes, durations, ISO 8601 times."""

from __future__ import annotations

import pytest

from fleet.text import duration, iso, parse_time, rate, size

MIB = 1024 * 1024


def test_size() -> None:
    # precise: the maps diff, the report's tables and the chart axes
    assert [size(n, precise=True) for n in (0, 1023, 1536, 8 * MIB - 4096, -MIB)] == [
        "0 B", "1023 B", "1.5 KiB", "8 MiB", "-1 MiB",
    ]  # fmt: skip
    assert size(10.5 * MIB, precise=True) == "10.5 MiB" and size(1.25 * MIB, 2, precise=True) == "1.25 MiB"
    # prose (finding summaries): whole units from 10 on
    assert [size(n) for n in (640, 1536, 9.5 * MIB, 15.7 * MIB, -1536)] == [
        "640 B", "1.5 KiB", "9.5 MiB", "16 MiB", "-1.5 KiB",
    ]  # fmt: skip


def test_rate() -> None:
    """Hourly, except counts slower than one every ten hours: a nightly thread leak is per day."""
    assert [rate(16), rate(-0.5), rate(1.5 * MIB, "bytes"), rate(640, "bytes")] == [
        "+16/h", "-0.5/h", "+1.5 MiB/h", "+640 B/h",
    ]  # fmt: skip
    assert [rate(0.5 / 24), rate(-2 / 24), rate(0.0)] == ["+0.5/day", "-2/day", "+0/h"]


def test_duration() -> None:
    assert [duration(s) for s in (45, 12 * 60, 4.5 * 3600, 4 * 3600, 3.5 * 86400, 3 * 86400, 15 * 86400)] == [
        "45 s", "12 min", "4.5 h", "4 h", "3.5 d", "3 d", "15 d",
    ]  # fmt: skip
    # fixed: forecast columns and headlines
    assert [duration(s, fixed=True) for s in (None, 45, 12 * 60, 4.5 * 3600, 3 * 86400)] == [
        "-", "45 s", "12 min", "4 h", "3.0 d",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ["2026-11-27T03:00:00Z", "2026-11-27T03:00:00", "2026-11-27T04:00:00+01:00", " 2026-11-27T03:00:00z "],
)
def test_parse_time(text: str) -> None:
    assert parse_time(text) == 1795748400.0  # UTC unless it says otherwise


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_iso_is_what_parse_time_reads() -> None:
    assert iso(1795748400.0) == "2026-11-27T03:00:00Z" and iso(None) is None
    assert parse_time(iso(1795748400.0) or "") == 1795748400.0
