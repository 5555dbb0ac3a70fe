"""The email against a real SMTP server (aiosmtpd): plain, STARTTLS with login, settings from flags,
environment and config file, a failed send (exit 5, reason shown, report kept), and a report over
the server's size limit (zipped, else left on the collector with its path in the email)."""

from __future__ import annotations

import io
import smtplib
import socket
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.cli.exits import Exit
from fleet.sweep.mail import DEFAULT_SIZE_LIMIT, size_limit
from tests.report.conftest import Inbox, synthetic_store


def _check_message(inbox: Inbox, report: Path, to: str = "ops@example.net") -> None:
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["Subject"].startswith("fleet: 1 leaking device")
    assert "1 unreachable or failed" in msg["Subject"]
    assert inbox.envelopes[0].rcpt_tos == [to]
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    body = html.get_content()
    assert "Top suspects" in body and "cam-000" in body
    for banned in ("<script", "<svg", "<style"):
        assert banned not in body.lower()
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == [report.name]
    assert attachments[0].get_payload(decode=True) == report.read_bytes()


def test_report_is_emailed_to_a_real_smtp_server(tmp_path: Path, smtp_server: Inbox) -> None:
    store = synthetic_store(tmp_path / "s", devices=3, unreachable=1)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(
        app,
        [
            "report",
            "--store",
            str(store),
            "-o",
            str(out),
            "--email-to",
            "ops@example.net",
            "--smtp-host",
            smtp_server.host,
            "--smtp-port",
            str(smtp_server.port),
            "--email-from",
            "fleet@lab",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "emailed to ops@example.net" in res.output
    _check_message(smtp_server, out)
    assert smtp_server.envelopes[0].mail_from == "fleet@lab" and smtp_server.tls == [False]


def test_starttls_and_login_with_settings_from_a_config_file(
    tmp_path: Path, starttls_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = synthetic_store(tmp_path / "s", devices=3, unreachable=1)
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[smtp]\nhost = "{starttls_server.host}"\nport = {starttls_server.port}\nstarttls = true\n'
        'user = "fleet"\npassword_env = "TEST_SMTP_PW"\nfrom = "fleet@lab"\nto = ["ops@example.net"]\n'
    )
    monkeypatch.setenv("TEST_SMTP_PW", "s3cret-pw")
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--store", str(store), "-o", str(out), "--config", str(config)])
    assert res.exit_code == 0, res.output
    _check_message(starttls_server, out)
    assert starttls_server.tls == [True]
    assert "s3cret-pw" not in res.output


def test_settings_from_environment(
    tmp_path: Path, smtp_server: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = synthetic_store(tmp_path / "s", devices=3, unreachable=1)
    monkeypatch.setenv("FLEET_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("FLEET_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("FLEET_EMAIL_TO", "ops@example.net")
    monkeypatch.chdir(tmp_path)  # no ./fleet.toml of the developer's
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--store", str(store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    _check_message(smtp_server, out)


def test_nothing_listening_exits_5_with_the_reason_and_keeps_the_report(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = synthetic_store(tmp_path / "s", devices=2, unreachable=1)
    out = tmp_path / "r.html"
    res = CliRunner().invoke(
        app,
        [
            "report",
            "--store",
            str(store),
            "-o",
            str(out),
            "--email-to",
            "ops@example.net",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(port),
        ],
    )
    assert res.exit_code == Exit.MAIL_FAILED == 5
    assert f"email not sent: SMTP 127.0.0.1:{port}:" in res.output
    assert "refused" in res.output.lower()
    assert f"the report is kept at {out}" in res.output
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


def _report_to(server: Inbox, store: Path, out: Path) -> str:
    args = ["report", "--store", str(store), "-o", str(out), "--email-to", "ops@example.net"]
    args += ["--smtp-host", server.host, "--smtp-port", str(server.port)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


def test_a_report_over_the_servers_size_limit_travels_zipped(
    tmp_path: Path, limited_smtp_server: Callable[[int | None], Inbox]
) -> None:
    store = synthetic_store(tmp_path / "s", devices=20, unreachable=1)
    out = tmp_path / "r.html"
    roomy, tight = limited_smtp_server(None), limited_smtp_server(60_000)
    _report_to(roomy, store, out)
    html_message = len(roomy.envelopes[0].content)
    assert html_message > 60_000  # the HTML attached would not pass the tight server
    output = _report_to(tight, store, out)
    assert "emailed to ops@example.net: Full report attached, zipped" in output
    (msg,) = tight.messages
    (attachment,) = msg.iter_attachments()
    assert attachment.get_filename() == "r.zip" and attachment.get_content_type() == "application/zip"
    with zipfile.ZipFile(io.BytesIO(attachment.get_payload(decode=True))) as archive:
        assert archive.namelist() == ["r.html"]
        assert archive.read("r.html") == out.read_bytes()
    assert len(tight.envelopes[0].content) <= 60_000
    for part in (msg.get_body(("plain",)), msg.get_body(("html",))):
        assert part is not None
        content = " ".join(part.get_content().split())  # the text may be folded
        assert "zipped" in content and "over the 58.6 KiB this mail server takes" in content
        assert "Full report attached: r.html" not in part.get_content()


def test_a_report_too_large_even_zipped_stays_on_the_collector_and_the_email_says_where(
    tmp_path: Path, limited_smtp_server: Callable[[int | None], Inbox]
) -> None:
    store = synthetic_store(tmp_path / "s", devices=20, unreachable=1)
    out = tmp_path / "r.html"
    server = limited_smtp_server(20_000)
    output = _report_to(server, store, out)
    assert "emailed to ops@example.net: Full report not attached" in output
    (msg,) = server.messages
    assert list(msg.iter_attachments()) == []
    where = f"it is {out.resolve()} on {socket.gethostname()}"
    for part in (msg.get_body(("plain",)), msg.get_body(("html",))):
        assert part is not None
        content = " ".join(part.get_content().split())  # the text may be folded
        assert where in content and "even zipped" in content
    html = msg.get_body(("html",))
    assert html is not None and "cam-000" in html.get_content()  # the summary itself is all there
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(out, arcname=out.name)
    assert len(zipped.getvalue()) * 4 // 3 + len(server.envelopes[0].content) > 20_000  # it could not pass


def test_the_size_limit_is_the_servers_ehlo_size_else_the_default(
    limited_smtp_server: Callable[[int | None], Inbox],
) -> None:
    for limit, expected in ((123_456, 123_456), (None, DEFAULT_SIZE_LIMIT)):
        server = limited_smtp_server(limit)
        with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
            smtp.ehlo()
            assert size_limit(smtp) == expected
