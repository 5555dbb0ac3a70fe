"""What changed since the last sweep: each sweep leaves a summary beside its dated report and the
next one says what is new (suspects, failures), in its summary line, email and report.

Real store, analysis, CLI and SMTP server (aiosmtpd on 127.0.0.1); the store holds hand-made
metrics, added night by night, so which devices are suspects is certain.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from email.message import Message
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.cli.exits import Exit
from fleet.collect.sampler import DeviceOutcome
from fleet.metrics.model import ProcessMetrics
from fleet.render.report import render_email
from fleet.store.store import Store
from fleet.sweep.reportdir import last_summary, with_changes
from fleet.sweep.run import SweepResult
from fleet.view.changes import SUMMARY_FORMAT, changes_since, history, read_summary, summary_doc
from fleet.view.fleet import build_view

from .conftest import Mailbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from analysis_builder import T0, device, proc

# Two nights of one fleet, 4 h apart, in one store: on Monday cam-a leaks threads and cam-c is
# unreachable; on Tuesday cam-a goes on leaking, cam-b starts to, cam-c answers again and cam-d
# stops answering.
MONDAY = {
    "cam-a": [[proc(100, "AiApp", threads=1 + 10 * i, stack_count=10 * i)] for i in range(12)],
    "cam-b": [[proc(100, "AiApp")] for _ in range(12)],
}
TUESDAY = {
    "cam-a": [[proc(100, "AiApp", threads=121 + 10 * i, stack_count=120 + 10 * i)] for i in range(12)],
    "cam-b": [[proc(100, "AiApp", threads=1 + 10 * i, stack_count=10 * i)] for i in range(12)],
}
FLAT = [[proc(100, "netmgr")] for _ in range(12)]
NAMES = ("cam-a", "cam-b", "cam-c", "cam-d")


def night(
    directory: Path,
    rows: dict[str, list[list[ProcessMetrics]]],
    failing: str,
    start: float,
    names: Sequence[str] = NAMES,
) -> Path:
    """Add a night of samples to the store (created if new): each device's rows, FLAT for those
    not named, and ``failing`` unreachable at its last try."""
    with Store(directory) as st:
        for name in names:
            dev = st.device_id(name, "10.0.0.1")
            for at, metrics in device(rows.get(name, FLAT), times=[start + 300 * i for i in range(12)]):
                st.set_metrics(st.add_raw_sample(dev, None, at, b"", token=None, source="test"), metrics)
            if name == failing:
                st.record_attempt(dev, None, "unreachable", "connection refused", 1.0)
            else:
                st.record_attempt(dev, None, "ok", None, 1.0)
    return directory


def monday(directory: Path) -> Path:
    return night(directory, MONDAY, "cam-c", T0)


def tuesday(directory: Path) -> Path:
    return night(directory, TUESDAY, "cam-d", T0 + 4 * 3600)


def sweep(store: Path, reports: Path, *extra: str) -> str:
    res = CliRunner().invoke(
        app, ["sweep", "--no-collect", "--store", str(store), "--report-dir", str(reports), *extra]
    )
    assert res.exit_code == Exit.OK, res.output
    return res.output.splitlines()[-1]


def newest_report(reports: Path) -> str:
    """Two sweeps in one second write <time>.html and <time>-2.html: the newest by mtime."""
    return max(reports.glob("fleet-report-*.html"), key=lambda p: p.stat().st_mtime_ns).read_text()


def plain_text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode().replace("\r\n", "\n")
    raise AssertionError("no text/plain part")


def test_the_second_night_says_what_is_new_in_line_email_and_report(
    tmp_path: Path, smtp_server: Mailbox
) -> None:
    reports = tmp_path / "reports"
    mail = [
        "--email-to",
        "ops@lab.test",
        "--smtp-host",
        smtp_server.host,
        "--smtp-port",
        str(smtp_server.port),
    ]
    store = monday(tmp_path / "store")
    first = sweep(store, reports, *mail)
    assert "1 of 4 devices suspected of leaking;" in first  # nothing to compare with yet: no "new"
    (summary,) = reports.glob("fleet-report-*.summary.json")
    doc = json.loads(summary.read_text())
    assert doc["suspects"] == ["cam-a"] and doc["failed"] == {"cam-c": "unreachable"}
    assert doc["report"] == summary.name.replace(".summary.json", ".html")

    second = sweep(tuesday(store), reports, *mail)
    assert "2 of 4 devices suspected of leaking (1 new);" in second
    mail_1, mail_2 = smtp_server.wait(2)
    subjects = [" ".join(str(m["Subject"]).split()) for m in (mail_1, mail_2)]  # unfolded
    assert "new" not in subjects[0] and "Since the last sweep" not in plain_text(mail_1)
    assert subjects[1].startswith("fleet: 2 leaking devices (1 new), ")
    text = plain_text(mail_2)
    assert f"Since the last sweep ({doc['generated_at']}):" in text
    assert "- new suspects: cam-b\n" in text
    assert "- newly failing: cam-d (unreachable)\n" in text
    assert "- reached again: cam-c\n" in text
    assert "no longer suspected" not in text
    assert "cam-b (new)  score" in text and "cam-a (new)" not in text
    html = newest_report(reports)
    assert 'id="changes"' in html and "New suspects (1)" in html
    new_flags = html.count('title="suspected since the last sweep">new</span>')
    assert new_flags == 1 and html.index('>cam-b</a> <span class="flag"') > 0

    third = sweep(store, reports)  # the same night again: nothing new
    assert "(1 new)" not in third and "2 of 4 devices suspected of leaking;" in third
    html = newest_report(reports)
    assert "no new suspect, none cleared, no device newly failing or back" in html


def test_a_sweep_whose_email_failed_leaves_no_summary(tmp_path: Path) -> None:
    """Its news never reached anyone: the next email must still call tonight's new suspects new."""
    from .conftest import free_port

    store = monday(tmp_path / "store")
    reports = tmp_path / "reports"
    sweep(store, reports)
    nothing_listens = [
        "--email-to",
        "ops@lab.test",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(free_port()),
    ]
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            "--no-collect",
            "--store",
            str(tuesday(store)),
            "--report-dir",
            str(reports),
            *nothing_listens,
        ],
    )
    assert res.exit_code == Exit.MAIL_FAILED, res.output
    assert "(1 new)" in res.output.splitlines()[-1]
    assert len(list(reports.glob("fleet-report-*.html"))) == 2
    assert len(list(reports.glob("fleet-report-*.summary.json"))) == 1
    assert "(1 new)" in sweep(store, reports)  # still new against monday


def test_a_device_that_stops_leaking_is_said_cleared(tmp_path: Path) -> None:
    """The comparison itself (pure): Tuesday's summary against a view of Monday alone."""
    with Store(tuesday(monday(tmp_path / "both"))) as st:
        previous = summary_doc(build_view(st), "r.html", "s")
    with Store(monday(tmp_path / "monday")) as st:
        changes = changes_since(previous, build_view(st))
    assert changes.cleared == ("cam-b",) and changes.new_suspects == ()
    assert changes.newly_failed == (("cam-c", "unreachable"),) and changes.recovered == ("cam-d",)
    # a device the view no longer holds (pruned, or another --only) is not called cleared
    previous["suspects"].append("cam-gone")
    with Store(tmp_path / "monday") as st:
        assert changes_since(previous, build_view(st)).cleared == ("cam-b",)


def write(directory: Path, name: str, doc: object) -> None:
    directory.mkdir(exist_ok=True)
    data = doc if isinstance(doc, bytes) else (doc if isinstance(doc, str) else json.dumps(doc)).encode()
    (directory / name).write_bytes(data)


STORE = "/var/lib/fleet/store"


def summary(*suspects: str, store: str = STORE) -> dict[str, object]:
    return {"format": SUMMARY_FORMAT, "generated_at": "2026-11-26T02:00:00Z", "store": store,
            "report": "r.html", "suspects": list(suspects), "failed": {}}  # fmt: skip


def test_the_latest_summary_wins_even_two_in_one_second(tmp_path: Path) -> None:
    write(tmp_path, "fleet-report-2026-11-26T020000Z.summary.json", summary("old"))
    write(tmp_path, "fleet-report-2026-11-27T020000Z.summary.json", summary("first"))
    write(tmp_path, "fleet-report-2026-11-27T020000Z-2.summary.json", summary("second"))
    write(tmp_path, "fleet-report-2026-11-27T020000Z-10.summary.json", summary("tenth"))
    write(tmp_path, "fleet-report-notes.summary.json", summary("not a dated name"))
    write(tmp_path, "fleet-report-2026-11-28T020000Z.summary.json", summary("other", store="/srv/b"))
    found = last_summary(tmp_path, STORE)  # another store's newer summary is passed over
    assert found is not None and found["suspects"] == ["tenth"]


class Recorder(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    "broken",
    [
        "{ truncated",
        b"\xff\xfe{",  # not UTF-8
        json.dumps({**summary("x"), "format": 99}),
        json.dumps({**summary("x"), "suspects": "cam-a"}),
        json.dumps({**summary("x"), "failed": {"cam-a": 3}}),
        json.dumps([1, 2]),
        "[" * 100_000,  # deeper than the JSON parser recurses
    ],
)
def test_a_broken_latest_summary_is_skipped_with_a_warning(tmp_path: Path, broken: str | bytes) -> None:
    write(tmp_path, "fleet-report-2026-11-26T020000Z.summary.json", summary("cam-a"))
    write(tmp_path, "fleet-report-2026-11-27T020000Z.summary.json", broken)
    handler = Recorder(logging.WARNING)
    log = logging.getLogger("fleet.reportdir")
    log.addHandler(handler)  # the CLI's own handlers (set up by earlier tests) may not propagate
    try:
        found = last_summary(tmp_path, STORE)
    finally:
        log.removeHandler(handler)
    assert found is not None and found["suspects"] == ["cam-a"]
    (record,) = handler.records
    assert "fleet-report-2026-11-27T020000Z.summary.json" in record.getMessage()
    assert record.getMessage().endswith("; skipped")


def test_a_sweep_after_a_broken_summary_still_runs_and_compares_with_none(tmp_path: Path) -> None:
    write(tmp_path, "fleet-report-2026-11-27T020000Z.summary.json", "not json")
    line = sweep(tuesday(monday(tmp_path / "store")), tmp_path)
    assert "2 of 4 devices suspected of leaking;" in line  # no comparison, no crash
    assert len(list(tmp_path.glob("fleet-report-*.summary.json"))) == 2


def test_read_summary_accepts_only_its_own_shape() -> None:
    assert read_summary(summary("a")) is not None
    assert read_summary({**summary("a"), "generated_at": 5}) is None
    assert read_summary({**summary("a"), "suspects": [1]}) is None
    assert read_summary({k: v for k, v in summary("a").items() if k != "store"}) is None
    assert read_summary(None) is None


def test_device_names_in_the_changes_are_escaped(tmp_path: Path) -> None:
    names = ("<b>cam</b>", "cam-ok")
    reports, store = tmp_path / "r", tmp_path / "store"
    sweep(night(store, {"<b>cam</b>": MONDAY["cam-b"]}, "", T0, names), reports)
    night(store, {"<b>cam</b>": TUESDAY["cam-b"]}, "", T0 + 4 * 3600, names)
    with Store(store) as st:  # the email the second sweep will send
        _, text, mail_html = render_email(with_changes(build_view(st), reports), "note")
    assert "New suspects:</strong> &lt;b&gt;cam&lt;/b&gt;</p>" in mail_html and "<b>cam</b>" not in mail_html
    assert "- new suspects: <b>cam</b>\n" in text  # plain text shows the name as it is
    sweep(store, reports)
    html = newest_report(reports)
    section = html[html.index('id="changes"') : html.index("Devices by leak suspicion")]
    assert "&lt;b&gt;cam&lt;/b&gt;" in section and "<b>cam</b>" not in section


def test_fleet_report_compares_with_the_last_sweep_in_the_report_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    monday(tmp_path / "store")
    sweep(Path("store"), reports)  # named relative here, absolute below: the same store
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[sweep]\nreport_dir = "{reports}"\n')
    out = tmp_path / "adhoc.html"
    res = CliRunner().invoke(
        app, ["report", "--store", str(tuesday(tmp_path / "store")), "--config", str(cfg), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "New suspects (1)" in html and "fleet: 2 leaking devices (1 new)" in html
    assert len(list(reports.glob("*.summary.json"))) == 1  # an ad-hoc report leaves no summary


def test_a_report_dir_shared_by_two_stores_compares_each_with_its_own(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    a = monday(tmp_path / "a")
    b = tuesday(monday(tmp_path / "b"))
    sweep(a, reports)
    assert "2 of 4 devices suspected of leaking;" in sweep(b, reports)  # not against a's summary
    assert "1 of 4 devices suspected of leaking;" in sweep(a, reports)  # against a's, not b's
    assert "no new suspect, none cleared" in newest_report(reports)


def test_a_summary_that_cannot_be_written_is_a_warning_not_a_failed_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake, said so: the disk filling up between the report and its summary cannot be had on
    demand, so writing a summary raises ENOSPC here. The report stays and the sweep exits 0."""
    import fleet.sweep.reportdir

    real = fleet.sweep.reportdir.write_atomically

    def full_disk(path: Path, text: str) -> None:
        if path.name.endswith(".summary.json"):
            raise OSError(28, "No space left on device")
        real(path, text)

    monkeypatch.setattr(fleet.sweep.reportdir, "write_atomically", full_disk)
    handler = Recorder(logging.WARNING)
    logging.getLogger("fleet.reportdir").addHandler(handler)
    try:
        line = sweep(monday(tmp_path / "store"), tmp_path / "r")
    finally:
        logging.getLogger("fleet.reportdir").removeHandler(handler)
    assert "report " in line and len(list((tmp_path / "r").glob("fleet-report-*.html"))) == 1
    assert not list((tmp_path / "r").glob("*.summary.json"))
    (record,) = handler.records
    assert "cannot write the sweep summary" in record.getMessage() and "No space left" in record.getMessage()


def test_the_json_summary_carries_the_changes_for_log_shippers(tmp_path: Path) -> None:
    store, reports = monday(tmp_path / "store"), tmp_path / "r"
    first = json.loads(sweep(store, reports, "--log-json"))
    assert first["new_suspects"] is None and first["newly_failed"] is None  # nothing to compare with
    second = json.loads(sweep(tuesday(store), reports, "--log-json"))
    assert second["new_suspects"] == ["cam-b"] and second["newly_failed"] == {"cam-d": "unreachable"}
    assert second["event"] == "sweep_done"


def test_the_summary_line_counts_devices_newly_failing(tmp_path: Path) -> None:
    """After a collect, the line's failure count says how many failed for the first time."""
    store = tuesday(monday(tmp_path / "store"))
    with Store(store) as st:
        view = build_view(st)
    previous = summary_doc(replace(view, devices=()), "r.html", "s")  # nothing failed before
    view = replace(view, changes=changes_since(previous, view))
    outcomes = [DeviceOutcome(n, status="unreachable" if n == "cam-d" else "ok") for n in NAMES]
    line = SweepResult(view, tmp_path / "r.html", outcomes, False, None, None, 1.0).summary()
    assert line.startswith("fleet sweep: collected 3/4 devices (unreachable 1; 1 newly failing); ")
    line = SweepResult(
        replace(view, changes=None), tmp_path / "r.html", outcomes, False, None, None, 1.0
    ).summary()
    assert line.startswith("fleet sweep: collected 3/4 devices (unreachable 1); ")


def test_the_report_charts_suspects_sweep_by_sweep_from_the_third(tmp_path: Path) -> None:
    store, reports = monday(tmp_path / "store"), tmp_path / "r"
    sweep(store, reports)
    sweep(store, reports)
    assert "sweep by sweep" not in newest_report(reports)  # two points say nothing yet
    sweep(tuesday(store), reports)
    html = newest_report(reports)
    chart = html[html.index('aria-label="suspected devices, sweep by sweep"') :]
    chart = chart[: chart.index("</svg>")]
    assert 'text-anchor="end">2</text>' in chart and 'text-anchor="end">1</text>' in chart  # max, min
    assert "suspected devices at each of the last 3 sweeps" in html


def test_history_is_oldest_first_and_skips_a_summary_without_a_time() -> None:
    docs = [
        {**summary("a", "b"), "generated_at": "2026-11-27T02:00:00Z", "failed": {"c": "timeout"}},
        {**summary("a"), "generated_at": "2026-11-25T02:00:00Z"},
        {**summary("a"), "generated_at": "yesterday"},
    ]
    assert history(docs) == ((1795572000.0, 1, 0), (1795744800.0, 2, 1))
