"""``fleet export --format csv|jsonl``: every process's time series, one row per process and sample.

For notebooks (pandas, polars, DuckDB): the columns of :data:`COLUMNS`, sizes in bytes, times ISO
8601 in UTC, unknown values empty (csv) or null (jsonl). Rows are made one at a time from whatever
iterable of samples the caller streams in, so a store of any size exports in constant memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from fleet.metrics.model import DeviceMetrics
from fleet.text import iso, visible

COLUMNS = (
    "device",
    "pid",
    "start_time",
    "name",
    "time",
    "rss",
    "anon",
    "threads",
    "stack_maps",
    "fds",
    "vmsize",
)
FORMATS = ("csv", "jsonl")

Sample = tuple[str, float, DeviceMetrics]  # device name, capture time (Unix seconds), its metrics


def series_rows(samples: Iterable[Sample]) -> Iterator[dict[str, Any]]:
    """One row per process of every sample, in the order of :data:`COLUMNS`."""
    for device, at, metrics in samples:
        when = iso(at)
        for p in metrics.processes:
            yield {
                "device": device,
                "pid": p.pid,
                "start_time": p.start_time,
                "name": p.name,
                "time": when,
                "rss": p.rss,
                "anon": p.anon_private,
                "threads": p.threads,
                "stack_maps": p.stack_count,
                "fds": p.fds,
                "vmsize": p.vm_size,
            }


def csv_lines(samples: Iterable[Sample]) -> Iterator[str]:
    """A header, then one CSV line per row (RFC 4180 quoting). Names are device text: control
    characters show as ``\\xNN`` (fleet.text.visible), so a terminal or a spreadsheet sees no raw
    escape sequence; quotes and commas are quoted as CSV quotes them."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")

    def line(values: Iterable[Any]) -> str:
        buf.seek(0)
        buf.truncate()
        writer.writerow(values)
        return buf.getvalue()

    yield line(COLUMNS)
    for row in series_rows(samples):
        row["device"], row["name"] = visible(row["device"]), visible(row["name"])
        yield line("" if v is None else v for v in row.values())


def jsonl_lines(samples: Iterable[Sample]) -> Iterator[str]:
    """One JSON object per line (JSON Lines); names exact, escaped as JSON escapes them (ASCII only)."""
    for row in series_rows(samples):
        yield json.dumps(row) + "\n"
