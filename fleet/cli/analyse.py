"""`fleet rank`, `show`, `maps` and `report`: what the store says, for people and scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from fleet.cli.common import fail, fleet_view, open_store, smtp_settings
from fleet.cli.exits import Exit
from fleet.cli.options import NO_SMTP_FLAGS, ConfigOpt, EmailToOpt, FailOnOpt, OnlyOpt, SmtpFlags, StoreOpt
from fleet.config import load_config
from fleet.errors import MailError
from fleet.procfs import ParseError
from fleet.render.rank import device_text, rank_json, rank_text
from fleet.render.report import render_report
from fleet.store.parse import parse_pending
from fleet.sweep.reportdir import with_changes, write_atomically
from fleet.text import decode, visible
from fleet.view.fleet import build_view, fails
from fleet.view.maps import maps_diff_report, maps_report, render_maps_text


def rank_cmd(
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (interface.md).")] = False,
    fail_on: FailOnOpt = None,
    top: Annotated[
        int | None,
        typer.Option("--top", min=1, help="Only the N most suspect devices (--fail-on judges all)."),
    ] = None,
    only: OnlyOpt = None,
) -> None:
    """Rank the devices in the store by leak suspicion."""
    with open_store(store) as st:
        parse_pending(st)
        view = fleet_view(st, only, details=False)
    doc = rank_json(view)
    left_out = len(doc["devices"]) - top if top is not None else 0
    if left_out > 0:
        doc["devices"] = doc["devices"][:top]
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(rank_text(doc))
        if left_out > 0:
            typer.echo(f"... and {left_out} more devices, less suspect (without --top: all)")
    if fails(view, fail_on.value if fail_on else None):
        raise typer.Exit(int(Exit.FINDINGS))


def show_cmd(
    device: Annotated[str, typer.Argument(help="Device name, as fleet rank lists it.")],
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The device's entry of rank --json.")] = False,
) -> None:
    """Everything fleet found on one device: every finding with its evidence, process by process."""
    with open_store(store) as st:
        parse_pending(st)
        rows = [r for r in st.devices() if r.name == device]  # the name itself, not a pattern
        view = build_view(st, details=False, only=[device], rows=rows)
        location = st.location
    entries = [e for e in rank_json(view)["devices"] if e["name"] == device]
    if not entries:
        raise fail(Exit.USAGE, f"{location}: no device named {visible(device)} (fleet rank lists them)")
    typer.echo(json.dumps(entries[0], indent=2) if as_json else device_text(entries[0]))


def maps_cmd(
    files: Annotated[list[Path], typer.Argument(help="A /proc/<pid>/maps dump, or OLD NEW to compare two.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output (interface.md).")] = False,
) -> None:
    """Classify one maps dump (thread stacks, heap, SYSV shm, ...), or show what changed between two."""
    if len(files) > 2:
        raise fail(Exit.USAGE, "maps takes one file, or two to compare")
    texts = []
    for f in files:
        try:
            texts.append(decode(f.read_bytes()))
        except OSError as exc:
            raise fail(Exit.USAGE, f"{f}: cannot read: {exc.strerror}") from None
    try:
        report = maps_report(texts[0]) if len(texts) == 1 else maps_diff_report(texts[0], texts[1])
    except ParseError as exc:
        raise fail(
            Exit.USAGE, f"{files[-1] if len(files) == 1 else ' / '.join(map(str, files))}: {exc}"
        ) from None
    typer.echo(json.dumps(report, indent=2) if as_json else render_maps_text(report), nl=as_json)


def report_cmd(
    store: StoreOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="HTML file to write.")] = None,
    email_to: EmailToOpt = None,
    config: ConfigOpt = None,
    smtp_flags: SmtpFlags = NO_SMTP_FLAGS,  # the --smtp-* and --email-from options (smtp_options)
    only: OnlyOpt = None,
) -> None:
    """Render the HTML report (default reports/fleet-report.html) and optionally email it."""
    from fleet.sweep.run import email_report

    cfg = load_config(config)
    smtp = smtp_settings(cfg, smtp_flags)
    with open_store(store) as st:
        parse_pending(st)
        view = fleet_view(st, only)
    view = with_changes(view, Path(cfg.sweep.report_dir))  # since the last sweep there, if any
    path = output or Path(cfg.sweep.report_dir) / "fleet-report.html"
    write_atomically(path, render_report(view))
    typer.echo(visible(f"report written to {path}"))
    to = tuple(email_to or ()) or smtp.to
    if to:
        try:
            how = email_report(view, path, smtp, to)
        except MailError as exc:
            raise fail(Exit.MAIL_FAILED, f"email not sent: {exc} (the report is kept at {path})") from None
        typer.echo(visible(f"emailed to {', '.join(to)}: {how}"))
