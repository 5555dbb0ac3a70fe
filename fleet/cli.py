"""The command line. Commands stay thin: parse flags, call the package, map outcomes to exit codes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from enum import IntEnum
from pathlib import Path
from typing import Annotated

import typer

from fleet.capture import decode
from fleet.collector import CollectOptions, DeviceOutcome, collect
from fleet.fleetview import build_view
from fleet.importer import LogImportError, import_log
from fleet.ingest import parse_pending
from fleet.inventory import InventoryError, load_inventory
from fleet.inventory import safe_device_name as _safe_device_name
from fleet.mapsview import maps_diff_report, maps_report, render_maps_text
from fleet.procfs import ParseError
from fleet.rank import rank_json, rank_text
from fleet.store import Store, StoreError, store_dir


class Exit(IntEnum):
    """Exit codes (documented in the README)."""

    OK = 0
    ERROR = 1  # the run itself failed (store unusable, internal error)
    USAGE = 2  # bad inventory, bad arguments
    FINDINGS = 3  # --fail-on: a finding of that severity exists


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Hunt memory leaks across fleets of embedded Linux devices over plain SSH.",
)

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="Store directory (default: $FLEET_STORE, else ./fleet-data)."),
]


def _fail(code: Exit, message: str) -> typer.Exit:
    typer.echo(f"fleet: {message}", err=True)
    return typer.Exit(int(code))


def _open_store(store: Path | None, *, create: bool = False) -> Store:
    try:
        return Store(store_dir(store), create=create)
    except StoreError as exc:
        raise _fail(Exit.ERROR, str(exc)) from None


class _TerminalProgress:
    """One status line on stderr, only when stderr is a terminal (never in cron mail or journald)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.failed = total, 0, 0
        self.seen: set[str] = set()
        self.enabled = sys.stderr.isatty()

    def __call__(self, outcome: DeviceOutcome) -> None:
        if not self.enabled:
            return
        if outcome.name not in self.seen:
            self.seen.add(outcome.name)
            self.done += 1
        if outcome.status != "ok":
            self.failed += 1
        sys.stderr.write(f"\r{self.done}/{self.total} devices sampled, {self.failed} failures ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")


def summarize(outcomes: list[DeviceOutcome], seconds: float) -> str:
    """The end-of-run summary: counts by status, then one line per failed device."""
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status] = by_status.get(o.status, 0) + 1
    samples = sum(o.samples for o in outcomes)
    ok = by_status.get("ok", 0)
    counts = ", ".join(f"{s} {n}" for s, n in sorted(by_status.items()) if s != "ok")
    lines = [
        f"collected {ok}/{len(outcomes)} devices, {samples} samples in {seconds:.1f} s"
        + (f" ({counts})" if counts else "")
    ]
    for o in outcomes:
        if o.status != "ok":
            lines.append(f"  {o.name}: {o.status}: {o.error}")
        elif o.problems:
            lines.append(f"  {o.name}: partial sample: {'; '.join(o.problems[:3])}")
    return "\n".join(lines)


@app.command("collect")
def collect_cmd(
    inventory: Annotated[Path, typer.Argument(help="Inventory YAML (see inventory/example.yaml).")],
    store: StoreOpt = None,
    samples: Annotated[
        int, typer.Option(min=0, help="Samples per device; 0 keeps sampling until stopped.")
    ] = 1,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between samples.")] = 60.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Devices sampled at once.")] = 64,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Device, group or tag names (repeatable).")
    ] = None,
) -> None:
    """Capture /proc from every device in the inventory into the store."""
    try:
        inv = load_inventory(inventory)
    except InventoryError as exc:
        raise _fail(Exit.USAGE, str(exc)) from None
    devices = inv.select(only)
    if not devices:
        raise _fail(Exit.USAGE, f"{inventory}: --only {' '.join(only or [])} matches no device")
    opts = CollectOptions(samples=samples, interval=interval, concurrency=concurrency)
    progress = _TerminalProgress(len(devices))
    started = time.monotonic()
    with _open_store(store, create=True) as st:
        try:
            outcomes = asyncio.run(collect(devices, st, opts, inventory=str(inventory), progress=progress))
        except KeyboardInterrupt:
            progress.finish()
            typer.echo("fleet: stopped; every sample captured so far is stored", err=True)
            raise typer.Exit(130) from None
    progress.finish()
    typer.echo(summarize(outcomes, time.monotonic() - started))


@app.command("rank")
def rank_cmd(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (interface.md).")] = False,
) -> None:
    """Rank the devices in the store by leak suspicion."""
    with _open_store(store) as st:
        parse_pending(st)
        doc = rank_json(build_view(st, details=False))
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(rank_text(doc))


@app.command("maps")
def maps_cmd(
    files: Annotated[list[Path], typer.Argument(help="A /proc/<pid>/maps dump, or OLD NEW to compare two.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (interface.md).")] = False,
) -> None:
    """Classify one maps dump (thread stacks, heap, SYSV shm, ...), or show what changed between two."""
    if len(files) > 2:
        raise _fail(Exit.USAGE, "maps takes one file, or two to compare")
    texts = []
    for f in files:
        try:
            texts.append(decode(f.read_bytes()))
        except OSError as exc:
            raise _fail(Exit.USAGE, f"{f}: cannot read: {exc.strerror}") from None
    try:
        report = maps_report(texts[0]) if len(texts) == 1 else maps_diff_report(texts[0], texts[1])
    except ParseError as exc:
        raise _fail(
            Exit.USAGE, f"{files[-1] if len(files) == 1 else ' / '.join(map(str, files))}: {exc}"
        ) from None
    typer.echo(json.dumps(report, indent=2) if as_json else render_maps_text(report), nl=as_json)


@app.command("import")
def import_cmd(
    log: Annotated[Path, typer.Argument(help="A log of the method's cat loop, or captures saved by fleet.")],
    device: Annotated[str, typer.Option("--device", help="Device name to store the samples under.")],
    store: StoreOpt = None,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between the loop's rounds.")] = 240.0,
    start: Annotated[
        str | None,
        typer.Option(help="Time of the first round (ISO 8601); default: log mtime minus the rounds."),
    ] = None,
    pid: Annotated[int, typer.Option(help="Pid of the process whose maps the log holds (if known).")] = 0,
    process: Annotated[
        str | None, typer.Option(help="Name of that process (default: its executable).")
    ] = None,
) -> None:
    """Import an old log as samples of one device, so rank and report work on it."""
    try:
        data = log.read_bytes()
        mtime = log.stat().st_mtime
    except OSError as exc:
        raise _fail(Exit.USAGE, f"{log}: cannot read: {exc.strerror}") from None
    if not _safe_device_name(device):
        raise _fail(Exit.USAGE, f"--device {device!r}: no '/', control characters, '.' or '..'")
    try:
        first = _parse_time(start) if start else None
    except ValueError:
        raise _fail(Exit.USAGE, f"--start {start!r}: not an ISO 8601 time") from None
    with _open_store(store, create=True) as st:
        try:
            result = import_log(
                st, data, device, interval=interval, first=first, mtime=mtime, pid=pid, name=process
            )
        except LogImportError as exc:
            raise _fail(Exit.USAGE, f"{log}: {exc}") from None
    typer.echo(
        f"imported {result.samples} samples of {device} ({result.kind}) from {log}"
        + (f"; {result.skipped} unrecognised lines skipped" if result.skipped else "")
    )


def _parse_time(text: str) -> float:
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def main() -> None:
    """Console entry point."""
    app()
