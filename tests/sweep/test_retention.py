"""Retention: many simulated nights of real captures, pruned after each, keep the store bounded.

Captures are real (the capture script through this machine's ``sh -s``); only ``captured_at`` is
shifted by a day per night, as a cron job would produce. Each capture is parsed once and its metrics
reused, so a night costs a raw insert, a metrics write and a prune.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.capture.split import split_capture
from fleet.cli.app import app
from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.load import load_inventory
from fleet.lab import Lab, LabError, check_host
from fleet.metrics.from_capture import metrics_from_capture
from fleet.metrics.model import DeviceMetrics
from fleet.store import codec
from fleet.store.location import DB_NAME
from fleet.store.store import Store

from .conftest import LocalCapture, local_capture

DAY = 86400.0
T0 = 1_780_000_000.0  # an arbitrary night 0 (2026-05-28)


@dataclass(frozen=True)
class Parsed:
    capture: LocalCapture
    metrics: DeviceMetrics


def _lab_runs_here() -> bool:
    try:
        check_host()
    except LabError:
        return False
    return True


@pytest.fixture(scope="module")
def captures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[Parsed]:
    """Real captures parsed once: six of lab devices (the size of a small embedded device) when the
    lab runs here, else two of this machine through ``sh -s`` (far bigger: a whole host's /proc)."""
    if _lab_runs_here():
        lab: Lab = request.getfixturevalue("lab")
        devices = [
            d for d in load_inventory(lab.inventory).devices if d.name in ("lab-01", "lab-03", "lab-05")
        ]
        with Store(tmp_path_factory.mktemp("captures")) as st:
            asyncio.run(collect(devices, st, CollectOptions(samples=2, interval=0.5)))
            raws = [LocalCapture(r.token or "", r.raw) for r in st.raw_samples()]
    else:
        raws = [local_capture() for _ in range(2)]
    return [Parsed(c, metrics_from_capture(split_capture(c.raw, c.token))) for c in raws]


@dataclass(frozen=True)
class Nights:
    sizes: list[int]  # store bytes on disk after each night's prune
    raw: list[int]  # of which raw capture bytes (zstd: standalone bases and deltas against them)
    devices: int
    samples: int  # per device per night


def simulate(
    directory: Path,
    captures: list[Parsed],
    *,
    nights: int,
    devices: int,
    samples: int,
    keep_raw_days: float | None,
    keep_metrics_days: float | None,
) -> Nights:
    """One sweep per night (a run, one attempt + sample per device per round), then prune."""
    sizes, raw = [], []
    with Store(directory) as st:
        ids = [st.device_id(f"cam-{d:03d}", f"10.0.0.{d + 1}") for d in range(devices)]
        for night in range(nights):
            run = st.begin_run("inventory.yaml")
            for j in range(samples):
                at = T0 + night * DAY + j * 60.0
                for d, dev in enumerate(ids):
                    p = captures[(night + d + j) % len(captures)]
                    sid = st.add_raw_sample(dev, run, at, p.capture.raw, token=p.capture.token)
                    st.set_metrics(sid, p.metrics)
                    st.record_attempt(dev, run, "ok", None, 1.0, at=at)
            st.end_run(run)
            st.prune(
                keep_raw_days=keep_raw_days,
                keep_metrics_days=keep_metrics_days,
                now=T0 + night * DAY + 3600.0,
            )
            sizes.append(st.size_bytes())
            raw.append(st.db.execute("SELECT coalesce(sum(length(raw)), 0) FROM samples").fetchone()[0])
            assert st.db.execute("PRAGMA freelist_count").fetchone()[0] < 16, f"night {night}"
    return Nights(sizes, raw, devices, samples)


def per_device_night(n: Nights, first: int, last: int) -> float:
    """Bytes the store grew per device per night between two nights."""
    return (n.sizes[last] - n.sizes[first]) / ((last - first) * n.devices)


def assert_bounded(n: Nights, first: int, captures: list[Parsed], keep_raw: int) -> None:
    """From night ``first`` on (both windows full) the store is bounded: the raw captures held are
    at most ``keep_raw`` nights of them, each at most a standalone capture (how many are bases and
    how small the deltas are cycles with the nights, by tens of KB: no flatness to ask of it), and
    everything else (metrics, attempts, indexes) stays flat, give or take the unused end of the
    last page of each raw capture."""
    held = n.devices * n.samples * keep_raw  # raw captures in the store once the raw window is full
    standalone = max(len(codec.compress(p.capture.raw)) for p in captures)
    assert max(n.raw[first:]) <= held * standalone, n.raw
    rest = [size - raw for size, raw in zip(n.sizes[first:], n.raw[first:], strict=True)]
    assert max(rest) - min(rest) <= max(min(rest) * 0.05, 16 * 4096) + held * 4096, rest


def test_a_new_store_is_created_with_incremental_auto_vacuum(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as st:
        assert st.db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
    # and it is a property of the file, not of the connection that created it
    db = sqlite3.connect(tmp_path / "s" / DB_NAME)
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    db.close()


def test_prune_gives_the_freed_pages_back_to_the_filesystem(tmp_path: Path, captures: list[Parsed]) -> None:
    simulate(
        tmp_path / "s", captures, nights=8, devices=2, samples=1, keep_raw_days=None, keep_metrics_days=None
    )
    with Store(tmp_path / "s") as st:
        before = st.size_bytes()
        raw_bytes = st.db.execute("SELECT sum(length(raw)) FROM samples").fetchone()[0]
        pruned = st.prune(keep_raw_days=0, keep_metrics_days=None, now=T0 + 30 * DAY)
        after = st.size_bytes()
        assert pruned.raw_dropped == 16 and pruned.samples_dropped == 0
        assert st.db.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert st.db.execute("SELECT count(*) FROM samples WHERE raw IS NULL").fetchone()[0] == 16
        assert len(st.series("cam-000")) == 8  # the parsed metrics stay
    # The pages prune emptied went back to the filesystem (none is left on the free list, and the
    # file shrank). Not "shrank by the raw bytes": a raw delta of 1-3 KB shares its page with its
    # row, and such a page is only partly emptied; how many pages empty depends on the captures.
    assert raw_bytes > 0 and before - after >= 4 * 4096, (before, after, raw_bytes)


def test_sixty_nights_stay_bounded_and_raw_is_kept_exactly_n_days(
    tmp_path: Path, captures: list[Parsed]
) -> None:
    keep_raw, keep_metrics = 7, 21
    n = simulate(
        tmp_path / "s",
        captures,
        nights=60,
        devices=3,
        samples=1,
        keep_raw_days=keep_raw,
        keep_metrics_days=keep_metrics,
    )
    with Store(tmp_path / "s") as st:
        with_raw = st.db.execute("SELECT count(*) FROM samples WHERE raw IS NOT NULL").fetchone()[0]
        total = st.sample_count()
        attempts = st.db.execute("SELECT count(*) FROM attempts").fetchone()[0]
    # prune runs an hour after the night's sweep: the last keep_raw nights keep raw, keep_metrics nights stay
    assert with_raw == 3 * keep_raw
    assert total == attempts == 3 * keep_metrics
    assert_bounded(n, keep_metrics + 2, captures, keep_raw)
    steady = n.sizes[keep_metrics + 2 :]
    raw_phase = per_device_night(n, 1, keep_raw - 1)  # everything kept
    metrics_phase = per_device_night(n, keep_raw + 2, keep_metrics - 1)  # raw pruned, metrics grow
    # (No order is asserted between the two phases: a raw delta is 1-3 KB, within a page's worth
    # of allocation noise per device-night; assert_bounded above is what holds the store down.)
    print(
        f"\nper device per night (1 sample of ~{len(captures[0].capture.raw)} raw bytes):"
        f" raw kept {raw_phase:.0f} B, after raw pruned {metrics_phase:.0f} B;"
        f" steady store {steady[-1]} B for 3 devices"
    )


@pytest.mark.slow
def test_half_a_year_of_nights_stays_bounded(tmp_path: Path, captures: list[Parsed]) -> None:
    """The shipped defaults scaled down (14 days raw, 60 days metrics), 3 samples a night, 180 nights."""
    n = simulate(
        tmp_path / "s", captures, nights=180, devices=4, samples=3, keep_raw_days=14, keep_metrics_days=60
    )
    assert_bounded(n, 62, captures, 14)
    steady = n.sizes[62:]
    print(
        f"\nper device per night (3 samples): raw kept {per_device_night(n, 1, 13):.0f} B,"
        f" after raw pruned {per_device_night(n, 16, 59):.0f} B; steady store {steady[-1]} B for 4 devices"
    )


def test_prune_command_reads_its_defaults_from_the_config_file(
    tmp_path: Path, captures: list[Parsed]
) -> None:
    simulate(
        tmp_path / "s", captures, nights=3, devices=1, samples=1, keep_raw_days=None, keep_metrics_days=None
    )
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[sweep]\nkeep_raw_days = 0\nkeep_metrics_days = 100000\n")
    res = CliRunner().invoke(app, ["prune", "--store", str(tmp_path / "s"), "--config", str(cfg)])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("pruned 3 raw captures and 0 samples; store ")
    # a flag beats the file
    res = CliRunner().invoke(
        app, ["prune", "--store", str(tmp_path / "s"), "--config", str(cfg), "--keep-metrics-days", "0"]
    )
    assert res.exit_code == 0 and res.output.startswith("pruned 0 raw captures and 3 samples"), res.output
