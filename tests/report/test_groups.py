"""The report's "By group" table: devices, reachable ones and suspects per inventory group.

Real store and analysis on hand-made metrics (so which devices are suspects is certain)."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from html import unescape
from pathlib import Path

from fleet.render.report import GroupRow, group_rows, render_report
from fleet.store.store import Store
from fleet.view.fleet import build_view

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from analysis_builder import device, proc

LEAK = [[proc(100, "AiApp", threads=1 + 10 * i, stack_count=10 * i)] for i in range(12)]
FLAT = [[proc(100, "netmgr")] for _ in range(12)]
GROUP = "<i>cams</i>"  # inventory text, still escaped like everything else


def fleet(directory: Path, devices: Sequence[tuple[str, Sequence[str], bool, str]]) -> Store:
    """``(name, groups, leaking, status)`` per device."""
    st = Store(directory)
    for name, groups, leaking, status in devices:
        dev = st.device_id(name, "10.0.0.1", groups)
        for at, metrics in device(LEAK if leaking else FLAT):
            st.set_metrics(st.add_raw_sample(dev, None, at, b"", token=None, source="test"), metrics)
        st.record_attempt(dev, None, status, None if status == "ok" else "connection refused", 1.0)
    return st


DEVICES = [
    ("cam-1", [GROUP], True, "ok"),
    ("cam-2", [GROUP], False, "ok"),
    ("cam-3", [GROUP], False, "unreachable"),
    ("edge-1", [GROUP, "gateways"], True, "ok"),
    ("gw-1", ["gateways"], False, "ok"),
    ("gw-2", ["gateways"], False, "ok"),
    ("gw-3", ["gateways"], False, "ok"),
    ("nvr-1", ["nvrs"], False, "timeout"),
    ("lonely", [], True, "ok"),
]


def test_group_rows_count_each_device_in_each_of_its_groups(tmp_path: Path) -> None:
    with fleet(tmp_path / "s", DEVICES) as st:
        rows = group_rows(build_view(st))
    assert rows == [
        GroupRow(GROUP, devices=4, reachable=3, suspects=2, high=2),
        GroupRow("gateways", devices=4, reachable=4, suspects=1, high=1),
        GroupRow("nvrs", devices=1, reachable=0, suspects=0, high=0),
    ]


def test_the_report_shows_the_table_escaped(tmp_path: Path) -> None:
    with fleet(tmp_path / "s", DEVICES) as st:
        html = render_report(build_view(st))
    section = html[html.index('<h2 id="groups">') : html.index("Devices in detail")]
    assert "<i>cams</i>" not in section and "&lt;i&gt;cams&lt;/i&gt;" in section
    cells = [unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", section)]
    assert cells[:5] == [GROUP, "4", "3", "2", "2"] and cells[5:10] == ["gateways", "4", "4", "1", "1"]


def test_one_group_or_none_gets_no_table(tmp_path: Path) -> None:
    with fleet(tmp_path / "one", [("cam-1", ["cams"], True, "ok"), ("cam-2", ["cams"], False, "ok")]) as st:
        assert 'id="groups"' not in render_report(build_view(st))
    with fleet(tmp_path / "none", [("cam-1", [], True, "ok")]) as st:
        view = build_view(st)
        assert group_rows(view) == [] and 'id="groups"' not in render_report(view)


def test_many_groups_fold_away_after_the_first_twelve(tmp_path: Path) -> None:
    """A group per site makes hundreds: the ones with most suspects stay in view."""
    devices = [(f"site{i:02d}-cam", [f"site-{i:02d}"], i < 3, "ok") for i in range(15)]
    with fleet(tmp_path / "s", devices) as st:
        html = render_report(build_view(st))
    section = html[html.index('<h2 id="groups">') : html.index("Devices in detail")]
    shown, _, folded = section.partition('<details class="more"><summary>the other 3 groups</summary>')
    assert folded, "the last 3 groups are not folded away"
    first = re.findall(r'<td class="name">(.*?)</td>', shown)
    assert len(first) == 12 and first[:3] == ["site-00", "site-01", "site-02"]  # the suspects first
    assert len(re.findall(r'<td class="name">', folded)) == 3
