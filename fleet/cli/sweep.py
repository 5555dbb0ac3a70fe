"""`fleet sweep` (the unattended nightly run) and `fleet prune`."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from fleet.cli.common import command_logging, open_store, select_devices, smtp_settings
from fleet.cli.exits import Exit
from fleet.cli.logs import json_line, setup_logging, want_json
from fleet.cli.options import (
    INVENTORY_HELP,
    NO_SMTP_FLAGS,
    ConfigOpt,
    EmailToOpt,
    FailOnOpt,
    JsonOpt,
    KeepReportsOpt,
    LogJsonOpt,
    MapsEveryOpt,
    MaxConnectedOpt,
    OnlyOpt,
    SmtpFlags,
    StoreOpt,
    VerboseOpt,
)
from fleet.cli.progress import progress_view
from fleet.config import ConfigError, load_config
from fleet.errors import Locked, StoreError, UsageError
from fleet.inventory.model import Device
from fleet.store.location import store_location
from fleet.store.store import Store, database_errors, sweep_lock
from fleet.sweep.reportdir import prune_reports
from fleet.text import visible
from fleet.view.fleet import fails
from fleet.view.rollup import roll_up

log = logging.getLogger("fleet")


def sweep_cmd(
    inventory: Annotated[
        Path | None, typer.Argument(help=INVENTORY_HELP + " Omit with --no-collect.")
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    samples: Annotated[int | None, typer.Option(min=1, help="Samples per device (config: 3).")] = None,
    interval: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds between samples (config: 60).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Devices sampled at once (config: 64).")
    ] = None,
    maps_every: MapsEveryOpt = None,
    max_connected: MaxConnectedOpt = None,
    only: OnlyOpt = None,
    no_collect: Annotated[bool, typer.Option("--no-collect", help="Only analyse, report and email.")] = False,
    report_dir: Annotated[
        Path | None, typer.Option("--report-dir", help="Where dated reports go (config: reports).")
    ] = None,
    fail_on: FailOnOpt = None,
    keep_raw_days: Annotated[
        float | None, typer.Option(min=0.0, help="Drop raw captures older than this (config: 14).")
    ] = None,
    keep_metrics_days: Annotated[
        float | None, typer.Option(min=0.0, help="Drop whole samples older than this (config: 365).")
    ] = None,
    keep_reports_days: KeepReportsOpt = None,
    textfile: Annotated[
        Path | None,
        typer.Option(
            "--textfile",
            help="Also write the OpenMetrics export here, atomically (node_exporter's textfile collector).",
        ),
    ] = None,
    email_to: EmailToOpt = None,
    smtp_flags: SmtpFlags = NO_SMTP_FLAGS,  # the --smtp-* and --email-from options (smtp_options)
    log_json: LogJsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Collect, rank, write a dated report and email it: one unattended run for cron or systemd.

    Prints one summary line. Exit 0 ok, 1 failed (or --textfile not written), 2 usage, 3 --fail-on
    finding, 4 another sweep holds the store, 5 email failed (report kept), 130 interrupted.
    """
    from fleet.collect.options import CollectOptions
    from fleet.sweep.run import SweepPlan, run_sweep

    json_lines = want_json(log_json)
    setup_logging(json_lines, verbose)

    def fail(code: Exit, message: str) -> typer.Exit:
        log.error(message, extra={"event": "sweep_failed", "fields": {"exit": int(code)}})
        return typer.Exit(int(code))

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise fail(Exit.USAGE, str(exc)) from None
    sw = cfg.sweep
    smtp = smtp_settings(cfg, smtp_flags)
    devices: tuple[Device, ...] = ()
    if not no_collect:
        if inventory is None:
            raise fail(Exit.USAGE, "sweep needs an INVENTORY (or --no-collect)")
        try:
            _, devices = select_devices(inventory, only, logging_set_up=True)
        except UsageError as exc:
            raise fail(Exit.USAGE, str(exc)) from None
    plan = SweepPlan(
        devices=devices,
        collect=CollectOptions(
            samples=samples or sw.samples,
            interval=sw.interval if interval is None else interval,
            concurrency=concurrency or sw.concurrency,
            maps_every=maps_every or sw.maps_every,
            max_connected=max_connected or sw.max_connected,
        ),
        report_dir=report_dir or Path(sw.report_dir),
        smtp=smtp,
        email_to=tuple(email_to or ()) or smtp.to,
        keep_raw_days=sw.keep_raw_days if keep_raw_days is None else keep_raw_days,
        keep_metrics_days=sw.keep_metrics_days if keep_metrics_days is None else keep_metrics_days,
        inventory=str(inventory) if inventory else None,
        do_collect=not no_collect,
        keep_reports_days=sw.keep_reports_days if keep_reports_days is None else keep_reports_days,
        textfile=textfile,
    )
    progress = progress_view(len(devices), json_lines=json_lines, lines=verbose)
    try:
        with Store(store_location(store), create=True) as st, sweep_lock(st):
            result = run_sweep(st, plan, progress=progress)
    except Locked as exc:
        progress.finish()
        raise fail(Exit.LOCKED, f"{exc}; not starting a second one") from None
    except KeyboardInterrupt:
        progress.finish()
        raise fail(Exit.INTERRUPTED, "sweep interrupted; every sample captured so far is stored") from None
    except database_errors(StoreError, OSError) as exc:  # evaluated late: psycopg's once loaded
        progress.finish()
        raise fail(Exit.ERROR, f"sweep failed: {exc}") from None
    finally:
        progress.finish()  # whatever ends the run (finish twice is nothing)
    code = Exit.OK
    if result.mail_error:
        code = Exit.MAIL_FAILED
    elif result.textfile_error:
        code = Exit.ERROR
    elif fails(result.view, fail_on.value if fail_on else sw.fail_on):
        code = Exit.FINDINGS
    if json_lines:
        fields = {**result.fields(), "exit": int(code)}
        typer.echo(json_line("info", "sweep_done", result.summary(), fields, time.time()))
    else:
        typer.echo(visible(result.summary()))
    if code != Exit.OK:
        raise typer.Exit(int(code))


def prune_cmd(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    keep_raw_days: Annotated[
        float | None, typer.Option(min=0.0, help="Keep raw captures this many days (config: 14).")
    ] = None,
    keep_metrics_days: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Keep parsed samples this many days (config: 365), and the condensed points"
            " (rollups) of older nights until their whole bucket (day, week, 28 or 112 days) is older.",
        ),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", help="Where dated reports are (config: reports)."),
    ] = None,
    keep_reports_days: KeepReportsOpt = None,
    as_json: JsonOpt = False,
    log_json: LogJsonOpt = False,
) -> None:
    """Drop old raw captures (metrics stay), very old samples and old dated reports; the store and
    the report directory stay bounded."""
    json_lines = command_logging(log_json)  # a report that cannot be deleted is a warning
    sw = load_config(config).sweep
    keep_raw = sw.keep_raw_days if keep_raw_days is None else keep_raw_days
    keep_metrics = sw.keep_metrics_days if keep_metrics_days is None else keep_metrics_days
    keep_reports = sw.keep_reports_days if keep_reports_days is None else keep_reports_days
    reports_at = report_dir or Path(sw.report_dir)
    now = time.time()
    with open_store(store, logging_set_up=True) as st:
        before = st.size_bytes()
        pruned = st.prune(keep_raw_days=keep_raw, keep_metrics_days=keep_metrics, now=now)
        roll_up(st)
        after = st.size_bytes()
    reports = 0
    if keep_reports is not None:
        reports = prune_reports(reports_at, now - keep_reports * 86400)
    summary = (
        f"pruned {pruned.raw_dropped} raw captures and {pruned.samples_dropped} samples;"
        f" store {before} -> {after} bytes; {reports} old report files deleted"
        + (f"; {pruned.rollups_dropped} rollups of older nights dropped" if pruned.rollups_dropped else "")
    )
    fields = {  # the names of sweep_done's retention fields
        "raw_pruned": pruned.raw_dropped,
        "samples_pruned": pruned.samples_dropped,
        "reports_pruned": reports,
        "bytes_before": before,
        "bytes_after": after,
        "keep_raw_days": keep_raw,
        "keep_metrics_days": keep_metrics,
        "keep_reports_days": keep_reports,
        "report_dir": str(reports_at),
    }
    if as_json:
        typer.echo(json.dumps(fields, indent=2))
    elif json_lines:
        typer.echo(json_line("info", "prune_done", summary, fields, now))
    else:
        typer.echo(summary)
