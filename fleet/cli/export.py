"""`fleet export`: the fleet's verdicts as OpenMetrics (Prometheus, Grafana), or every process's
time series as CSV or JSON Lines (notebooks)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fleet.cli.common import fleet_view, open_store, store_devices
from fleet.cli.options import OnlyOpt, StoreOpt
from fleet.render.openmetrics import openmetrics_lines
from fleet.render.series import Sample, csv_lines, jsonl_lines
from fleet.store.parse import parse_pending
from fleet.store.store import Store
from fleet.sweep.reportdir import write_atomically


class ExportFormat(StrEnum):
    openmetrics = "openmetrics"
    csv = "csv"
    jsonl = "jsonl"


def export_cmd(
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="openmetrics: scores, statuses, forecasts and findings (Prometheus);"
            " csv or jsonl: every process's time series.",
        ),
    ] = ExportFormat.openmetrics,
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", help="File to write, atomically (default or -: standard output)."),
    ] = None,
    store: StoreOpt = None,
    only: OnlyOpt = None,
) -> None:
    """Export metrics for Prometheus (OpenMetrics) or a process time series for notebooks."""
    with open_store(store) as st:
        parse_pending(st)
        if fmt is ExportFormat.openmetrics:
            lines: Iterable[str] = list(openmetrics_lines(fleet_view(st, only, details=False)))
        else:
            samples = _samples(st, only)
            lines = csv_lines(samples) if fmt is ExportFormat.csv else jsonl_lines(samples)
        _write(lines, output)  # inside: csv and jsonl stream from the store as they are written


def _samples(st: Store, only: list[str] | None) -> Iterator[Sample]:
    """Every parsed sample of the selected devices, device by device, oldest first."""
    rows = store_devices(st, only)
    return ((r.name, at, m) for r in rows for at, m in st.iter_series(r.name))


def _write(lines: Iterable[str], output: str | None) -> None:
    if output is not None and output != "-":
        write_atomically(Path(output), lines)
        return
    out = sys.stdout
    try:
        binary = getattr(out, "buffer", None)
        for line in lines:  # UTF-8 whatever the locale says: the formats are UTF-8
            if binary is not None:
                binary.write(line.encode("utf-8", "backslashreplace"))
            else:
                out.write(line)
        out.flush()
    except BrokenPipeError:  # `fleet export | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        raise typer.Exit(0) from None
