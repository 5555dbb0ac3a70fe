"""Whole captures, end to end (issue 22, "prove the class is gone"): arbitrary and adversarial
captures go through the collector's own judging and store writer (split, extract, store), then
through what rank, show, report and the email do (parse what is pending, analyse, render), on a
real SQLite store beside a healthy device.

Inputs: real captures (tests.test_capture_fuzz: ``grep -z``, grep without -z, the cat fallback)
with their numbers replaced by huge, negative and over-long ones; up to 100,000 processes that
exist only in the capture; byte flips, cuts, forged headers, splices and truncations; random
bytes with and without a capture header. Whatever the input:

- nothing raises, and the hostile device itself is analysed (no analysis error: the class is gone
  at its root, fault isolation is only the backstop) while the healthy one always is;
- every capture with a header is stored and its raw bytes come back exactly;
- every sample ends parsed or marked with its reason, within the caps (processes, problems,
  metrics size, every number in the store's range), and the report stays small;
- the process's peak RSS grows by less than 300 MiB per example (VmHWM, reset before each).

Default: 120 examples (~15 s on 2 shared cores). ``--run-slow``: 1,500 more, with floods up to
180,000 processes (~8 min; last run: 27 % of examples had a sample refused at the process cap, 17 %
numbers out of range, 0 failures).
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fleet.collect.options import CollectOptions
from fleet.collect.sampler import _Capture, _keep
from fleet.collect.writer import StoreWriter as _Writer
from fleet.inventory.model import Device
from fleet.metrics.limits import MAX_METRICS_BYTES, MAX_PROBLEMS, MAX_PROCESSES, STORE_MAX
from fleet.render.rank import device_text, rank_json, rank_text
from fleet.render.report import render_email, render_report
from fleet.ssh.outcomes import CommandResult
from fleet.store import codec
from fleet.store.parse import parse_pending
from fleet.store.store import Store
from fleet.view.fleet import build_view
from tests.helpers import own_kib
from tests.hostile import fake_processes, with_records
from tests.test_capture_fuzz import KINDS, TOKEN, edited, real_capture

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
NUMBERS = (
    *("0", "-1", "+7", "4294967296", "0" * 20, "9" * 19),
    *(("9" * 20, str(2**63), str(2**64 - 1)) * 3),  # past what the store holds, the parsers read them
    *("-" + "9" * 20, "1" * 25),  # past what the parsers read at all
)
_DIGITS = re.compile(rb"[0-9]+")
# Lines whose numbers the extraction keeps: stat, statm, meminfo, uptime, loadavg.
_COUNTERS = re.compile(
    rb"(?:^|\x00)(?:[0-9]+/statm?:|[0-9]+ \(|meminfo:|uptime:|loadavg:|Mem|Cached|Buffers|Swap)[^\n]*",
    re.MULTILINE,
)


def _spots(data: bytes, counters: bool) -> list[tuple[int, int]]:
    """Where the numbers are: every one, or those of the lines the extraction keeps."""
    if not counters:
        return [m.span() for m in _DIGITS.finditer(data)]
    return [
        (m.start() + d.start(), m.start() + d.end())
        for m in _COUNTERS.finditer(data)
        for d in _DIGITS.finditer(m.group())
    ]


PEAK_GROWTH_KIB = 300 * 1024
HEALTHY = "cam-ok"
HOSTILE = "cam-x"


@st.composite
def hostile_capture(draw: st.DrawFn, flood: tuple[int, ...]) -> bytes:
    """A real capture, edited the ways a broken or hostile device prints one."""
    if draw(st.integers(0, 9)) == 0:  # anything at all, with or without a header
        junk = draw(st.binary(max_size=4096))
        return (f"{TOKEN} v 5\n".encode() if draw(st.booleans()) else b"") + junk
    kind = draw(st.sampled_from(KINDS))
    data = real_capture(kind)
    for _ in range(draw(st.integers(0, 12))):  # numbers a device made up, most in counters it reads
        spots = _spots(data, counters=draw(st.integers(0, 3)) > 0) or _spots(data, counters=False)
        start, end = spots[draw(st.integers(0, len(spots) - 1))]
        data = data[:start] + draw(st.sampled_from(NUMBERS)).encode() + data[end:]
    count = draw(st.sampled_from(flood))
    if count and data.endswith(f"{TOKEN} end\n".encode()):
        data = with_records(data, TOKEN, fake_processes(count, section=kind, token=TOKEN))
    return edited(draw, data, st.integers(0, 3), ops=("flip", "cut", "salt", "bytes", "truncate"))


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fleet-fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _collect(store: Store, captures: dict[str, list[bytes]], now: float) -> dict[str, list[bool]]:
    """Each capture through the collector's judging and store writer; which ones it stored."""

    async def run() -> dict[str, list[bool]]:
        writer = _Writer(store, store.begin_run(None))
        devices = [Device(name=name, host="h") for name in captures]
        await writer.register(devices)
        stored: dict[str, list[bool]] = {}
        try:
            for device in devices:
                for i, raw in enumerate(captures[device.name]):
                    result = CommandResult(raw, b"", 0, truncated=False)
                    capture = _Capture(TOKEN, now - 600 + 60 * i, 0.5, result)
                    sampled = await _keep(capture, device, writer, CollectOptions(), time.monotonic())
                    stored.setdefault(device.name, []).append(sampled.stored)
        finally:
            writer.pool.shutdown(wait=True)
        return stored

    return asyncio.run(run())


def _numbers(value: Any) -> Iterator[int | float]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


def _check_store(store: Store) -> None:
    """Every sample parsed or marked with a reason; what was parsed is within the caps."""
    rows = store.sql("SELECT parsed, problems_json, metrics, metrics_dict FROM samples")
    for parsed, problems_json, blob, dict_id in rows:
        assert parsed in (1, 2)
        if parsed == 2:
            assert json.loads(problems_json)[0]
            continue
        dictionary = None
        if dict_id is not None:
            [(data,)] = store.sql("SELECT data FROM dictionaries WHERE id = ?", (dict_id,))
            dictionary = codec.decompress(data)
        doc = codec.decompress(blob, dictionary)
        assert len(doc) <= MAX_METRICS_BYTES
        metrics = json.loads(doc)
        assert len(metrics["processes"]) <= MAX_PROCESSES
        assert len(metrics["problems"]) <= MAX_PROBLEMS
        for n in _numbers(metrics):
            assert (0 <= n <= STORE_MAX) if isinstance(n, int) else (math.isfinite(n) and n >= 0), n


def _outcome(parsed: int, problems: list[str]) -> str:
    """What became of one hostile sample, for ``--hypothesis-show-statistics``."""
    if parsed == 2:
        return "refused: " + ("processes" if "processes" in problems[0] else problems[0][:30])
    if any("out of range" in p for p in problems):
        return "stored with numbers out of range"
    return "stored with problems" if problems else "stored clean"


def run_whole(scratch: Path, hostile: list[bytes]) -> None:
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)
    base = own_kib("VmRSS")
    location = Path(tempfile.mkdtemp(dir=scratch))
    try:
        with Store(location) as store:
            healthy = [real_capture(kind) for kind in KINDS]
            stored = _collect(store, {HEALTHY: healthy, HOSTILE: hostile}, time.time())
            assert stored[HEALTHY] == [True, True, True]
            for raw, kept in zip(hostile, stored[HOSTILE], strict=True):
                assert kept == ((TOKEN + " v ").encode() in raw)
            assert parse_pending(store) == 0  # the writer left nothing for the next reader
            kept_raw = [r.raw for r in store.raw_samples() if r.device == HOSTILE]
            assert kept_raw == [raw for raw, kept in zip(hostile, stored[HOSTILE], strict=True) if kept]
            _check_store(store)
            for parsed, problems in store.sql(
                "SELECT s.parsed, s.problems_json FROM samples s JOIN devices d ON d.id = s.device_id"
                " WHERE d.name = ?",
                (HOSTILE,),
            ):
                event(_outcome(parsed, json.loads(problems or "[]")))
            view = build_view(store)
        doc = rank_json(view)
        rank_text(doc)
        for entry in doc["devices"]:
            device_text(entry)
            assert entry["analysis_error"] is None, entry["analysis_error"]
        views = {d.name: d for d in view.devices}
        assert views[HEALTHY].assessment is not None
        report = render_report(view)
        assert len(report) < 4 * 1024 * 1024
        subject, text, _ = render_email(view, "The report is attached.")
        assert text.startswith(subject) and "2 devices" in text
    finally:
        shutil.rmtree(location, ignore_errors=True)
    growth = own_kib("VmHWM") - base
    assert growth < PEAK_GROWTH_KIB, growth


@settings(FUZZ, max_examples=120)
@given(
    st.lists(hostile_capture(flood=(0, 0, 0, 0, 5, 300, MAX_PROCESSES + 1, 100_000)), min_size=1, max_size=3)
)
def test_no_capture_stops_rank_or_report_or_loses_its_raw(scratch: Path, hostile: list[bytes]) -> None:
    """120 hostile devices of 1-3 captures each (see the module docstring)."""
    run_whole(scratch, hostile)


@pytest.mark.slow
@settings(FUZZ, max_examples=1500)
@given(
    st.lists(
        hostile_capture(flood=(0, 0, 0, 5, 300, MAX_PROCESSES - 3, MAX_PROCESSES + 1, 100_000, 180_000)),
        min_size=1,
        max_size=4,
    )
)
def test_no_capture_stops_rank_or_report_or_loses_its_raw_long(scratch: Path, hostile: list[bytes]) -> None:
    """1,500 hostile devices of 1-4 captures each, floods up to the 16 MiB output cap."""
    run_whole(scratch, hostile)
