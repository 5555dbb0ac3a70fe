"""The shipped systemd units: valid for systemd, and their ExecStart is a command line fleet runs.

``systemd-analyze verify`` runs offline (no systemd needed as PID 1); it checks every directive
and that ExecStart's binary exists, so the test points it at the installed ``fleet``.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, free_port, run_fleet

UNITS = REPO / "deploy" / "systemd"


def directives(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> values (systemd allows a key more than once)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return out


def test_the_timer_runs_nightly_and_catches_up_missed_nights() -> None:
    t = directives(UNITS / "fleet-sweep.timer")
    assert t["Timer.OnCalendar"] == ["*-*-* 03:00:00"]
    assert t["Timer.Persistent"] == ["true"]
    assert t["Timer.Unit"] == ["fleet-sweep.service"]
    assert t["Install.WantedBy"] == ["timers.target"]


def test_the_service_runs_unprivileged_and_findings_do_not_fail_it() -> None:
    s = directives(UNITS / "fleet-sweep.service")
    assert s["Service.Type"] == ["oneshot"] and s["Service.User"] == ["fleet"]
    assert s["Service.SuccessExitStatus"] == ["3"]
    assert s["Service.NoNewPrivileges"] == ["yes"] and s["Service.ProtectSystem"] == ["strict"]
    assert s["Service.CapabilityBoundingSet"] == [""]
    # the store and reports stay writable, inventory, config and keys readable
    assert "/var/lib/fleet" in s["Service.ReadWritePaths"] and "/etc/fleet" in s["Service.ReadOnlyPaths"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    fleet = shutil.which("fleet")
    assert fleet, "the fleet console script is not installed"
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/usr/local/bin/fleet", fleet)
        (tmp_path / unit.name).write_text(text)
    res = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.iterdir()))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "fleet-sweep" not in res.stderr, res.stderr  # no warning about our units


def test_exec_start_runs_as_written(tmp_path: Path) -> None:
    """The unit's own command line and environment, with /etc/fleet and /var/lib/fleet moved under
    tmp: a real sweep of one device that refuses the connection, exit 0 and the summary line."""
    s = directives(UNITS / "fleet-sweep.service")

    def moved(text: str) -> str:
        return text.replace("/etc/fleet", str(tmp_path / "etc")).replace(
            "/var/lib/fleet", str(tmp_path / "var")
        )

    (tmp_path / "etc").mkdir()
    (tmp_path / "var").mkdir()
    (tmp_path / "etc" / "inventory.yaml").write_text(
        f"devices:\n  cam-1:\n    host: 127.0.0.1\n    port: {free_port()}\n    timeout: 3\n"
    )
    (tmp_path / "etc" / "fleet.toml").write_text("[sweep]\nsamples = 1\ninterval = 0\n")
    argv = shlex.split(moved(s["Service.ExecStart"][0]))
    assert argv[:2] == ["/usr/local/bin/fleet", "sweep"]
    env = {k: moved(v) for k, v in (e.split("=", 1) for e in s["Service.Environment"])}
    from .conftest import fleet_env

    res = run_fleet(*argv[1:], cwd=tmp_path / "var", env=fleet_env(**env))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("fleet sweep: collected 0/1 devices (unreachable 1); ")
    assert list((tmp_path / "var" / "reports").glob("fleet-report-*.html"))
    assert (tmp_path / "var" / "store" / "fleet.db").is_file()


def test_the_cron_line_in_the_docs_is_a_valid_sweep() -> None:
    doc = (REPO / "docs" / "scheduling.md").read_text()
    (line,) = [ln.strip() for ln in doc.splitlines() if ln.strip().startswith("0 3 * * *")]
    assert "fleet sweep" in line and "flock" not in line  # fleet locks the store itself
    assert run_fleet("sweep", "--help", cwd=REPO).returncode == 0
