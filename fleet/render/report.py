"""The HTML report and its email body, rendered from a :class:`FleetView` with jinja2.

Every string shown comes from devices that may be broken or hostile: autoescape is on, and a
finalizer makes control characters visible (``\\x1b``) so they cannot disturb the page. The report
is one self-contained file: inline CSS and one inline script (table sorting), both allowed by hash in
a Content-Security-Policy that forbids everything else (no network, no other scripts, no frames).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup

from fleet.analysis.fleet import version_key
from fleet.analysis.model import LEAK_KINDS, SEVERITIES, SEVERITY_ORDER, ProcessAssessment
from fleet.render.charts import REPORT_KEEPS, line_chart, sparkline
from fleet.render.rank import evidence_text, rank_json, top_finding
from fleet.ssh.outcomes import OK
from fleet.text import duration, iso, size, visible
from fleet.view.fleet import DeviceView, FleetView

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (t) { t.classList.add('js'); });
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.tabIndex = 0;
  th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { th.click(); } });
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-sort') || a.cells[col].textContent;
      var y = b.cells[col].getAttribute('data-sort') || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _visible(value: Any) -> Any:
    """Finalizer: control characters from devices become visible escapes, never raw bytes."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value, keep=REPORT_KEEPS)
    return value


# Series a finding of each kind is about: its process gets one chart per series (RSS always).
CHART_SERIES = {
    "thread_leak": ("threads", "stack_count"),
    "unjoined_threads": ("stack_count", "threads"),
    "stack_growth": ("stack_count",),
    "fd_leak": ("fds",),
}
SERIES_TITLES = {
    "rss": "RSS",
    "threads": "threads",
    "stack_count": "thread-stack mappings",
    "fds": "open fds",
}


def chart_series(process: ProcessAssessment) -> list[str]:
    """The metrics worth a chart for one suspect process: RSS plus what its findings are about."""
    wanted = ["rss"]
    for f in process.findings:
        for metric in CHART_SERIES.get(f.kind, ()):
            if metric not in wanted:
                wanted.append(metric)
    return [m for m in wanted if len(process.series(m)) > 1]


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def environment() -> jinja2.Environment:
    """One environment per process: it caches the compiled templates (compiling them is ~0.3 s,
    more than rendering a small fleet's report)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fleet.render", "templates"),
        autoescape=lambda name: name is None or ".html" in name,  # only the .txt email is not HTML
        undefined=jinja2.StrictUndefined,
        finalize=_visible,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        human=functools.partial(size, precise=True),
        duration=functools.partial(duration, fixed=True),
        iso=iso,
        evidence=evidence_text,
    )
    env.globals.update(
        sparkline=sparkline, line_chart=line_chart, chart_series=chart_series, series_titles=SERIES_TITLES
    )
    return env


def severity_counts(view: FleetView) -> dict[str, int]:
    """Findings of each severity over every device and process: the summary's second number."""
    counts = dict.fromkeys(reversed(SEVERITIES), 0)  # most severe first
    for f in view.findings():
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


def subject_line(view: FleetView) -> str:
    """``fleet: 3 leaking devices (1 new), cam-014 out of memory in ~2 days``; ``fleet (cameras): ...``
    for the devices ``--only`` named; "new" since the last sweep (fleet.changes), when known."""
    suspects = view.suspects
    fleet = f"fleet ({' '.join(view.only)})" if view.only else "fleet"
    if not suspects:
        text = f"{fleet}: no leaks found on {len(view.devices)} devices"
    else:
        n = len(suspects)
        text = f"{fleet}: {n} leaking device{'s' if n != 1 else ''}"
        if view.changes and view.changes.new_suspects:
            text += f" ({len(view.changes.new_suspects)} new)"
        worst = view.worst_forecast()
        if worst is not None and worst.assessment and worst.assessment.memory_exhausted_in_s is not None:
            eta = duration(worst.assessment.memory_exhausted_in_s, fixed=True)
            text += f", {worst.name} out of memory in ~{eta}"
        else:
            text += f", worst {suspects[0].name}"
    failed = len(view.failed)
    if failed:
        text += f"; {failed} unreachable or failed"
    if view.analysis_failed:
        n = len(view.analysis_failed)
        text += f"; {n} analysis error{'s' if n != 1 else ''}"
    return text


GROUP_LIMIT = 12  # groups shown before the rest fold away (a group per site makes hundreds)


@dataclass(frozen=True)
class GroupRow:
    name: str
    devices: int
    reachable: int
    suspects: int
    high: int  # suspect devices with a high-severity finding


def group_rows(view: FleetView) -> list[GroupRow]:
    """Devices, reachable ones and suspects per inventory group, most suspects first: with many
    product lines, which one is in trouble. A device counts in each of its groups; empty when no
    device has a group."""
    members: dict[str, list[DeviceView]] = {}
    for d in view.devices:
        for g in d.row.groups:
            members.setdefault(g, []).append(d)
    rows = [
        GroupRow(
            name,
            len(ds),
            sum(d.row.status == OK for d in ds),
            sum(d.suspect for d in ds),
            sum(d.suspect and _has_high(d) for d in ds),
        )
        for name, ds in members.items()
    ]
    return sorted(rows, key=lambda r: (-r.suspects, -r.suspects / r.devices, r.name))


@dataclass(frozen=True)
class FirmwareRow:
    version: str | None  # None: devices that named no firmware (no file found, or not sampled yet)
    devices: int
    suspects: int
    top_kind: str | None  # the finding kind most suspects running it have
    top_count: int  # how many suspects have it


def firmware_rows(view: FleetView) -> list[FirmwareRow]:
    """Devices, suspects and their top finding kind (the most severe, then the most common) per
    firmware version, the newest first (version order), devices of unknown firmware last: which
    firmware leaks. Empty when no device names its firmware."""
    members: dict[str | None, list[DeviceView]] = {}
    for d in view.devices:
        members.setdefault(d.firmware, []).append(d)
    if set(members) <= {None}:
        return []
    rows = []
    for version, ds in members.items():
        kinds: Counter[str] = Counter()  # suspects with each kind
        worst: dict[str, int] = {}  # the kind's most severe finding among them
        for d in ds:
            if d.suspect and d.assessment is not None:
                found = [f for f in d.assessment.all_findings if f.severity != "info"]
                kinds.update({f.kind for f in found})
                for f in found:
                    worst[f.kind] = max(worst.get(f.kind, 0), SEVERITY_ORDER[f.severity])
        # a tie goes to a process's leak, which names the program to fix
        ranked = sorted(kinds, key=lambda k: (-worst[k], -kinds[k], k not in LEAK_KINDS, k))
        top = (ranked[0], kinds[ranked[0]]) if ranked else None
        rows.append(
            FirmwareRow(
                version,
                len(ds),
                sum(d.suspect for d in ds),
                top[0] if top else None,
                top[1] if top else 0,
            )
        )
    rows.sort(key=lambda r: version_key(r.version or ""), reverse=True)
    rows.sort(key=lambda r: r.version is None)  # stable: unknown last
    return rows


def _has_high(d: DeviceView) -> bool:
    return d.assessment is not None and any(f.severity == "high" for f in d.assessment.all_findings)


# Device settings worth a warning next to its status (DeviceRow.flags, written by the collector).
FLAG_WORDS = {
    "legacy_algorithms": ("legacy SSH", "needed legacy_algorithms: old key exchange, ciphers or host keys"),
    "algorithm_overrides": ("custom SSH algorithms", "explicit algorithm lists in the inventory"),
    "host_key_checking_off": ("host key NOT checked", "host_key_checking: off - anyone could answer for it"),
}


def _context(view: FleetView) -> dict[str, Any]:
    doc = rank_json(view)
    return {
        "view": view,
        "doc": doc,
        "entries": {d["name"]: d for d in doc["devices"]},
        "top_finding": top_finding,
        "severities": severity_counts(view),
        "subject": subject_line(view),
        "flag_words": FLAG_WORDS,
        "worst": view.worst_forecast(),
        "changes": view.changes,
        "groups": group_rows(view),
        "firmware_rows": firmware_rows(view),
        "group_limit": GROUP_LIMIT,
        "new_suspects": set(view.changes.new_suspects) if view.changes else set(),
        "suspect_history": suspect_history(view),
    }


def suspect_history(view: FleetView) -> list[tuple[float, float]]:
    """Suspected devices at each earlier sweep and now, for a chart; empty under three sweeps."""
    if view.changes is None or len(view.changes.history) < 2:
        return []
    now = (view.generated_at, float(len(view.suspects)))
    return [(at, float(n)) for at, n, _ in view.changes.history] + [now]


# Suspect devices that get charts, sparklines and maps evidence; the rest get findings and a short
# process table. Keeps a 1,000-device report small enough to email (numbers in the README).
DETAIL_LIMIT = 50


def render_report(view: FleetView, detail_limit: int = DETAIL_LIMIT) -> str:
    """The full, self-contained HTML report."""
    env = environment()
    css = (env.loader.get_source(env, "report.css")[0]) if env.loader else ""
    csp = (
        "default-src 'none'; img-src data:; base-uri 'none'; form-action 'none'; "
        f"script-src {_csp_hash(SORT_SCRIPT)}; style-src {_csp_hash(css)}"
    )
    template = env.get_template("report.html.j2")
    return template.render(
        **_context(view),
        csp=csp,
        css=Markup(css),
        sort_script=Markup(SORT_SCRIPT),
        detail_limit=detail_limit,
    )


def render_email(view: FleetView, report_note: str) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the email: inline CSS, no script, no SVG. ``report_note``: one
    sentence saying where the full report is (attached, zipped, or on the collector)."""
    return email_renderer(view)(report_note)


def email_renderer(view: FleetView) -> Callable[[str], tuple[str, str, str]]:
    """:func:`render_email` for one view and any note: the ranking behind it (seconds for 10,000
    devices) is worked out once, however many notes the mail server's size limit makes us try."""
    ctx = _context(view)
    env = environment()

    def render(report_note: str) -> tuple[str, str, str]:
        html = env.get_template("email.html.j2").render(**ctx, report_note=report_note)
        text = env.get_template("email.txt.j2").render(**ctx, report_note=report_note)
        return ctx["subject"], text, html

    return render
