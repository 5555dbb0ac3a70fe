"""``fleet import``: old logs into the store, as samples of one device.

Two kinds of input: a log of the method's ``cat`` loop (rounds with no delimiters, no timestamps:
round i is placed at ``first + i * interval``), or captures saved by fleet itself (the raw output of
its capture script, recognised by their header token; several may be concatenated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fleet.capture.methodlog import render_block, split_method_log
from fleet.capture.script import TOKEN_PATTERN
from fleet.errors import UsageError
from fleet.ssh.outcomes import OK
from fleet.store.parse import METHOD_LOG, SSH, parse_method_log, parse_sample
from fleet.store.store import Store
from fleet.text import decode

_TOKEN = re.compile(b"(" + TOKEN_PATTERN.encode() + rb") v \d+\n")  # a capture's first line


class LogImportError(UsageError):
    """The file holds nothing fleet can read."""


@dataclass(frozen=True)
class ImportResult:
    samples: int
    kind: str
    skipped: int = 0
    first: float | None = None  # epoch seconds the first and last round were stored at
    last: float | None = None


def import_log(
    store: Store,
    data: bytes,
    device: str,
    *,
    interval: float,
    first: float | None,
    mtime: float,
    pid: int = 0,
    name: str | None = None,
) -> ImportResult:
    """Store every round/capture of ``data`` (raw first, then parsed). Re-importing is harmless."""
    captures = _split_captures(data)
    if captures:
        rounds: list[tuple[bytes, str | None]] = captures
        kind, skipped = SSH, 0
    else:
        blocks, skipped = split_method_log(decode(data))
        if not blocks:
            raise LogImportError("no meminfo, maps or slabinfo dump and no fleet capture found")
        rounds = [(render_block(b), None) for b in blocks]
        kind = METHOD_LOG
    start = first if first is not None else mtime - (len(rounds) - 1) * interval
    meta = {"pid": pid, "name": name} if kind == METHOD_LOG else None
    dev_id = store.device_id(device)
    for i, (raw, token) in enumerate(rounds):
        at = start + i * interval
        sid = store.add_raw_sample(dev_id, None, at, raw, token=token, source=kind, meta=meta)
        if kind == METHOD_LOG:
            parse_method_log(store, sid, raw, meta or {})
        else:
            parse_sample(store, sid, raw, token)
    last = start + (len(rounds) - 1) * interval
    store.record_attempt(dev_id, None, OK, None, None, at=last)
    return ImportResult(len(rounds), kind, skipped, start, last)


def _split_captures(data: bytes) -> list[tuple[bytes, str | None]]:
    """Concatenated fleet captures, each with its own token."""
    starts = list(_TOKEN.finditer(data))
    out: list[tuple[bytes, str | None]] = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(data)
        out.append((data[m.start() : end], m.group(1).decode()))
    return out
