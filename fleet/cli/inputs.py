"""`fleet inventory show` and `fleet import`: check an inventory, or read an old log into the store."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from fleet.cli.common import command_logging, fail, open_store, select_devices
from fleet.cli.exits import Exit
from fleet.cli.logs import json_line
from fleet.cli.options import INVENTORY_HELP, JsonOpt, LogJsonOpt, OnlyOpt, StoreOpt
from fleet.inventory.model import safe_device_name
from fleet.store.log_import import LogImportError, import_log
from fleet.text import iso, parse_time, visible
from fleet.view.rollup import roll_up


def inventory_show_cmd(
    inventory: Annotated[Path, typer.Argument(help=INVENTORY_HELP)],
    as_json: JsonOpt = False,
    only: OnlyOpt = None,
) -> None:
    """Print the resolved devices (address, login, keys, host keys, jump hosts, and where each
    setting came from) without contacting any of them."""
    from fleet.inventory.show import inventory_json, render_text

    inv, devices = select_devices(inventory, only)
    if as_json:
        typer.echo(json.dumps(inventory_json(inv, devices), indent=2))
    else:
        typer.echo(render_text(inv, devices))


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
    as_json: JsonOpt = False,
    log_json: LogJsonOpt = False,
) -> None:
    """Import an old log as samples of one device, so rank and report work on it."""
    json_lines = command_logging(log_json)
    try:
        data = log.read_bytes()
        mtime = log.stat().st_mtime
    except OSError as exc:
        raise fail(Exit.USAGE, f"{log}: cannot read: {exc.strerror}") from None
    if not safe_device_name(device):
        raise fail(Exit.USAGE, f"--device {device!r}: no '/', control characters, '.' or '..'")
    try:
        first = parse_time(start) if start else None
    except ValueError:
        raise fail(Exit.USAGE, f"--start {start!r}: not an ISO 8601 time") from None
    with open_store(store, create=True, logging_set_up=True) as st:
        try:
            result = import_log(
                st, data, device, interval=interval, first=first, mtime=mtime, pid=pid, name=process
            )
        except LogImportError as exc:
            raise fail(Exit.USAGE, f"{log}: {exc}") from None
        roll_up(st)
    summary = f"imported {result.samples} samples of {device} ({result.kind}) from {log}" + (
        f"; {result.skipped} unrecognised lines skipped" if result.skipped else ""
    )
    fields = {
        "device": device,
        "samples": result.samples,
        "kind": result.kind,
        "skipped": result.skipped,
        "file": str(log),
        "first": iso(result.first),
        "last": iso(result.last),
    }
    if as_json:
        typer.echo(json.dumps(fields, indent=2))
    elif json_lines:
        typer.echo(json_line("info", "import_done", summary, fields, time.time()))
    else:
        typer.echo(visible(summary))
