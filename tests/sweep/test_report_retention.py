"""The report directory stays bounded: old dated reports and their summaries go, nothing else.

Real CLI, store and files; the reports' ages are in their names, as a sweep writes them."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.cli.exits import Exit
from fleet.store.store import Store

NOW = time.time()  # one clock for the whole module: a name made twice must come out the same


def stamp(days_ago: float) -> str:
    when = dt.datetime.fromtimestamp(NOW - days_ago * 86400, dt.UTC)
    return when.strftime("%Y-%m-%dT%H%M%SZ")


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    d = tmp_path / "reports"
    d.mkdir()
    for days in (100, 40, 10):
        (d / f"fleet-report-{stamp(days)}.html").write_text("<html></html>")
        (d / f"fleet-report-{stamp(days)}.summary.json").write_text("{}")
    (d / f"fleet-report-{stamp(100)}-2.html").write_text("a second sweep in that second")
    for foreign in ("notes.txt", "fleet-report.html", "fleet-report-2020-13-45T999999Z.html"):
        (d / foreign).write_text("not a dated report of a sweep")
    return d


def names(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


def test_a_sweep_deletes_dated_reports_older_than_90_days_by_default(tmp_path: Path, reports: Path) -> None:
    Store(tmp_path / "store").close()
    before = names(reports)
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            "--no-collect",
            "--store",
            str(tmp_path / "store"),
            "--report-dir",
            str(reports),
            "--log-json",
        ],
    )
    assert res.exit_code == Exit.OK, res.output
    done = json.loads(res.output.splitlines()[-1])
    assert done["reports_pruned"] == 3
    old = {n for n in before if stamp(100) in n}
    assert len(old) == 3 and not old & names(reports)
    after = names(reports)
    assert before - old <= after  # the 40- and 10-day reports and every foreign file stay
    assert len(after - before) == 2  # tonight's report and summary


def test_prune_deletes_by_the_flag_and_reads_the_config(tmp_path: Path, reports: Path) -> None:
    Store(tmp_path / "store").close()
    base = ["prune", "--store", str(tmp_path / "store"), "--report-dir", str(reports)]
    res = CliRunner().invoke(app, [*base, "--keep-reports-days", "30"])
    assert res.exit_code == 0, res.output
    assert "; 5 old report files deleted" in res.output
    assert not any(stamp(40) in n or stamp(100) in n for n in names(reports))
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[sweep]\nkeep_reports_days = 5\n")
    res = CliRunner().invoke(app, [*base, "--config", str(cfg)])
    assert res.exit_code == 0 and "; 2 old report files deleted" in res.output, res.output
    assert names(reports) == {"notes.txt", "fleet-report.html", "fleet-report-2020-13-45T999999Z.html"}


def test_what_cannot_be_deleted_is_skipped_with_a_warning(tmp_path: Path, reports: Path) -> None:
    (reports / f"fleet-report-{stamp(200)}.html").mkdir()  # unlink() fails on a directory
    Store(tmp_path / "store").close()
    res = CliRunner().invoke(
        app,
        [
            "prune",
            "--store",
            str(tmp_path / "store"),
            "--report-dir",
            str(reports),
            "--keep-reports-days",
            "30",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "; 5 old report files deleted" in res.output
    assert (reports / f"fleet-report-{stamp(200)}.html").is_dir()
    assert (
        f"fleet: warning: {reports}/fleet-report-{stamp(200)}.html: cannot delete: Is a directory"
        in res.output
    )


def test_keep_reports_days_is_checked_like_the_other_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text('[sweep]\nkeep_reports_days = "forever"\n')
    Store(tmp_path / "store").close()
    res = CliRunner().invoke(app, ["prune", "--store", str(tmp_path / "store"), "--config", str(cfg)])
    assert res.exit_code == Exit.USAGE
    assert "keep_reports_days: must be a non-negative number" in res.output
