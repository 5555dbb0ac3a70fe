"""The unattended path: collect, analyse, render, email, prune; one sweep per store at a time.

Everything a nightly run does, without typer: the CLI maps flags and config onto
:class:`SweepPlan` and the :class:`SweepResult` onto an exit code and one summary line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.collector import CollectOptions, DeviceOutcome, Progress, collect
from fleet.config import SmtpSettings
from fleet.fleetview import FleetView, build_view
from fleet.ingest import parse_pending
from fleet.inventory import Device
from fleet.mail import MailError, build_email, send_email
from fleet.rank import duration_text
from fleet.report import render_email, render_report
from fleet.store import Pruned, Store

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3}


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


@dataclass(frozen=True)
class SweepResult:
    view: FleetView
    report: Path
    outcomes: list[DeviceOutcome]
    emailed: bool
    mail_error: str | None
    pruned: Pruned | None
    seconds: float

    def summary(self) -> str:
        """One line for cron mail and journald."""
        v = self.view
        ok = sum(1 for o in self.outcomes if o.status == "ok")
        parts = []
        if self.outcomes:
            parts.append(f"collected {ok}/{len(self.outcomes)} devices")
        parts.append(f"{len(v.suspects)} suspected leaks on {len(v.devices)} devices")
        worst = v.worst_forecast()
        if worst is not None and worst.assessment is not None:
            eta = duration_text(worst.assessment.memory_exhausted_in_s)
            parts.append(f"{worst.name} out of memory in ~{eta}")
        parts.append(f"report {self.report}")
        if self.emailed:
            parts.append("emailed")
        elif self.mail_error:
            parts.append(f"EMAIL FAILED: {self.mail_error}")
        parts.append(f"{self.seconds:.0f} s")
        return "fleet sweep: " + "; ".join(parts)


def worst_severity(view: FleetView) -> str | None:
    """The most severe finding anywhere in the view (device, process or fleet level)."""
    worst: str | None = None
    for d in view.devices:
        if d.assessment is None:
            continue
        findings = [*d.assessment.findings, *(f for p in d.assessment.processes for f in p.findings)]
        for f in findings:
            if worst is None or SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst]:
                worst = f.severity
    return worst


def fails(view: FleetView, fail_on: str | None) -> bool:
    """``--fail-on high|medium``: is there a finding at least that severe?"""
    if fail_on is None:
        return False
    worst = worst_severity(view)
    return worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK[fail_on]


def write_atomically(path: Path, text: str) -> None:
    """A reader (or a mail attachment) never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fleet-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def dated_report_path(report_dir: Path, now: float) -> Path:
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    return report_dir / f"fleet-report-{stamp}.html"


def email_report(view: FleetView, report: Path, smtp: SmtpSettings, to: tuple[str, ...]) -> None:
    """Send the summary email with the report attached; raises MailError."""
    subject, text, html = render_email(view, report.name)
    msg = build_email(smtp, to, subject, text, html, report.read_bytes(), report.name)
    send_email(smtp, msg)


def run_sweep(store: Store, plan: SweepPlan, progress: Progress | None = None) -> SweepResult:
    """Collect (optionally), analyse the whole store, write the dated report, email it, prune."""
    started = time.monotonic()
    outcomes: list[DeviceOutcome] = []
    if plan.do_collect and plan.devices:
        outcomes = asyncio.run(
            collect(plan.devices, store, plan.collect, inventory=plan.inventory, progress=progress)
        )
    parse_pending(store)
    pruned = None
    if plan.keep_raw_days is not None or plan.keep_metrics_days is not None:
        pruned = store.prune(
            keep_raw_days=plan.keep_raw_days, keep_metrics_days=plan.keep_metrics_days, now=time.time()
        )
    view = build_view(store)
    report = dated_report_path(plan.report_dir, view.generated_at)
    write_atomically(report, render_report(view))
    emailed, mail_error = False, None
    if plan.email_to:
        try:
            email_report(view, report, plan.smtp, plan.email_to)
            emailed = True
        except MailError as exc:
            mail_error = str(exc)
    return SweepResult(view, report, outcomes, emailed, mail_error, pruned, time.monotonic() - started)
