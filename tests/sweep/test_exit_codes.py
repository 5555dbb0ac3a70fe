"""``--fail-on`` for rank and sweep, on stores whose worst finding is known: none, medium, high.

The stores hold hand-made metrics (exact numbers, so the severity is certain) behind the real
store, analysis and command line; the lab tests check the same codes on live captures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.cli.exits import Exit
from fleet.store.store import Store
from fleet.view.fleet import build_view, worst_severity

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from analysis_builder import device, proc


def leaking_store(directory: Path, points: int) -> Path:
    """One device whose AiApp leaks 10 threads a sample (``points`` samples), one healthy device."""
    leak = [
        [proc(100, "AiApp", threads=1 + 10 * i, stack_count=10 * i), proc(200, "netmgr")]
        for i in range(points)
    ]
    flat = [[proc(100, "netmgr")] for _ in range(points)]
    with Store(directory) as st:
        for name, series in (("cam-leak", device(leak)), ("cam-ok", device(flat))):
            dev = st.device_id(name, "10.0.0.1")
            for at, metrics in series:
                sid = st.add_raw_sample(dev, None, at, b"", token=None, source="test")
                st.set_metrics(sid, metrics)
    return directory


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("fail-on")
    out = {"high": leaking_store(tmp / "high", 12), "medium": leaking_store(tmp / "medium", 6)}
    healthy = tmp / "none"
    with Store(healthy) as st:
        dev = st.device_id("cam-ok", "10.0.0.1")
        for at, metrics in device([[proc(100, "netmgr")] for _ in range(12)]):
            st.set_metrics(st.add_raw_sample(dev, None, at, b"", token=None, source="test"), metrics)
    out["none"] = healthy
    for worst, path in out.items():  # the premise of every case below
        with Store(path) as st:
            assert (worst_severity(build_view(st)) or "none") == worst
    return out


CASES = [
    ("none", "high", Exit.OK),
    ("none", "medium", Exit.OK),
    ("medium", "high", Exit.OK),
    ("medium", "medium", Exit.FINDINGS),
    ("high", "high", Exit.FINDINGS),
    ("high", "medium", Exit.FINDINGS),
]


@pytest.mark.parametrize(("worst", "fail_on", "code"), CASES)
def test_rank_fail_on(stores: dict[str, Path], worst: str, fail_on: str, code: Exit) -> None:
    res = CliRunner().invoke(app, ["rank", "--store", str(stores[worst]), "--fail-on", fail_on])
    assert res.exit_code == code, res.output
    assert "cam-ok" in res.output  # the ranking is printed either way


@pytest.mark.parametrize(("worst", "fail_on", "code"), CASES)
def test_sweep_fail_on(stores: dict[str, Path], tmp_path: Path, worst: str, fail_on: str, code: Exit) -> None:
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            "--no-collect",
            "--store",
            str(stores[worst]),
            "--report-dir",
            str(tmp_path / "reports"),
            "--fail-on",
            fail_on,
        ],
    )
    assert res.exit_code == code, res.output
    assert res.output.startswith("fleet sweep: ") and res.output.count("\n") == 1
    assert len(list((tmp_path / "reports").glob("fleet-report-*.html"))) == 1


def test_fail_on_from_the_config_file_and_the_flag_wins(stores: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "fleet.toml"
    cfg.write_text(f'[sweep]\nfail_on = "medium"\nreport_dir = "{tmp_path / "r"}"\n')
    base = ["sweep", "--no-collect", "--store", str(stores["medium"]), "--config", str(cfg)]
    assert CliRunner().invoke(app, base).exit_code == Exit.FINDINGS
    assert CliRunner().invoke(app, [*base, "--fail-on", "high"]).exit_code == Exit.OK


def test_unknown_fail_on_is_a_usage_error(stores: dict[str, Path]) -> None:
    res = CliRunner().invoke(app, ["rank", "--store", str(stores["none"]), "--fail-on", "low"])
    assert res.exit_code == Exit.USAGE


def test_mail_failure_exits_5_keeps_the_report_and_says_so(stores: dict[str, Path], tmp_path: Path) -> None:
    """Nothing listens on the port: the report stays on disk and the exit code tells the scheduler."""
    from .conftest import free_port

    res = CliRunner().invoke(
        app,
        [
            "sweep",
            "--no-collect",
            "--store",
            str(stores["high"]),
            "--report-dir",
            str(tmp_path / "r"),
            "--fail-on",
            "high",
            "--email-to",
            "ops@example.net",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(free_port()),
        ],
    )
    assert res.exit_code == Exit.MAIL_FAILED, res.output  # a mail failure outranks findings
    reports = list((tmp_path / "r").glob("fleet-report-*.html"))
    assert len(reports) == 1 and reports[0].stat().st_size > 1000
    assert "email not sent: SMTP 127.0.0.1:" in res.output
    assert f"(the report is kept at {reports[0]})" in res.output
    assert "EMAIL FAILED" in res.output.splitlines()[-1]


def test_no_smtp_host_is_a_mail_failure_not_a_crash(stores: dict[str, Path], tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "sweep",
            "--no-collect",
            "--store",
            str(stores["none"]),
            "--report-dir",
            str(tmp_path / "r"),
            "--email-to",
            "ops@example.net",
        ],
    )
    assert res.exit_code == Exit.MAIL_FAILED and "no SMTP host" in res.output


def test_exit_table_in_the_readme_lists_every_code() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("### Exit codes") :]
    for code in Exit:
        assert f"| {int(code)} |" in table, code
