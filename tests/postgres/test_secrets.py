"""A PostgreSQL store's password never shows (issue 22): not in errors, output, logs, reports or
the sweep summaries that name the store, in any form a URL can carry it.

Against the real server of server.py (trust authentication on a Unix socket, so a URL with
passwords in it connects and every command runs to the end).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.store.location import redact
from tests.postgres.server import PgServer

SECRETS = ("us3r-s3cret-1", "qu3ry-s3cret-2", "ssl-s3cret-3")


def with_passwords(url: str) -> str:
    """``url`` (``postgresql://postgres@/db?host=...``) with a password in every place one goes."""
    return url.replace("postgres@", f"postgres:{SECRETS[0]}@", 1) + (
        f"&password={SECRETS[1]}&sslpassword={SECRETS[2]}"
    )


def secrets_in(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_every_password_form_is_kept_out_of_output_reports_and_summaries(pg_url: str, tmp_path: Path) -> None:
    url = with_passwords(pg_url)
    reports = tmp_path / "reports"
    runner = CliRunner()
    outputs = [
        runner.invoke(app, ["sweep", "--no-collect", "--store", url, "--report-dir", str(reports), "-v"]),
        runner.invoke(
            app, ["sweep", "--no-collect", "--store", url, "--report-dir", str(reports), "--log-json"]
        ),
        runner.invoke(app, ["rank", "--store", url, "--json"]),
        runner.invoke(app, ["report", "--store", url, "-o", str(tmp_path / "r.html")]),
    ]
    for res in outputs:
        assert res.exit_code == 0, res.output
        assert secrets_in(res.output) == [], res.output
    files = [*reports.iterdir(), tmp_path / "r.html"]
    assert len(files) == 5  # two dated reports, their two summaries, the report
    for path in files:
        assert secrets_in(path.read_text(encoding="utf-8")) == [], path
    summary = json.loads(next(reports.glob("*.summary.json")).read_text())
    assert summary["store"] == pg_url  # the store is still named, only without its passwords
    assert f'from store <span class="mono">{pg_url}</span>' in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    "where",
    ["userinfo", "password parameter", "sslpassword parameter"],
)
def test_libpqs_own_message_for_a_bad_percent_escape_does_not_repeat_the_password(
    pg_server: PgServer, where: str
) -> None:
    """libpq quotes the bad token, here the password itself: fleet hides it (and keeps the rest)."""
    bad = "pa%zzword"
    url = pg_server.url("postgres")
    if where == "userinfo":
        url = url.replace("postgres@", f"postgres:{bad}@", 1)
    else:
        url += f"&{where.split()[0]}={bad}"
    runner = CliRunner()
    for args in (["rank", "--store", url], ["sweep", "--no-collect", "--store", url]):
        res = runner.invoke(app, args)
        assert res.exit_code == 1, res.output
        assert "invalid percent-encoded token" in res.output  # libpq's reason is kept ...
        assert bad not in res.output and "zzword" not in res.output  # ... its quote of the password not
        assert res.exception is None or isinstance(res.exception, SystemExit)


def test_a_keyword_value_conninfo_with_a_password_is_refused_without_repeating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fleet takes postgresql:// URLs; ``host=... password=...`` would otherwise name a directory
    (and its error and new directory would carry the password)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inv.yaml").write_text("devices:\n  cam-1: {host: 127.0.0.1, timeout: 2}\n")
    conninfo = "host=/run/postgresql dbname=fleet password=kv-s3cret"
    for args in (["rank", "--store", conninfo], ["collect", "inv.yaml", "--store", conninfo]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1, res.output
        assert "kv-s3cret" not in res.output and "postgresql://" in res.output
    assert list(tmp_path.glob("host=*")) == []  # no directory named after it either


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://fleet:s3cret@db:5432/fleet?sslmode=require",
            "postgresql://fleet@db:5432/fleet?sslmode=require",
        ),
        ("postgresql:///fleet?host=/run/pg&password=s3cret", "postgresql:///fleet?host=/run/pg"),
        (
            "postgresql://fleet@db/fleet?sslpassword=s3cret&sslmode=require",
            "postgresql://fleet@db/fleet?sslmode=require",
        ),
        ("postgres://fleet:s3c?ret@db/fleet", "postgres://fleet@db/fleet"),  # libpq: '?' in a password
        ("postgresql://fleet:s3c#ret@db/fleet", "postgresql://fleet@db/fleet"),
        ("postgresql://fleet:s3c@ret@db/fleet", "postgresql://fleet@db/fleet"),
        ("postgresql://fleet:s3c%zzret@db/fleet", "postgresql://fleet@db/fleet"),
        ("postgresql://fleet:s3cret@h1:5432,h2:5433/fleet", "postgresql://fleet@h1:5432,h2:5433/fleet"),
        ("postgresql://fleet@db/fleet?PASSWORD=s3cret", "postgresql://fleet@db/fleet"),
    ],
)
def test_redact_removes_the_password_wherever_libpq_would_read_one(url: str, shown: str) -> None:
    assert redact(url) == shown
