"""Shared fixtures. ``lab``: one emulated fleet per test session, always torn down."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.lab import Lab, LabError, check_host, free_subnet, start_lab, stop_lab

# Workload rates in the session lab: twice the default, so a leak shows within 2-3 samples taken
# 1-2 s apart (thread_leak: +2 threads/s, heap_growth: +64 KiB/s, fd/shm: +2/s). restart_leak
# lives 6 s and is respawned 1 s later: a sampling window of 7 s or more always sees a restart.
# webui's warm-up is over after 2 s. See fleet/lab/README.md for the whole table.
LAB_SPEED = 2.0
# streamer lives 9 s (not 12 / LAB_SPEED = 6 s): with samples 1.5 s apart each life holds ~6 of them,
# so a 10-sample window sees a restart and still has a segment long enough to be significant,
# whatever phase of its life cycle the session's lab is in when a test starts sampling.
SESSION_LAB_ENV = {"restart_leak": {"LAB_LIFETIME_S": 9}}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow (soak, load)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` are skipped unless --run-slow is given."""
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def lab_unavailable() -> str | None:
    """Why the lab cannot run here (not root, dropbear missing, ...), or None."""
    try:
        check_host()
    except LabError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A running lab: lab-01..lab-08 ("mixed" profile, every workload) plus ``lab-hang``.

    ``lab.inventory`` lists them all; ``lab.wrong_identity_file`` is a key no device accepts.
    Devices live on a free random 127.N subnet; the lab is stopped at the end of the session,
    also when a test fails or the run is interrupted.
    """
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"emulated lab unavailable: {reason}")
    lab_dir = tmp_path_factory.mktemp("lab")
    try:
        yield start_lab(
            lab_dir, 8, subnet=free_subnet(), extras=("hang",), speed=LAB_SPEED, env=SESSION_LAB_ENV
        )
    finally:
        stop_lab(lab_dir)  # also after a failed start: stops whatever state.json recorded


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a fresh store goes, for tests run on both backends: a directory, or a new PostgreSQL
    database (the test module imports the ``pg_url`` fixture, tests/postgres/server.py)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store")
    else:
        yield request.getfixturevalue("pg_url")
