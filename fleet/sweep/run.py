"""The unattended path: collect, analyse, render, email, prune; one sweep per store at a time.

Everything a nightly run does, without typer: the CLI maps flags and config onto
:class:`SweepPlan` and the :class:`SweepResult` onto an exit code and one summary line.
"""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleet.config import SmtpSettings
from fleet.errors import MailError
from fleet.inventory.model import Device
from fleet.render.openmetrics import render_openmetrics
from fleet.render.report import email_renderer, render_report
from fleet.ssh.outcomes import OK
from fleet.store.parse import parse_pending
from fleet.store.schema import Pruned
from fleet.store.store import Store
from fleet.sweep.mail import build_email, send_email, wire_size
from fleet.sweep.reportdir import (
    dated_report_path,
    prune_reports,
    with_changes,
    write_atomically,
    write_summary,
)
from fleet.text import duration, size, visible
from fleet.view.fleet import FleetView, build_view, worst_severity
from fleet.view.rollup import roll_up

if TYPE_CHECKING:  # asyncssh loads only when a sweep collects: `fleet report` sends mail without it
    from fleet.collect.events import Progress
    from fleet.collect.options import CollectOptions
    from fleet.collect.sampler import DeviceOutcome

log = logging.getLogger("fleet.sweep")


@dataclass(frozen=True)
class SweepPlan:
    devices: Sequence[Device]  # empty with collect=False
    collect: CollectOptions
    report_dir: Path
    smtp: SmtpSettings
    email_to: tuple[str, ...]
    keep_raw_days: float | None
    keep_metrics_days: float | None
    inventory: str | None = None
    do_collect: bool = True
    keep_reports_days: float | None = None  # None: every dated report is kept
    textfile: Path | None = None  # the OpenMetrics export, for node_exporter's textfile collector


@dataclass(frozen=True)
class SweepResult:
    view: FleetView
    report: Path
    outcomes: list[DeviceOutcome]
    emailed: bool
    mail_error: str | None
    pruned: Pruned | None
    seconds: float
    reports_pruned: int = 0
    textfile_error: str | None = None  # why --textfile could not be written (the rest went on)

    def summary(self) -> str:
        """One line for cron mail and journald: what was collected, found, written and sent."""
        v = self.view
        parts = []
        if self.outcomes:
            counts = _status_counts(self.outcomes)
            failed = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()) if s != OK)
            if v.changes and v.changes.newly_failed:
                failed += f"; {len(v.changes.newly_failed)} newly failing"
            parts.append(
                f"collected {counts.get('ok', 0)}/{len(self.outcomes)} devices"
                + (f" ({failed})" if failed else "")
            )
        new = f" ({len(v.changes.new_suspects)} new)" if v.changes and v.changes.new_suspects else ""
        parts.append(f"{len(v.suspects)} of {len(v.devices)} devices suspected of leaking{new}")
        if v.firmware_regressions:  # device text: made visible like every line fleet prints
            r = v.firmware_regressions[0]
            parts.append(visible(f"firmware {r.version} leaks where {r.predecessor} did not"))
        worst = v.worst_forecast()
        if worst is not None and worst.assessment is not None:
            eta = duration(worst.assessment.memory_exhausted_in_s, fixed=True)
            parts.append(f"{worst.name} out of memory in ~{eta}")
        parts.append(f"report {self.report}")
        if self.textfile_error:
            parts.append(f"METRICS NOT WRITTEN: {self.textfile_error}")
        if self.emailed:
            parts.append("emailed")
        elif self.mail_error:
            parts.append(f"EMAIL FAILED: {self.mail_error}")
        parts.append(f"{self.seconds:.0f} s")
        return "fleet sweep: " + "; ".join(parts)

    def fields(self) -> dict[str, Any]:
        """The summary as data, for ``--log-json``."""
        worst, changes = self.view.worst_forecast(), self.view.changes
        return {
            "devices": len(self.outcomes) or len(self.view.devices),
            "statuses": _status_counts(self.outcomes),
            "suspect_devices": [d.name for d in self.view.suspects],
            # since the last sweep's summary in the report directory; null when there is none
            "new_suspects": list(changes.new_suspects) if changes else None,
            "newly_failed": dict(changes.newly_failed) if changes else None,
            "worst_severity": worst_severity(self.view),
            "firmware_regressions": [[r.version, r.predecessor] for r in self.view.firmware_regressions],
            "worst_forecast": worst.name if worst is not None else None,
            "memory_exhausted_in_s": (
                worst.assessment.memory_exhausted_in_s if worst and worst.assessment else None
            ),
            "report": str(self.report),
            "emailed": self.emailed,
            "mail_error": self.mail_error,
            "raw_pruned": self.pruned.raw_dropped if self.pruned else 0,
            "samples_pruned": self.pruned.samples_dropped if self.pruned else 0,
            "rollups_pruned": self.pruned.rollups_dropped if self.pruned else 0,
            "reports_pruned": self.reports_pruned,
            "textfile_error": self.textfile_error,
            "seconds": round(self.seconds, 1),
        }


def email_report(view: FleetView, report: Path, smtp: SmtpSettings, to: tuple[str, ...]) -> str:
    """Send the summary email with the report; returns the sentence saying where the report went.

    The report grows with the fleet (~1-2 KB a device): when the message would be over the mail
    server's size limit it goes zipped (HTML zips ~10x), and when even that is over, the email
    says where the report is on this host instead of bouncing. Raises MailError.
    """
    data = report.read_bytes()
    render = email_renderer(view)
    sent = ""

    def ways(limit: int) -> Iterator[tuple[str, bytes | None, str, tuple[str, str]]]:
        yield f"Full report attached: {report.name}.", data, report.name, ("text", "html")
        html, most = size(len(data), precise=True), size(limit, precise=True)
        over = f"{html} of HTML, over the {most} this mail server takes"
        zipped, name = _zipped(report.name, data), report.stem + ".zip"
        yield f"Full report attached, zipped ({over}): {name}.", zipped, name, ("application", "zip")
        where = f"{report.resolve()} on {socket.gethostname()}"
        yield f"Full report not attached ({over}, even zipped): it is {where}.", None, "", ("", "")

    def compose(limit: int) -> EmailMessage:
        nonlocal sent
        for note, attachment, name, kind in ways(limit):
            subject, text, html = render(note)
            msg = build_email(smtp, to, subject, text, html, attachment, name, kind)
            if attachment is None or wire_size(msg) <= limit - limit // 100:  # 1 %: headers added on the way
                sent = note
                break
        return msg

    send_email(smtp, compose)
    return sent


def _zipped(name: str, data: bytes) -> bytes:
    """``data`` as file ``name`` in a zip archive: every mail client and desktop opens one."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buf.getvalue()


def _status_counts(outcomes: Sequence[DeviceOutcome]) -> dict[str, int]:
    from fleet.collect.sampler import status_counts

    return status_counts(outcomes)


def run_sweep(store: Store, plan: SweepPlan, progress: Progress | None = None) -> SweepResult:
    """Collect (optionally), analyse the whole store, write the dated report, email it, prune.

    Pruning runs before the analysis, so the report shows exactly what the store keeps.
    """
    started = time.monotonic()
    outcomes: list[DeviceOutcome] = []
    if plan.do_collect and plan.devices:
        from fleet.collect.collector import collect

        log.info(
            "collecting %d devices, %d samples %g s apart, into %s",
            len(plan.devices),
            plan.collect.samples,
            plan.collect.interval,
            store.location,
            extra={"event": "collect_start", "fields": {"devices": len(plan.devices)}},
        )
        outcomes = asyncio.run(
            collect(plan.devices, store, plan.collect, inventory=plan.inventory, progress=progress)
        )
        for o in outcomes:
            if o.status != OK:
                log.info(
                    "%s: %s: %s",
                    o.name,
                    o.status,
                    o.error,
                    extra={"event": "device_failed", "fields": {"device": o.name, "status": o.status}},
                )
    parsed = parse_pending(store)
    if parsed:
        log.info("parsed %d pending samples", parsed, extra={"event": "parsed", "fields": {"count": parsed}})
    pruned = None
    if plan.keep_raw_days is not None or plan.keep_metrics_days is not None:
        before = store.size_bytes()
        pruned = store.prune(
            keep_raw_days=plan.keep_raw_days, keep_metrics_days=plan.keep_metrics_days, now=time.time()
        )
        after = store.size_bytes()
        log.info(
            "pruned %d raw captures and %d samples; store %d -> %d bytes",
            pruned.raw_dropped,
            pruned.samples_dropped,
            before,
            after,
            extra={"event": "pruned", "fields": {"bytes_before": before, "bytes_after": after}},
        )
    roll_up(store)  # the nights that left the full-resolution window, into the condensed past
    view = with_changes(build_view(store), plan.report_dir)
    for d in view.analysis_failed:  # shown in the report and the email too; the others are analysed
        fields = {"device": d.name, "error": d.analysis_error}
        log.warning(
            "%s: analysis failed: %s",
            d.name,
            d.analysis_error,
            extra={"event": "analysis_failed", "fields": fields},
        )
    if view.fleet_findings_error:
        log.warning(
            "fleet findings failed: %s", view.fleet_findings_error, extra={"event": "analysis_failed"}
        )
    reports_pruned = 0
    if plan.keep_reports_days is not None:
        reports_pruned = prune_reports(plan.report_dir, view.generated_at - plan.keep_reports_days * 86400)
    report = dated_report_path(plan.report_dir, view.generated_at)
    write_atomically(report, render_report(view))
    log.info("report written to %s", report, extra={"event": "report", "fields": {"path": str(report)}})
    textfile_error = write_textfile(plan.textfile, view) if plan.textfile else None
    emailed, mail_error = False, None
    if plan.email_to:
        try:
            how = email_report(view, report, plan.smtp, plan.email_to)
            emailed = True
            log.info("emailed to %s: %s", ", ".join(plan.email_to), how, extra={"event": "emailed"})
        except MailError as exc:
            mail_error = str(exc)
            log.error(
                "email not sent: %s (the report is kept at %s)",
                mail_error,
                report,
                extra={"event": "mail_failed", "fields": {"report": str(report)}},
            )
    if emailed or not plan.email_to:  # else tomorrow's email still says what this one would have
        write_summary(report, view)
    seconds = time.monotonic() - started
    return SweepResult(
        view, report, outcomes, emailed, mail_error, pruned, seconds, reports_pruned, textfile_error
    )


def write_textfile(path: Path, view: FleetView) -> str | None:
    """The OpenMetrics export of ``view`` at ``path``, atomically (node_exporter's textfile collector
    reads ``*.prom`` files whenever it is scraped, never half of one). A failure is logged and
    returned, not raised: the report and the email still go out, and the sweep exits 1."""
    try:
        write_atomically(path, render_openmetrics(view))
    except OSError as exc:
        why = f"{path}: {exc.strerror or exc}"
        log.error("metrics not written: %s", why, extra={"event": "textfile_failed"})
        return why
    log.info("metrics written to %s", path, extra={"event": "textfile", "fields": {"path": str(path)}})
    return None
