"""Hostile captures made from real ones: a device that knows its capture's token (its shell read the
script) can print anything behind it. Each helper edits a real capture the way such a device would:
one number changed, or records added before the end marker, in the ``a`` (``grep -zH``) format."""

from __future__ import annotations

import re

BIG = "9" * 20  # the longest number the parsers accept: past 2^63 - 1, and past 2^64 - 1


def set_stat_field(raw: bytes, pid: int, number: int, value: str) -> bytes:
    """``raw`` with field ``number`` (proc(5) numbering: 20 threads, 22 start time) of ``pid``'s stat
    set to ``value``."""
    pattern = re.compile(rb"(\x00%d/stat:%d \(.*?\) )([^\n]*)" % (pid, pid))
    match = pattern.search(raw)
    assert match is not None, f"no stat of pid {pid}"
    fields = match.group(2).split(b" ")
    fields[number - 3] = value.encode()
    return raw[: match.start(2)] + b" ".join(fields) + raw[match.end(2) :]


def set_meminfo(raw: bytes, key: str, value: str) -> bytes:
    """``raw`` with the meminfo line ``key`` set to ``value`` kB."""
    edited, n = re.subn(
        rb"\n%s: +[0-9]+ kB" % key.encode(), b"\n%s:   %s kB" % (key.encode(), value.encode()), raw
    )
    assert n == 1, key
    return edited


def with_records(raw: bytes, token: str, records: bytes) -> bytes:
    """``raw`` with ``grep -zH`` records (``NAME:content\\0``) added at the end of its ``a`` section."""
    end = f"{token} end\n".encode()
    assert raw.endswith(end)
    return raw[: -len(end)] + records + end


def stat_line(pid: int, comm: str = "fake", threads: int | str = 1, start: int | str = 100) -> str:
    return f"{pid} ({comm}) S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 {threads} 0 {start} 4096 10 0"


def fake_processes(count: int, first_pid: int = 10_000) -> bytes:
    """``count`` processes that exist only in the capture: a stat record each (~75 bytes)."""
    return b"".join(
        f"{pid}/stat:{stat_line(pid)}\n\0".encode() for pid in range(first_pid, first_pid + count)
    )
