"""Rendering without a lab: empty and failed-only stores, generated fleets, hostile strings, CSP."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fleet.analysis.model import DeviceAssessment, Finding, ProcessAssessment
from fleet.cli.app import app
from fleet.config import SmtpSettings
from fleet.render.charts import line_chart, sparkline
from fleet.render.report import render_email, render_report, subject_line
from fleet.store.schema import DeviceRow
from fleet.store.store import Store
from fleet.sweep.mail import build_email, header_safe
from fleet.view.fleet import DeviceView, FleetView, build_view
from tests.report.conftest import synthetic_store

HOSTILE = "<script>document.title='PWNED'</script>\r\nBcc: victim@example.net\x1b[31m\udcff\"'&"


def _report(store: Path, tmp_path: Path) -> str:
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--store", str(store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out.read_text(encoding="utf-8")


def test_empty_store_renders_a_report_that_says_so(tmp_path: Path) -> None:
    Store(tmp_path / "s", create=True).close()
    html = _report(tmp_path / "s", tmp_path)
    assert "fleet: no leaks found on 0 devices" in html
    assert "holds no device yet" in html


def test_store_with_only_unreachable_devices(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "s", devices=0, unreachable=3)
    html = _report(store, tmp_path)
    assert "3 unreachable or failed" in html
    assert html.count("Connect call failed") >= 6  # ranking table and the failed-devices table
    assert 'id="failed"' in html and "Devices in detail" in html


def test_generated_fleet_has_every_section(tmp_path: Path) -> None:
    html = _report(synthetic_store(tmp_path / "s", devices=6, unreachable=1), tmp_path)
    for part in (
        "Fleet findings",
        "Devices by leak suspicion",
        "Unreachable and failed devices",
        "MemAvailable",
        "Processes",
        'class="chart"',
        'class="spark"',
        "thread_leak",
    ):
        assert part in html, part
    # Ranked: the leaking devices come first in the table.
    names = re.findall(r'<td class="name"><a href="#dev-\d+">([^<]+)</a>', html)
    assert names[:4] == sorted(names[:4], key=lambda n: int(n[-3:]) % 3 != 0) and names[0][-3:] in (
        "000",
        "003",
    )


def test_csp_is_restrictive_and_matches_the_one_style_and_script(tmp_path: Path) -> None:
    html = _report(synthetic_store(tmp_path / "s", devices=3), tmp_path)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp
    text = unescape(csp.group(1))
    policy = dict(p.strip().split(" ", 1) for p in text.split(";"))
    assert policy["default-src"] == "'none'" and policy["form-action"] == "'none'"
    assert "unsafe" not in text and "http" not in text and "*" not in text
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/=]+'", policy["script-src"])
    assert html.count("<script") == 1 and html.count("<style") == 1
    # Nothing is loaded from anywhere: no src/href other than in-page anchors.
    assert not re.search(r'(src|href)="(?!#)', html)


def _hostile_view() -> FleetView:
    proc = ProcessAssessment(
        pid=7,
        start_time=1,
        name=HOSTILE,
        exe="/opt/" + HOSTILE,
        cmdline=HOSTILE,
        score=0.9,
        findings=(Finding("thread_leak", "high", f"{HOSTILE} leaks", {"thread_name": HOSTILE}),),
        times=(0.0, 60.0),
        rss=(1, 2),
        threads=(1, 9),
        stack_count=(1, 9),
        fds=(3, 3),
    )
    a = DeviceAssessment(
        HOSTILE,
        0.9,
        3600.0,
        None,
        (),
        (proc,),
        samples=2,
        first_sample=0.0,
        last_sample=60.0,
        mem_available=((0.0, 10), (60.0, 5)),
    )
    row = DeviceRow(HOSTILE, HOSTILE, (HOSTILE,), (), "ok", None, 60.0, 2, 0.0, 60.0)
    bad = replace(row, name="x\r\nSubject: forged", status="unreachable", error=HOSTILE)
    return FleetView(60.0, (DeviceView(row, a), DeviceView(bad, None)), store=HOSTILE)


def test_hostile_strings_are_escaped_in_report_and_email() -> None:
    view = _hostile_view()
    for html in (render_report(view), render_email(view, "r.html")[2]):
        assert "<script>document" not in html
        assert "&lt;script&gt;document.title=" in html
        assert "\x1b" not in html and "\r" not in html and "\udcff" not in html
        assert "\\x1b[31m" in html  # control characters shown, visibly
    assert "Subject: forged" not in render_report(view).split("<body>")[0]


def test_subject_and_headers_cannot_be_injected() -> None:
    """CR/LF in a device name, sender or recipient never starts a header line of its own."""
    view = _hostile_view()
    subject = subject_line(view)
    assert "forged" in subject or HOSTILE[:10] in subject  # the hostile names do reach the subject
    msg = build_email(
        SmtpSettings(sender="fleet@x\r\nBcc: a@b"),
        ("ops@x\nBcc: c@d",),
        subject,
        "t",
        "<p>h</p>",
        b"<html></html>",
        "r\r\nX-Evil: 1.html",
    )
    head = msg.as_bytes().split(b"\n\n", 1)[0]
    names = {line.split(b":", 1)[0] for line in head.splitlines() if line and not line[:1].isspace()}
    assert names <= {b"Subject", b"From", b"To", b"Date", b"Message-ID", b"MIME-Version", b"Content-Type"}
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"] and len(msg["Subject"]) <= 200
    assert msg["Subject"] == header_safe(subject)
    assert b"X-Evil" not in b"".join(line for line in msg.as_bytes().splitlines() if line[:6] == b"X-Evil")


def test_email_html_is_mail_client_safe() -> None:
    _, text, html = render_email(build_view_for_email(), "fleet-report.html")
    lower = html.lower()
    for banned in (
        "<script",
        "<svg",
        "<style",
        "<link",
        "<img",
        "<iframe",
        "javascript:",
        "http://",
        "https://",
    ):
        assert banned not in lower, banned
    assert "Top suspects" in html and "fleet-report.html" in text


def build_view_for_email() -> FleetView:
    return _hostile_view()


def test_charts_are_numbers_and_escaped_labels_only() -> None:
    svg = line_chart([(0.0, 1.0), (10.0, 5.0)], title=HOSTILE, unit="count")
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert sparkline([(0.0, 1.0)]) == ""
    assert "<polyline" in sparkline([(0.0, 1.0), (1.0, 2.0)], label=HOSTILE)


def _forecast_device(name: str, score: float, eta: float) -> DeviceView:
    a = DeviceAssessment(name, score, eta, None, (), (), samples=3, first_sample=0.0, last_sample=120.0)
    return DeviceView(DeviceRow(name, "127.0.0.1", (), (), "ok", None, 120.0, 3, 0.0, 120.0), a)


def test_only_a_suspect_forecast_makes_the_headline() -> None:
    """A low-severity MemAvailable decline (three samples) forecasts 30 min on a device that is no
    suspect: it stays in that device's details, the headline names the suspect's 3 days."""
    calm = _forecast_device("cam-calm", 0.3, 1800.0)
    leaking = _forecast_device("cam-leak", 0.8, 3 * 86400.0)
    view = FleetView(120.0, (leaking, calm), store="s")
    assert view.worst_forecast() is leaking
    assert subject_line(view) == "fleet: 1 leaking device, cam-leak out of memory in ~3.0 d"
    alone = FleetView(120.0, (calm,), store="s")
    assert alone.worst_forecast() is None and subject_line(alone) == "fleet: no leaks found on 1 devices"
    assert "no suspect device forecast to run out of memory" in render_report(alone)
    assert 'until <span class="mono">cam-leak</span> runs out of memory' in render_report(view)


def test_report_of_generated_store_via_build_view(tmp_path: Path) -> None:
    with Store(synthetic_store(tmp_path / "s", devices=3), create=False) as st:
        view = build_view(st)
    assert subject_line(view).startswith("fleet: 1 leaking device")


def test_devices_reached_with_weakened_ssh_are_flagged(tmp_path: Path) -> None:
    """legacy_algorithms and host_key_checking: off are visible next to the device, and in rank --json."""
    store_dir = tmp_path / "s"
    with Store(store_dir, create=True) as st:
        old = st.device_id("cam-old", "127.0.0.9")
        st.set_device_flags(old, ["legacy_algorithms", "host_key_checking_off"])
        st.record_attempt(old, None, "unreachable", "Connect call failed", 0.1)
        new = st.device_id("cam-new", "127.0.0.10")
        st.record_attempt(new, None, "unreachable", "Connect call failed", 0.1)
    html = _report(store_dir, tmp_path)
    assert html.count("legacy SSH") == 1 and html.count("host key NOT checked") == 1
    doc = json.loads(CliRunner().invoke(app, ["rank", "--store", str(store_dir), "--json"]).output)
    flags = {d["name"]: d["flags"] for d in doc["devices"]}
    assert flags == {"cam-old": ["legacy_algorithms", "host_key_checking_off"], "cam-new": []}


def test_rank_top_shows_the_most_suspect_devices_and_says_how_many_it_left_out(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path / "s", devices=6, unreachable=1)
    runner = CliRunner()
    full = json.loads(runner.invoke(app, ["rank", "--store", str(store), "--json"]).output)
    assert len(full["devices"]) == 7  # 6 with samples, 1 unreachable
    top = json.loads(runner.invoke(app, ["rank", "--store", str(store), "--json", "--top", "2"]).output)
    assert top["devices"] == full["devices"][:2] and top["fleet_findings"] == full["fleet_findings"]
    text = runner.invoke(app, ["rank", "--store", str(store), "--top", "2"]).output.splitlines()
    names = [d["name"] for d in full["devices"]]
    assert [line.split()[1] for line in text[1:3]] == names[:2]
    assert not any(name in line for line in text for name in names[2:])
    assert text[-1] == "... and 5 more devices, less suspect (without --top: all)"
    assert "more devices" not in runner.invoke(app, ["rank", "--store", str(store), "--top", "7"]).output
    assert runner.invoke(app, ["rank", "--store", str(store), "--top", "0"]).exit_code == 2


def test_rank_and_report_only_the_devices_named_by_name_group_or_tag(tmp_path: Path) -> None:
    """``--only`` on rank and report: one product line of a big fleet, its own fleet findings, the
    report and its subject saying which devices they cover; a name that matches nothing is a usage
    error, not an empty report."""
    store = synthetic_store(tmp_path / "s", devices=6, unreachable=2)
    runner = CliRunner()

    def rank(*args: str) -> dict[str, Any]:
        result = runner.invoke(app, ["rank", "--store", str(store), "--json", *args])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.output))

    full = rank()
    assert len(full["devices"]) == 8 and full["fleet_findings"]
    gateways = rank("--only", "gateways")
    assert [d["name"] for d in gateways["devices"]] == ["gw-00", "gw-01"] and gateways["fleet_findings"] == []
    mixed = rank("--only", "gw-01", "--only", "cam-000")
    assert {d["name"] for d in mixed["devices"]} == {"gw-01", "cam-000"}
    cameras = rank("--only", "cameras")
    assert [d["name"] for d in cameras["devices"]] == [
        d["name"] for d in full["devices"] if d["name"].startswith("cam")
    ]
    assert cameras["devices"][0] == full["devices"][0]  # the same analysis, fewer devices around it

    out = tmp_path / "gw.html"
    result = runner.invoke(app, ["report", "--store", str(store), "-o", str(out), "--only", "gateways"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert 'only the devices matching <span class="mono">gateways</span>' in html
    assert "cam-000" not in html and "gw-01" in html
    with Store(store) as st:
        assert subject_line(build_view(st, only=["gateways"])).startswith(
            "fleet (gateways): no leaks found on 2"
        )

    for cmd in (["rank"], ["report", "-o", str(tmp_path / "x.html")]):
        result = runner.invoke(app, [*cmd, "--store", str(store), "--only", "cam-999"])
        assert result.exit_code == 2 and "--only cam-999 matches no device in the store" in result.output
    assert not (tmp_path / "x.html").exists()


def test_show_prints_every_finding_of_one_device_with_its_evidence(tmp_path: Path) -> None:
    """``fleet show NAME``: the device's entry of rank --json (``--json``) or, as text, every
    device and process finding with its evidence; an unreachable device shows its error; a name
    not in the store (a group name is not a device) exits 2."""
    store = synthetic_store(tmp_path / "s", devices=3, unreachable=1)
    runner = CliRunner()
    full = json.loads(runner.invoke(app, ["rank", "--store", str(store), "--json"]).output)
    leaking = next(d for d in full["devices"] if d["name"] == "cam-000")  # every third one leaks
    assert leaking["processes"][0]["findings"] and leaking["findings"]

    shown = runner.invoke(app, ["show", "cam-000", "--store", str(store), "--json"])
    assert shown.exit_code == 0 and json.loads(shown.output) == leaking
    text = runner.invoke(app, ["show", "cam-000", "--store", str(store)]).output
    every = [*leaking["findings"], *(f for p in leaking["processes"] for f in p["findings"])]
    assert every and all(f"{f['kind']}: {f['summary']}" in text for f in every)
    taus = [f["evidence"]["tau"] for f in every if f["evidence"].get("tau") is not None]
    assert taus and all(f"tau {tau:.3g}" in text for tau in taus)
    assert text.index("device:") < text.index(leaking["processes"][0]["findings"][0]["summary"])

    down = runner.invoke(app, ["show", "gw-00", "--store", str(store)]).output
    assert "status unreachable" in down and "last error: Connect call failed ('10.0.1.1', 22)" in down
    for name in ("cam-999", "cameras"):
        result = runner.invoke(app, ["show", name, "--store", str(store)])
        assert result.exit_code == 2 and f"no device named {name}" in result.output
