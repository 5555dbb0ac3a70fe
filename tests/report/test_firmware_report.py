"""Firmware in the report, the email, ``fleet rank`` and ``fleet show``: the "By firmware" table,
the version that leaks where its predecessor did not, and hostile firmware text kept as text.

Real store and analysis on hand-made metrics (which devices leak, on which firmware, is certain)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from html import unescape
from pathlib import Path

from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.render.rank import rank_json, rank_text
from fleet.render.report import FirmwareRow, firmware_rows, render_email, render_report
from fleet.store.codec import metrics_from_doc, metrics_to_json
from fleet.store.store import Store
from fleet.sweep.run import SweepResult
from fleet.view.fleet import build_view

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from analysis_builder import device, proc

LEAK = [[proc(100, "AiApp", threads=1 + 10 * i, stack_count=10 * i)] for i in range(12)]
FLAT = [[proc(100, "netmgr")] for _ in range(12)]
HOSTILE = "<b>2.4</b>\x1b[2J"  # device text: markup and an escape sequence


def fleet(directory: Path, devices: Sequence[tuple[str, bool, str | None]]) -> Store:
    """``(name, leaking, firmware)`` per device, every sample stored through the real codec."""
    st = Store(directory)
    for name, leaking, firmware in devices:
        dev = st.device_id(name, "10.0.0.1", ["cams"])
        for at, metrics in device(LEAK if leaking else FLAT):
            sample = st.add_raw_sample(dev, None, at, b"", token=None, source="test")
            st.set_metrics(sample, replace(metrics, firmware=firmware))
        st.record_attempt(dev, None, "ok", None, 1.0)
    return st


DEVICES = [
    *((f"new-{i}", True, "2.3.1") for i in range(3)),
    *((f"old-{i}", False, "2.3.0") for i in range(4)),
    ("odd-1", False, HOSTILE),
    ("pre-6", False, None),  # captured before format 6: no firmware
]


def test_by_firmware_rows_and_the_regression(tmp_path: Path) -> None:
    with fleet(tmp_path / "s", DEVICES) as st:
        view = build_view(st)
    assert firmware_rows(view) == [  # newest version first: text sorts after numbers
        FirmwareRow(HOSTILE, devices=1, suspects=0, top_kind=None, top_count=0),
        FirmwareRow("2.3.1", devices=3, suspects=3, top_kind="thread_leak", top_count=3),
        FirmwareRow("2.3.0", devices=4, suspects=0, top_kind=None, top_count=0),
        FirmwareRow(None, devices=1, suspects=0, top_kind=None, top_count=0),
    ]
    (reg,) = view.firmware_regressions
    assert (reg.version, reg.predecessor) == ("2.3.1", "2.3.0")  # 2.4 sorts above: not its predecessor
    assert "on 3 of 3 devices running 2.3.1, 0 of 4 running 2.3.0" in reg.finding.summary
    doc = rank_json(view)
    assert {d["name"]: d["firmware"] for d in doc["devices"]}["pre-6"] is None
    assert doc["firmware_regressions"][0]["summary"] == reg.summary


def test_the_report_email_and_terminal_show_firmware_escaped(tmp_path: Path) -> None:
    with fleet(tmp_path / "s", DEVICES) as st:
        view = build_view(st)
    html = render_report(view)
    section = html[html.index('<h2 id="firmware">') : html.index("Devices in detail")]
    assert "<b>2.4" not in html and "&lt;b&gt;2.4&lt;/b&gt;\\x1b[2J" in section and "\x1b" not in html
    cells = [unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", section)]
    assert cells[4:8] == ["2.3.1", "3", "3", "thread_leak (3)"] and cells[-4:] == ["unknown", "1", "0", "-"]
    assert "firmware 2.3.1</strong> leaks where 2.3.0 did not: AiApp thread leak on 3 of 3" in section
    _, text, email = render_email(view, "Attached.")
    assert text.splitlines()[3].startswith("Firmware 2.3.1 leaks where 2.3.0 did not: ")
    assert "firmware 2.3.1" in text and "Firmware 2.3.1 leaks where 2.3.0 did not:" in email
    terminal = rank_text(rank_json(view))
    assert "\x1b" not in terminal and "fleet: firmware 2.3.1 leaks where 2.3.0 did not" in terminal
    store = str(tmp_path / "s")
    shown = CliRunner().invoke(app, ["show", "odd-1", "--store", store])
    assert shown.exit_code == 0 and "\x1b" not in shown.output
    assert "  firmware: <b>2.4</b>\\x1b[2J" in shown.output
    entry = json.loads(CliRunner().invoke(app, ["show", "new-0", "--store", store, "--json"]).output)
    assert entry["firmware"] == "2.3.1"


def test_no_firmware_anywhere_no_table_and_old_blobs_still_read(tmp_path: Path) -> None:
    with fleet(tmp_path / "s", [("a", True, None), ("b", False, None)]) as st:
        view = build_view(st)
    assert firmware_rows(view) == [] and 'id="firmware"' not in render_report(view)
    assert view.firmware_regressions == () and all(f.by_firmware == () for f in view.fleet_findings)
    # a metrics document stored before DeviceMetrics had firmware and kernel_version
    doc = json.loads(metrics_to_json(device(FLAT)[0][1]))
    del doc["firmware"], doc["kernel_version"]
    old = metrics_from_doc(json.dumps(doc).encode())
    assert old.firmware is None and old.kernel_version is None and old.processes
    new = replace(old, firmware="2.3.1", kernel_version="Linux version 6.1.0 (gcc 12) #1 SMP")
    assert metrics_from_doc(metrics_to_json(new)) == new


def test_the_sweep_line_names_the_leaking_version(tmp_path: Path) -> None:
    with fleet(tmp_path / "s", DEVICES) as st:
        view = build_view(st)
    result = SweepResult(view, tmp_path / "r.html", [], False, None, None, 1.0)
    assert "; firmware 2.3.1 leaks where 2.3.0 did not;" in result.summary()
    assert result.fields()["firmware_regressions"] == [["2.3.1", "2.3.0"]]
