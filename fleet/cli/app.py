"""The command line. Commands stay thin: parse flags, call the package, map outcomes to exit codes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fleet import DISTRIBUTION, __version__
from fleet.config import Config, ConfigError, SmtpSettings, SweepSettings, load_config
from fleet.errors import FleetError, Locked, MailError, StoreError
from fleet.inventory.load import load_inventory
from fleet.inventory.native import Device, InventoryError, shard
from fleet.inventory.native import safe_device_name as _safe_device_name
from fleet.lab.cli import lab_app
from fleet.procfs import ParseError
from fleet.render.rank import device_text, rank_json, rank_text
from fleet.render.report import render_report
from fleet.ssh.outcomes import OK
from fleet.store.location import store_location
from fleet.store.log_import import LogImportError, import_log
from fleet.store.parse import parse_pending
from fleet.store.store import Store, database_errors, sweep_lock
from fleet.sweep.reportdir import prune_reports, with_changes, write_atomically
from fleet.text import decode, parse_time, visible
from fleet.view.fleet import FleetView, build_view, fails
from fleet.view.maps import maps_diff_report, maps_report, render_maps_text

if TYPE_CHECKING:  # the SSH side (asyncssh) is imported only by the commands that connect
    from fleet.collect.sampler import DeviceOutcome


class Exit(IntEnum):
    """Exit codes (documented in the README)."""

    OK = 0
    ERROR = 1  # the run itself failed (store unusable, internal error)
    USAGE = 2  # bad inventory, bad arguments
    FINDINGS = 3  # --fail-on: a finding of that severity exists
    LOCKED = 4  # another sweep holds the store
    MAIL_FAILED = 5  # the report was written but the email could not be sent
    INTERRUPTED = 130  # Ctrl-C (SIGINT); everything captured so far is stored


log = logging.getLogger("fleet")


class _PlainFormatter(logging.Formatter):
    """``fleet: message``: journald and cron add their own timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        level = "warning: " if record.levelno == logging.WARNING else ""
        return f"fleet: {level}{visible(record.getMessage())}"  # messages quote device text


class _JsonFormatter(logging.Formatter):
    """One JSON object per line (``--log-json``, ``FLEET_LOG=json``), for log shippers and jq."""

    def format(self, record: logging.LogRecord) -> str:
        return _json_line(
            record.levelname.lower(),
            getattr(record, "event", None),
            record.getMessage(),
            getattr(record, "fields", None) or {},
            record.created,
        )


def _json_line(level: str, event: str | None, message: str, fields: dict[str, Any], at: float) -> str:
    stamp = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc = {"ts": stamp, "level": level, "event": event, "message": message, **fields}
    return _printable_json(json.dumps(doc, default=str, ensure_ascii=False))


def _printable_json(text: str) -> str:
    """JSON text with every character a terminal could act on escaped: json.dumps escapes only
    C0 controls, so C1 (U+0080-U+009F: CSI, OSC, ...), DEL and the like from a device get ``\\uNNNN``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _json_escape(c) for c in text)


def _json_escape(c: str) -> str:
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _setup_logging(json_lines: bool, verbose: bool) -> None:
    """Log lines go to stderr (journald keeps them); the one summary line goes to stdout.

    Python warnings (a dependency's deprecation, say) become log lines too, so ``--log-json``
    output stays one JSON object per line.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_lines else _PlainFormatter())
    logging.captureWarnings(True)
    for logger in (log, logging.getLogger("py.warnings")):
        logger.handlers[:] = [handler]
        logger.propagate = False
    log.setLevel(logging.INFO if verbose else logging.WARNING)


def _want_json(flag: bool) -> bool:
    return flag or os.environ.get("FLEET_LOG", "").strip().lower() == "json"


LogJsonOpt = Annotated[
    bool, typer.Option("--log-json", help="Log JSON lines instead of plain text (also FLEET_LOG=json).")
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also log each step, not only problems.")]
OnlyOpt = Annotated[list[str] | None, typer.Option("--only", help="Device, group or tag names (repeatable).")]


# Help text is plain text: rich markup would swallow "[default: ...]" and other bracketed words.
# Tracebacks never show local variables (they may hold an SMTP or SSH password).
TYPER_SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,
    "pretty_exceptions_show_locals": False,
    "no_args_is_help": True,
}
app = typer.Typer(
    help="Hunt memory leaks across fleets of embedded Linux devices over plain SSH.", **TYPER_SETTINGS
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fleet {__version__} ({DISTRIBUTION})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Hunt memory leaks across fleets of embedded Linux devices over plain SSH."""


# A string, not a Path: a Path would fold the // of a postgresql:// URL.
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store directory, or a postgresql:// URL shared by many collectors"
        " (default: $FLEET_STORE, else ./fleet-data).",
    ),
]


class FailOn(StrEnum):
    high = "high"
    medium = "medium"


FailOnOpt = Annotated[FailOn | None, typer.Option("--fail-on", help="Exit 3 on a finding this severe.")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings (default: $FLEET_CONFIG, else ./fleet.toml).")
]
EmailToOpt = Annotated[list[str] | None, typer.Option("--email-to", help="Recipient (repeatable).")]
KeepReportsOpt = Annotated[
    float | None,
    typer.Option(min=0.0, help="Delete dated reports older than this many days (config: 90)."),
]
SmtpHostOpt = Annotated[str | None, typer.Option("--smtp-host", help="SMTP server ($FLEET_SMTP_HOST).")]
SmtpPortOpt = Annotated[int | None, typer.Option("--smtp-port", help="SMTP port ($FLEET_SMTP_PORT).")]
SmtpUserOpt = Annotated[str | None, typer.Option("--smtp-user", help="SMTP login ($FLEET_SMTP_USER).")]
SmtpPassEnvOpt = Annotated[
    str | None, typer.Option("--smtp-password-env", help="Variable holding the SMTP password.")
]
StarttlsOpt = Annotated[
    bool | None,
    typer.Option("--smtp-starttls/--no-smtp-starttls", help="Use STARTTLS (default: with --smtp-user)."),
]
PlainAuthOpt = Annotated[
    bool | None,
    typer.Option(
        "--smtp-allow-plaintext-auth/--no-smtp-allow-plaintext-auth",
        help="Allow sending the SMTP password without TLS ($FLEET_SMTP_ALLOW_PLAINTEXT_AUTH).",
    ),
]
SslOpt = Annotated[bool | None, typer.Option("--smtp-ssl/--no-smtp-ssl", help="Implicit TLS (port 465).")]
EmailFromOpt = Annotated[str | None, typer.Option("--email-from", help="Sender address ($FLEET_EMAIL_FROM).")]


app.add_typer(lab_app, name="lab")
inventory_app = typer.Typer(help="Check an inventory before collecting.", **TYPER_SETTINGS)
app.add_typer(inventory_app, name="inventory")


@inventory_app.command("show")
def inventory_show_cmd(
    inventory: Annotated[
        Path, typer.Argument(help="Inventory: fleet YAML or an Ansible INI/YAML inventory.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    only: OnlyOpt = None,
) -> None:
    """Print the resolved devices (address, login, keys, host keys, jump hosts, and where each
    setting came from) without contacting any of them."""
    from fleet.inventory.show import inventory_json, render_text

    try:
        inv = load_inventory(inventory)
    except InventoryError as exc:
        raise _fail(Exit.USAGE, str(exc)) from None
    devices = inv.select(only)
    if not devices:
        raise _fail(Exit.USAGE, f"{inventory}: --only {' '.join(only or [])} matches no device")
    if as_json:
        typer.echo(json.dumps(inventory_json(inv, devices), indent=2))
    else:
        typer.echo(render_text(inv, devices))


def _load_config(path: Path | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(Exit.USAGE, str(exc)) from None


def _smtp(
    config: Config,
    host: str | None,
    port: int | None,
    user: str | None,
    password_env: str | None,
    starttls: bool | None,
    ssl: bool | None,
    sender: str | None,
    allow_plaintext_auth: bool | None = None,
) -> SmtpSettings:
    """Flags over environment over config file."""
    flags: dict[str, Any] = {
        "host": host,
        "port": port,
        "user": user,
        "password_env": password_env,
        "starttls": starttls,
        "ssl": ssl,
        "sender": sender,
        "allow_plaintext_auth": allow_plaintext_auth,
    }
    return replace(config.smtp, **{k: v for k, v in flags.items() if v is not None})


def _fail(code: Exit, message: str) -> typer.Exit:
    typer.echo(f"fleet: {visible(message)}", err=True)  # messages quote file names and device text
    return typer.Exit(int(code))


def _open_store(store: str | None, *, create: bool = False, collector: str | None = None) -> Store:
    _setup_logging(_want_json(False), verbose=False)  # the store may warn (fleet.store.sqlite._warn_if_open)
    try:
        return Store(store_location(store), create=create, collector=collector)
    except StoreError as exc:
        raise _fail(Exit.ERROR, str(exc)) from None


def _parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N; raises ValueError."""
    k, _, n = text.partition("/")
    kn = int(k), int(n)
    if not 1 <= kn[0] <= kn[1]:
        raise ValueError(text)
    return kn


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
        if outcome.status != OK:
            self.failed += 1
        sys.stderr.write(f"\r{self.done}/{self.total} devices sampled, {self.failed} failures ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")


# Failed (or partial) devices named per status in the summary; a site down must not bury the one
# wrong key under 300 "unreachable" lines, and `fleet rank` lists every device with its error.
SHOWN_PER_STATUS = 10


def summarize(outcomes: list[DeviceOutcome], seconds: float) -> str:
    """The end-of-run summary: counts by status, then a line per failed or partial device, at most
    SHOWN_PER_STATUS of each status, and how many more."""
    from fleet.collect.sampler import status_counts

    by_status = status_counts(outcomes)
    samples = sum(o.samples for o in outcomes)
    ok = by_status.get(OK, 0)
    counts = ", ".join(f"{s} {n}" for s, n in sorted(by_status.items()) if s != OK)
    lines = [
        f"collected {ok}/{len(outcomes)} devices, {samples} samples in {seconds:.1f} s"
        + (f" ({counts})" if counts else "")
    ]
    seen: Counter[str] = Counter()
    for o in outcomes:
        if o.status != OK:
            kind, line = o.status, f"  {o.name}: {o.status}: {o.error}"
        elif o.problems:
            kind, line = "partial sample", f"  {o.name}: partial sample: {'; '.join(o.problems[:3])}"
        else:
            continue
        seen[kind] += 1
        if seen[kind] <= SHOWN_PER_STATUS:
            lines.append(line)
    for kind, n in sorted(seen.items()):
        if n > SHOWN_PER_STATUS:
            lines.append(f"  ... and {n - SHOWN_PER_STATUS} more {kind} (fleet rank lists every device)")
    return "\n".join(visible(line) for line in lines)  # device text cannot drive the terminal


MapsEveryOpt = Annotated[
    int | None,
    typer.Option(
        "--maps-every",
        min=1,
        help="On a kept connection, read slabinfo and every process's maps, cmdline and thread names on"
        " 1 sample in N; the others skip slabinfo and"
        " read them for new or changed (VmSize, threads) processes only and copy the rest from the"
        " sample before: less device CPU and bytes. [collect: 1; sweep: config maps_every, 3]",
    ),
]


MAX_CONNECTED = SweepSettings().max_connected  # = fleet.collect.options.MAX_CONNECTED (a test checks)
MaxConnectedOpt = Annotated[
    int | None,
    typer.Option(
        "--max-connected",
        min=1,
        help="Several samples on kept connections: devices connected at once; the next device starts"
        " its samples when one is done (fewer under a low open-file limit)."
        f" [collect: {MAX_CONNECTED}; sweep: config max_connected, {MAX_CONNECTED}]",
    ),
]


@app.command("collect")
def collect_cmd(
    inventory: Annotated[Path, typer.Argument(help="Inventory YAML (see inventory/example.yaml).")],
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
) -> None:
    """Capture /proc from every device in the inventory into the store."""
    from fleet.collect.collector import collect, parse_until
    from fleet.collect.options import CollectOptions

    try:
        inv = load_inventory(inventory)
    except InventoryError as exc:
        raise _fail(Exit.USAGE, str(exc)) from None
    devices = inv.select(only)
    if not devices:
        raise _fail(Exit.USAGE, f"{inventory}: --only {' '.join(only or [])} matches no device")
    if shard_spec is not None:
        try:
            devices = shard(devices, *_parse_shard(shard_spec))
        except ValueError:
            raise _fail(Exit.USAGE, f"--shard {shard_spec!r}: not K/N with 1 <= K <= N") from None
        if not devices:  # a share of a small fleet may be empty: nothing to do is not an error
            typer.echo(visible(f"shard {shard_spec}: no device of {inventory} falls in this share"))
            return
    try:
        stop_at = parse_until(until, time.time()) if until is not None else None
    except ValueError:
        raise _fail(Exit.USAGE, f"--until {until!r}: not an ISO 8601 time or a duration like 8h") from None
    if stop_at is not None and stop_at <= time.time():
        raise _fail(Exit.USAGE, f"--until {until!r} is already past")
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
    progress = _TerminalProgress(len(devices))
    started = time.monotonic()
    with _open_store(store, create=True, collector=collector) as st:
        try:
            outcomes = asyncio.run(collect(devices, st, opts, inventory=str(inventory), progress=progress))
        except KeyboardInterrupt:
            progress.finish()
            typer.echo("fleet: stopped; every sample captured so far is stored", err=True)
            raise typer.Exit(130) from None
        except database_errors(StoreError) as exc:  # evaluated late: psycopg's once loaded
            progress.finish()
            raise _fail(Exit.ERROR, f"collect stopped, the store failed: {exc}") from None
    progress.finish()
    typer.echo(summarize(outcomes, time.monotonic() - started))


@app.command("rank")
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
    with _open_store(store) as st:
        parse_pending(st)
        view = _view(st, only, details=False)
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


@app.command("show")
def show_cmd(
    device: Annotated[str, typer.Argument(help="Device name, as fleet rank lists it.")],
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="The device's entry of rank --json.")] = False,
) -> None:
    """Everything fleet found on one device: every finding with its evidence, process by process."""
    with _open_store(store) as st:
        parse_pending(st)
        view = build_view(st, details=False, only=[device])
        location = st.location
    entries = [e for e in rank_json(view)["devices"] if e["name"] == device]
    if not entries:
        raise _fail(Exit.USAGE, f"{location}: no device named {visible(device)} (fleet rank lists them)")
    typer.echo(json.dumps(entries[0], indent=2) if as_json else device_text(entries[0]))


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
        first = parse_time(start) if start else None
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
        visible(
            f"imported {result.samples} samples of {device} ({result.kind}) from {log}"
            + (f"; {result.skipped} unrecognised lines skipped" if result.skipped else "")
        )
    )


def _view(st: Store, only: list[str] | None, *, details: bool = True) -> FleetView:
    """The fleet view of rank and report, of the devices ``--only`` names (by name, group or tag)."""
    view = build_view(st, details=details, only=only)
    if only and not view.devices:
        raise _fail(Exit.USAGE, f"{st.location}: --only {' '.join(only)} matches no device in the store")
    return view


@app.command("report")
def report_cmd(
    store: StoreOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="HTML file to write.")] = None,
    email_to: EmailToOpt = None,
    config: ConfigOpt = None,
    smtp_host: SmtpHostOpt = None,
    smtp_port: SmtpPortOpt = None,
    smtp_user: SmtpUserOpt = None,
    smtp_password_env: SmtpPassEnvOpt = None,
    smtp_starttls: StarttlsOpt = None,
    smtp_ssl: SslOpt = None,
    smtp_allow_plaintext_auth: PlainAuthOpt = None,
    email_from: EmailFromOpt = None,
    only: OnlyOpt = None,
) -> None:
    """Render the HTML report (default reports/fleet-report.html) and optionally email it."""
    from fleet.sweep.run import email_report

    cfg = _load_config(config)
    smtp = _smtp(
        cfg,
        smtp_host,
        smtp_port,
        smtp_user,
        smtp_password_env,
        smtp_starttls,
        smtp_ssl,
        email_from,
        smtp_allow_plaintext_auth,
    )
    with _open_store(store) as st:
        parse_pending(st)
        view = _view(st, only)
    view = with_changes(view, Path(cfg.sweep.report_dir))  # since the last sweep there, if any
    path = output or Path(cfg.sweep.report_dir) / "fleet-report.html"
    write_atomically(path, render_report(view))
    typer.echo(visible(f"report written to {path}"))
    to = tuple(email_to or ()) or smtp.to
    if to:
        try:
            how = email_report(view, path, smtp, to)
        except MailError as exc:
            raise _fail(Exit.MAIL_FAILED, f"email not sent: {exc} (the report is kept at {path})") from None
        typer.echo(visible(f"emailed to {', '.join(to)}: {how}"))


@app.command("sweep")
def sweep_cmd(
    inventory: Annotated[Path | None, typer.Argument(help="Inventory YAML (omit with --no-collect).")] = None,
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
    email_to: EmailToOpt = None,
    smtp_host: SmtpHostOpt = None,
    smtp_port: SmtpPortOpt = None,
    smtp_user: SmtpUserOpt = None,
    smtp_password_env: SmtpPassEnvOpt = None,
    smtp_starttls: StarttlsOpt = None,
    smtp_ssl: SslOpt = None,
    smtp_allow_plaintext_auth: PlainAuthOpt = None,
    email_from: EmailFromOpt = None,
    log_json: LogJsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Collect, rank, write a dated report and email it: one unattended run for cron or systemd.

    Prints one summary line. Exit 0 ok, 1 failed, 2 usage, 3 --fail-on finding, 4 another sweep holds
    the store, 5 email failed (report kept), 130 interrupted.
    """
    from fleet.collect.options import CollectOptions
    from fleet.sweep.run import SweepPlan, run_sweep

    json_lines = _want_json(log_json)
    _setup_logging(json_lines, verbose)

    def fail(code: Exit, message: str) -> typer.Exit:
        log.error(message, extra={"event": "sweep_failed", "fields": {"exit": int(code)}})
        return typer.Exit(int(code))

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise fail(Exit.USAGE, str(exc)) from None
    sw = cfg.sweep
    smtp = _smtp(
        cfg,
        smtp_host,
        smtp_port,
        smtp_user,
        smtp_password_env,
        smtp_starttls,
        smtp_ssl,
        email_from,
        smtp_allow_plaintext_auth,
    )
    devices: tuple[Device, ...] = ()
    if not no_collect:
        if inventory is None:
            raise fail(Exit.USAGE, "sweep needs an INVENTORY (or --no-collect)")
        try:
            devices = load_inventory(inventory).select(only)
        except InventoryError as exc:
            raise fail(Exit.USAGE, str(exc)) from None
        if not devices:
            raise fail(Exit.USAGE, f"{inventory}: --only {' '.join(only or [])} matches no device")
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
    )
    progress = _TerminalProgress(len(devices))
    try:
        with Store(store_location(store), create=True) as st, sweep_lock(st):
            result = run_sweep(st, plan, progress=progress)
    except Locked as exc:
        raise fail(Exit.LOCKED, f"{exc}; not starting a second one") from None
    except KeyboardInterrupt:
        progress.finish()
        raise fail(Exit.INTERRUPTED, "sweep interrupted; every sample captured so far is stored") from None
    except database_errors(StoreError, OSError) as exc:  # evaluated late: psycopg's once loaded
        progress.finish()
        raise fail(Exit.ERROR, f"sweep failed: {exc}") from None
    progress.finish()
    code = Exit.OK
    if result.mail_error:
        code = Exit.MAIL_FAILED
    elif fails(result.view, fail_on.value if fail_on else sw.fail_on):
        code = Exit.FINDINGS
    if json_lines:
        fields = {**result.fields(), "exit": int(code)}
        typer.echo(_json_line("info", "sweep_done", result.summary(), fields, time.time()))
    else:
        typer.echo(visible(result.summary()))
    if code != Exit.OK:
        raise typer.Exit(int(code))


@app.command("prune")
def prune_cmd(
    store: StoreOpt = None,
    config: ConfigOpt = None,
    keep_raw_days: Annotated[
        float | None, typer.Option(min=0.0, help="Keep raw captures this many days (config: 14).")
    ] = None,
    keep_metrics_days: Annotated[
        float | None, typer.Option(min=0.0, help="Keep parsed samples this many days (config: 365).")
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", help="Where dated reports are (config: reports)."),
    ] = None,
    keep_reports_days: KeepReportsOpt = None,
) -> None:
    """Drop old raw captures (metrics stay), very old samples and old dated reports; the store and
    the report directory stay bounded."""
    _setup_logging(json_lines=False, verbose=False)  # a report that cannot be deleted is a warning
    sw = _load_config(config).sweep
    keep_raw = sw.keep_raw_days if keep_raw_days is None else keep_raw_days
    keep_metrics = sw.keep_metrics_days if keep_metrics_days is None else keep_metrics_days
    keep_reports = sw.keep_reports_days if keep_reports_days is None else keep_reports_days
    now = time.time()
    with _open_store(store) as st:
        before = st.size_bytes()
        pruned = st.prune(keep_raw_days=keep_raw, keep_metrics_days=keep_metrics, now=now)
        after = st.size_bytes()
    reports = 0
    if keep_reports is not None:
        reports = prune_reports(report_dir or Path(sw.report_dir), now - keep_reports * 86400)
    typer.echo(
        f"pruned {pruned.raw_dropped} raw captures and {pruned.samples_dropped} samples;"
        f" store {before} -> {after} bytes; {reports} old report files deleted"
    )


def main() -> None:
    """Console entry point: any fleet error a command leaves uncaught exits with its class's code."""
    _setup_logging(_want_json(False), verbose=False)  # commands that log more set it up again
    try:
        app()
    except FleetError as exc:
        typer.echo(f"fleet: {visible(str(exc))}", err=True)
        sys.exit(exc.exit_code)
