"""SMTP credentials never cross the wire in clear, and any mail failure is exit 5 (issue 22).

Real aiosmtpd servers on 127.0.0.1: one that offers AUTH on a plain connection and no STARTTLS
(a misconfigured relay, or someone in the path stripping STARTTLS), one that requires STARTTLS
with a self-signed certificate. A relay between fleet and the server (``wire_tap``) keeps every
byte fleet sent, so "no password on the wire" is checked on the wire itself.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.cli.exits import Exit
from tests.report.conftest import Inbox, synthetic_store, wire_tap

USER = "fleet"
PASSWORD = "s3cret-pw"
REPO = Path(__file__).resolve().parents[2]


def password_forms(user: str, password: str) -> list[bytes]:
    """The password as it would travel: as is, and base64 as AUTH LOGIN and AUTH PLAIN send it."""
    raw = password.encode()
    plain = b"\0" + user.encode() + b"\0" + raw
    return [raw, base64.b64encode(raw), base64.b64encode(plain)]


def report(tmp_path: Path, server_host: str, server_port: int, *extra: str) -> tuple[int, str, Path]:
    """``fleet report --email-to`` as a user with a login would run it; (exit, output, report)."""
    store = synthetic_store(tmp_path / "s", devices=2, unreachable=1)
    out = tmp_path / "r.html"
    args = ["report", "--store", str(store), "-o", str(out), "--email-to", "ops@example.net"]
    args += ["--smtp-host", server_host, "--smtp-port", str(server_port), "--smtp-user", USER]
    args += ["--smtp-password-env", "TEST_SMTP_PW", *extra]
    res = CliRunner().invoke(app, args, env={"TEST_SMTP_PW": PASSWORD})
    return res.exit_code, res.output, out


@pytest.fixture(autouse=True)
def _no_developer_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./fleet.toml of the developer's
    for key in [k for k in os.environ if k.startswith("FLEET_")]:
        monkeypatch.delenv(key)


def test_a_server_without_starttls_gets_no_login_by_default(
    tmp_path: Path, auth_without_tls_server: tuple[Inbox, list[bytes]]
) -> None:
    server, passwords = auth_without_tls_server
    with wire_tap(server) as tap:
        code, output, out = report(tmp_path, tap.host, tap.port)
    assert code == Exit.MAIL_FAILED == 5, output
    assert "does not offer STARTTLS" in output and f"the report is kept at {out}" in output
    commands = bytes(tap.sent).upper()  # smtplib sends "ehlo"
    assert tap.connections == 1 and b"EHLO" in commands  # fleet did talk to it ...
    assert b"AUTH" not in commands and b"MAIL FROM" not in commands  # ... and stopped there
    for form in password_forms(USER, PASSWORD):
        assert form not in tap.sent
    assert passwords == [] and server.messages == []
    assert PASSWORD not in output


def test_starttls_off_without_the_opt_in_refuses_before_connecting(
    tmp_path: Path, auth_without_tls_server: tuple[Inbox, list[bytes]]
) -> None:
    server, passwords = auth_without_tls_server
    with wire_tap(server) as tap:
        code, output, _ = report(tmp_path, tap.host, tap.port, "--no-smtp-starttls")
    assert code == Exit.MAIL_FAILED, output
    assert "in clear" in output and "allow_plaintext_auth" in output
    assert tap.connections == 0 and tap.sent == b""
    assert passwords == [] and server.messages == []


def test_the_explicit_opt_in_logs_in_without_tls_and_the_tap_sees_it(
    tmp_path: Path, auth_without_tls_server: tuple[Inbox, list[bytes]]
) -> None:
    """The control for the two tests above: an opted-in clear login is visible on the wire."""
    server, passwords = auth_without_tls_server
    with wire_tap(server) as tap:
        args = ("--no-smtp-starttls", "--smtp-allow-plaintext-auth")
        code, output, _ = report(tmp_path, tap.host, tap.port, *args)
    assert code == 0, output
    assert passwords == [PASSWORD.encode()] and len(server.messages) == 1
    assert b"AUTH" in tap.sent.upper() and any(form in tap.sent for form in password_forms(USER, PASSWORD))


def test_a_server_that_repeats_the_password_in_its_error_does_not_get_it_printed(
    tmp_path: Path, auth_without_tls_server: tuple[Inbox, list[bytes]]
) -> None:
    server, passwords = auth_without_tls_server
    store = synthetic_store(tmp_path / "s", devices=2, unreachable=1)
    args = ["report", "--store", str(store), "-o", str(tmp_path / "r.html"), "--email-to", "a@b"]
    args += ["--smtp-host", server.host, "--smtp-port", str(server.port), "--smtp-user", USER]
    args += ["--smtp-password-env", "PW", "--no-smtp-starttls", "--smtp-allow-plaintext-auth"]
    res = CliRunner().invoke(app, args, env={"PW": "wrong-s3cret"})
    assert res.exit_code == Exit.MAIL_FAILED, res.output
    assert passwords[-1] == b"wrong-s3cret"  # the server did get it (opted in) and answered ...
    assert "535" in res.output and "*** is not it" in res.output  # ... with it, which is hidden
    assert "wrong-s3cret" not in res.output


def test_the_opt_in_also_comes_from_the_config_file_and_the_environment(
    tmp_path: Path, auth_without_tls_server: tuple[Inbox, list[bytes]]
) -> None:
    server, passwords = auth_without_tls_server
    config = tmp_path / "fleet.toml"
    config.write_text("[smtp]\nstarttls = false\nallow_plaintext_auth = true\n")
    assert report(tmp_path, server.host, server.port, "--config", str(config))[0] == 0
    env = {"FLEET_SMTP_STARTTLS": "false", "FLEET_SMTP_ALLOW_PLAINTEXT_AUTH": "true"}
    store = synthetic_store(tmp_path / "s2", devices=2, unreachable=1)
    args = ["report", "--store", str(store), "-o", str(tmp_path / "r2.html"), "--email-to", "a@b"]
    args += ["--smtp-host", server.host, "--smtp-port", str(server.port), "--smtp-user", USER]
    res = CliRunner().invoke(app, [*args, "--smtp-password-env", "PW"], env={**env, "PW": PASSWORD})
    assert res.exit_code == 0, res.output
    assert passwords == [PASSWORD.encode()] * 2


def test_a_login_uses_starttls_by_default_and_the_password_travels_encrypted(
    tmp_path: Path, starttls_server: Inbox
) -> None:
    """No ``starttls`` setting anywhere: a user is set, so fleet upgrades the connection."""
    with wire_tap(starttls_server) as tap:
        code, output, out = report(tmp_path, tap.host, tap.port)
    assert code == 0, output
    assert starttls_server.tls == [True] and len(starttls_server.messages) == 1
    assert b"STARTTLS" in tap.sent.upper()
    for form in password_forms(USER, PASSWORD):
        assert form not in tap.sent
    assert out.read_bytes() not in tap.sent  # the report went encrypted too


def test_a_login_defaults_to_the_submission_port() -> None:
    from fleet.config import SmtpSettings

    assert SmtpSettings(host="m", user="u").effective_port() == 587
    assert SmtpSettings(host="m").effective_port() == 25  # a local relay, no login
    assert SmtpSettings(host="m", user="u", starttls=False).effective_port() == 25
    assert SmtpSettings(host="m", user="u", ssl=True).effective_port() == 465


# --- every mail failure is exit 5 ------------------------------------------------------------


def test_a_non_ascii_password_is_a_mail_failure_of_the_sweep_not_a_traceback(
    tmp_path: Path, starttls_server: Inbox
) -> None:
    """``fleet sweep`` as cron runs it (a real process): exit 5 with the reason, report kept."""
    store = synthetic_store(tmp_path / "s", devices=2, unreachable=1)
    password = "pässwörd-ß"
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(TEST_SMTP_PW=password, PYTHONPATH=pythonpath)
    args = ["sweep", "--no-collect", "--store", str(store), "--report-dir", str(tmp_path / "reports")]
    args += ["--email-to", "ops@example.net", "--smtp-user", USER, "--smtp-password-env", "TEST_SMTP_PW"]
    args += ["--smtp-host", starttls_server.host, "--smtp-port", str(starttls_server.port)]
    args += ["--smtp-starttls"]  # explicit: before issue 22 a login did not imply it
    proc = subprocess.run(
        [sys.executable, "-m", "fleet", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == Exit.MAIL_FAILED, output
    assert "Traceback" not in output and "UnicodeEncodeError" not in output
    assert "EMAIL FAILED" in output and "ASCII" in output
    assert password not in output and "pässwörd" not in output
    assert len(list((tmp_path / "reports").glob("fleet-report-*.html"))) == 1  # the report is kept
    assert starttls_server.messages == []


@contextlib.contextmanager
def closing_server() -> Iterator[int]:
    """A port of 127.0.0.1 that accepts one connection and closes it before the SMTP greeting."""
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept_and_close() -> None:
            conn, _ = listener.accept()
            conn.close()

        thread = threading.Thread(target=accept_and_close, daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("untrusted certificate", "certificate verify failed"),
        ("non-ASCII user name", "ASCII"),
        ("host name that cannot be encoded", "idna"),
        ("connection closed before the greeting", "closed"),
    ],
)
def test_every_kind_of_mail_failure_is_exit_5_never_a_traceback(
    tmp_path: Path, starttls_server: Inbox, monkeypatch: pytest.MonkeyPatch, case: str, reason: str
) -> None:
    store = synthetic_store(tmp_path / "s", devices=2, unreachable=1)
    out = tmp_path / "r.html"
    host, user = starttls_server.host, USER
    if case == "untrusted certificate":
        monkeypatch.delenv("SSL_CERT_FILE")  # the self-signed certificate is trusted no more
    elif case == "non-ASCII user name":
        user = "flëet"
    elif case == "host name that cannot be encoded":
        host = "a" * 64 + ".example"  # a DNS label is at most 63 bytes: IDNA refuses it
    with contextlib.ExitStack() as stack:
        port = starttls_server.port
        if case == "connection closed before the greeting":
            port = stack.enter_context(closing_server())
        args = ["report", "--store", str(store), "-o", str(out), "--email-to", "ops@example.net"]
        args += ["--smtp-host", host, "--smtp-port", str(port), "--smtp-user", user]
        args += ["--smtp-starttls"]  # explicit: before issue 22 a login did not imply it
        res = CliRunner().invoke(app, [*args, "--smtp-password-env", "PW"], env={"PW": PASSWORD})
    assert res.exit_code == Exit.MAIL_FAILED, (res.output, res.exception)
    assert "email not sent: " in res.output and reason.lower() in res.output.lower()
    assert f"the report is kept at {out}" in res.output and PASSWORD not in res.output
    assert starttls_server.messages == []
