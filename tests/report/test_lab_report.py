"""The report of a real lab collection, hostile device included, checked as text and in Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from tests.report.conftest import MARKUP_NAME, PWN_IDS, Collected, Inbox, chromium

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def report(report_lab: Collected, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "lab-report.html"
    res = CliRunner().invoke(app, ["report", "--store", str(report_lab.store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _section(html: str, device: str) -> str:
    m = re.search(
        r'<details class="device" id="dev-\d+" open>\n<summary>\d+\. '
        + re.escape(device)
        + r" .*?</details>",
        html,
        re.S,
    )
    assert m, f"no open detail section for {device}"
    return m.group(0)


def test_leaking_lab_device_has_every_section(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    lab01 = _section(html, "lab-01")
    for part in (
        "thread_leak",
        "<h3>MemAvailable</h3>",
        'class="chart"',
        'class="spark"',
        "Thread names that keep being created",
        "rtsp_worker",
        "Maps change, first to last sample",
        "thread_stack",
        "Slab caches that grew",
        "AiApp",
    ):
        assert part in lab01, part
    assert "dead-01" in html and "unreachable" in html


def test_hostile_names_are_text(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    hostile = _section(html, "lab-hostile")
    assert "&lt;script&gt;x&#39;&#34;\\xff" in hostile  # comm, with its invalid byte made visible
    assert "&lt;i id=pwn1&gt;x&lt;/i" in hostile  # a thread name
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;" in hostile  # cmdline
    assert "&lt;svg onload=document.title=&#39;PWNED&#39; id=pwn3&gt;\\x1b[0m" in hostile  # mapped file
    assert "x\\x0d" in hostile  # CR of "x\r\nBcc: ..."
    assert "&lt;img src=x onerror=alert(1) id=pwn5&gt;&#34;&#39;&amp;amp;" in html  # device name
    assert "firmware &lt;img src=x onerror=alert(1) id=pwn6&gt;\\x1b]0;pwned\\x07" in hostile  # os-release
    by_firmware = html.split('id="by-firmware"')[1].split("</table>")[0]
    assert "&lt;img src=x onerror=alert(1) id=pwn6&gt;" in by_firmware and "2.3.1" in by_firmware
    assert not re.search(
        r"<(?!/?(a|b|br|code|details|div|figcaption|figure|h[1-4]|header|footer|main|li|meta|p|"
        r"polygon|polyline|circle|rect|text|script|section|span|strong|style|summary|svg|"
        r"table|tbody|td|th|thead|title|tr|ul|head|body|html|!doctype)[\s>/])",
        html,
        re.I,
    )


def _dump(url: str) -> str:
    res = chromium(url, "--dump-dom", "--enable-logging=stderr", "--v=0")
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout + "\n<!--stderr-->\n" + res.stderr


def test_in_chromium_no_injected_element_or_script_and_the_page_script_runs(
    report: Path, tmp_path: Path
) -> None:
    """The DOM Chromium builds holds none of the marker elements; the title is ours; the one
    hashed script ran (it marks sortable tables) and the console shows no CSP violation."""
    out = _dump(report.as_uri())
    dom, log = out.split("<!--stderr-->", 1)
    for ident in PWN_IDS:
        assert f'id="{ident}"' not in dom and f"id={ident}>" not in dom.replace("&gt;", "")
    assert "<title>PWNED" not in dom and re.search(r"<title>fleet: \d+ leaking", dom)
    assert 'class="sortable stack js"' in dom  # the CSP hash matches: our script ran
    assert "Content Security Policy" not in log and "Refused to" not in log and ":ERROR:CONSOLE" not in log


def test_escaping_alone_holds_without_the_csp(report: Path, tmp_path: Path) -> None:
    """Take the CSP away: if any device string were pasted as markup, its script would now run."""
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", report.read_text(encoding="utf-8"))
    bare = tmp_path / "no-csp.html"
    bare.write_text(html, encoding="utf-8")
    dom = _dump(bare.as_uri()).split("<!--stderr-->", 1)[0]
    assert "PWNED" not in re.search(r"<title>(.*?)</title>", dom, re.S).group(1)  # type: ignore[union-attr]
    for ident in PWN_IDS:
        assert f'id="{ident}"' not in dom


@pytest.mark.parametrize("width", [1200, 390])
def test_screenshot(report: Path, tmp_path: Path, width: int) -> None:
    png = tmp_path / f"report-{width}.png"
    res = chromium(report.as_uri(), f"--window-size={width},1800", f"--screenshot={png}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_lab_email_reaches_the_smtp_server(report_lab: Collected, smtp_server: Inbox, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = CliRunner().invoke(
        app,
        [
            "report",
            "--store",
            str(report_lab.store),
            "-o",
            str(out),
            "--email-to",
            "ops@example.net",
            "--smtp-host",
            smtp_server.host,
            "--smtp-port",
            str(smtp_server.port),
        ],
    )
    assert res.exit_code == 0, res.output
    msg = smtp_server.messages[0]
    assert "\n" not in msg["Subject"] and "leaking device" in msg["Subject"]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script" not in html.split("<body", 1)[1].replace("&lt;script", "")
    assert "&lt;img src=x onerror=alert(1) id=pwn5&gt;" in html and MARKUP_NAME not in html
    [att] = msg.iter_attachments()
    assert att.get_payload(decode=True) == out.read_bytes()
