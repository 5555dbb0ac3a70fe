"""`fleet collect`: sample every device of an inventory into the store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fleet.cli.common import command_logging, fail, open_store, parse_shard, select_devices
from fleet.cli.exits import Exit
from fleet.cli.logs import json_line
from fleet.cli.options import (
    INVENTORY_HELP,
    MAX_CONNECTED,
    LogJsonOpt,
    MapsEveryOpt,
    MaxConnectedOpt,
    OnlyOpt,
    QuietOpt,
    StoreOpt,
)
from fleet.cli.progress import progress_view, summarize
from fleet.errors import StoreError
from fleet.inventory.model import shard
from fleet.ssh.outcomes import OK
from fleet.store.store import database_errors
from fleet.text import visible
from fleet.view.rollup import roll_up

if TYPE_CHECKING:  # asyncssh loads only when the command runs
    from fleet.collect.sampler import DeviceOutcome


def collect_cmd(
    inventory: Annotated[Path, typer.Argument(help=INVENTORY_HELP)],
    store: StoreOpt = None,
    samples: Annotated[
        int | None,
        typer.Option(
            min=0, help="Samples per device; 0 keeps sampling until stopped. [default: 1, 0 with --until]"
        ),
    ] = None,
    interval: Annotated[float, typer.Option(min=0.0, help="Seconds between samples.")] = 60.0,
    concurrency: Annotated[int, typer.Option(min=1, help="Devices sampled at once.")] = 64,
    maps_every: MapsEveryOpt = None,
    max_connected: MaxConnectedOpt = None,
    only: OnlyOpt = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Stop sampling at this time (ISO 8601, UTC unless stated) or after 8h, 90m, 1h30m.",
        ),
    ] = None,
    shard_spec: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Take share K of N (by a hash of the device name): N collectors cover the fleet once.",
        ),
    ] = None,
    collector: Annotated[
        str | None,
        typer.Option("--collector", help="Name recorded with every sample and attempt [default: hostname]."),
    ] = None,
    log_json: LogJsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Capture /proc from every device in the inventory into the store.

    Shows its progress on stderr: live on a terminal, else a line every 10 s or 10 % of a round
    (JSON with --log-json; none with --quiet). Prints the summary on stdout (one JSON object with
    --log-json).
    """
    from fleet.collect.collector import collect, parse_until
    from fleet.collect.options import CollectOptions

    json_lines = command_logging(log_json)
    _, devices = select_devices(inventory, only, logging_set_up=True)
    if shard_spec is not None:
        try:
            devices = shard(devices, *parse_shard(shard_spec))
        except ValueError:
            raise fail(Exit.USAGE, f"--shard {shard_spec!r}: not K/N with 1 <= K <= N") from None
        if not devices:  # a share of a small fleet may be empty: nothing to do is not an error
            _done(
                json_lines,
                [],
                0.0,
                visible(f"shard {shard_spec}: no device of {inventory} falls in this share"),
            )
            return
    try:
        stop_at = parse_until(until, time.time()) if until is not None else None
    except ValueError:
        raise fail(Exit.USAGE, f"--until {until!r}: not an ISO 8601 time or a duration like 8h") from None
    if stop_at is not None and stop_at <= time.time():
        raise fail(Exit.USAGE, f"--until {until!r} is already past")
    if samples is None:
        samples = 0 if stop_at is not None else 1
    opts = CollectOptions(
        samples=samples,
        interval=interval,
        concurrency=concurrency,
        until=stop_at,
        maps_every=maps_every or 1,
        max_connected=max_connected or MAX_CONNECTED,
    )
    started = time.monotonic()
    with open_store(store, create=True, collector=collector, logging_set_up=True) as st:
        progress = progress_view(len(devices), json_lines=json_lines, lines=not quiet, live=not quiet)
        try:
            outcomes = asyncio.run(collect(devices, st, opts, inventory=str(inventory), progress=progress))
            roll_up(st)  # the nights that left the full-resolution window, into the condensed past
        except KeyboardInterrupt:
            progress.finish()
            raise fail(Exit.INTERRUPTED, "stopped; every sample captured so far is stored") from None
        except database_errors(StoreError) as exc:  # evaluated late: psycopg's once loaded
            progress.finish()
            raise fail(Exit.ERROR, f"collect stopped, the store failed: {exc}") from None
        finally:
            progress.finish()  # whatever ends the run (finish twice is nothing)
    seconds = time.monotonic() - started
    _done(json_lines, outcomes, seconds, summarize(outcomes, seconds))


def _done(json_lines: bool, outcomes: list[DeviceOutcome], seconds: float, summary: str) -> None:
    """The summary on stdout: the plain lines, or one ``collect_done`` JSON object with every
    failing device and its reason (docs/interface.md)."""
    if not json_lines:
        typer.echo(summary)
        return
    from fleet.collect.sampler import status_counts

    fields = {
        "devices": len(outcomes),
        "statuses": status_counts(outcomes),
        "samples": sum(o.samples for o in outcomes),
        "failed": [
            {"device": o.name, "status": o.status, "error": o.error} for o in outcomes if o.status != OK
        ],
        "partial": [
            {"device": o.name, "problems": o.problems} for o in outcomes if o.status == OK and o.problems
        ],
        "seconds": round(seconds, 1),
        "exit": 0,
    }
    typer.echo(json_line("info", "collect_done", summary.splitlines()[0], fields, time.time()))
