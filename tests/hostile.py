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


def fake_processes(count: int, first_pid: int = 10_000, section: str = "a", token: str = "") -> bytes:
    """``count`` processes that exist only in the capture, a stat each (~86 bytes), printed as the
    capture's ``section`` prints files: ``a`` (grep -zH), ``g`` (grep -H), ``cat`` (``token`` headers)."""
    pids = range(first_pid, first_pid + count)
    if section == "cat":
        return b"".join(
            f"{token} p {pid}\n{token} f /proc/{pid}/stat\n{stat_line(pid)}\n".encode() for pid in pids
        )
    end = "\n\0" if section == "a" else "\n"
    return b"".join(f"{pid}/stat:{stat_line(pid)}{end}".encode() for pid in pids)


def process_records(
    pid: int, maps_lines: int = 0, threads: int = 0, start: int = 100, cmdline: str = "/opt/fake"
) -> bytes:
    """One whole process as format 5 prints it: stat, statm, cmdline, thread names and a maps of
    ``maps_lines`` anonymous mappings (~40 bytes each)."""
    maps = "".join(
        f"{0x10000 + i * 0x2000:08x}-{0x11000 + i * 0x2000:08x} rw-p 00000000 00:00 0 \n"
        for i in range(maps_lines)
    )
    text = f"{pid}/stat:{stat_line(pid, threads=max(threads, 1), start=start)}\n\0"
    text += f"{pid}/statm:100 50 20 1 0 30 0\n\0{pid}/cmdline:{cmdline}\0--flag\0"
    text += "".join(f"{pid}/task/{pid + k}/comm:thread-{k}\n\0" for k in range(threads))
    return (text + (f"{pid}/maps:{maps}\0" if maps_lines else "")).encode()


def slabinfo_record(caches: int) -> bytes:
    """A /proc/slabinfo record of ``caches`` caches (SLUB's format, ~70 bytes a line)."""
    lines = ["slabinfo - version: 2.1"]
    lines += [f"cache-{k:08d} 100 100 64 64 1 : tunables 0 0 0 : slabdata 1 1 0" for k in range(caches)]
    return ("slabinfo:" + "\n".join(lines) + "\n\0").encode()
