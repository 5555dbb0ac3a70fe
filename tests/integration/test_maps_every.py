"""``--maps-every``: the lab's leak catalogue collected with most maps left out of most samples.

Real Dropbear + BusyBox devices running leaking C programs, one collection of 10 samples with
``maps_every=4``: samples 1 and 5 read every maps, the others only those of processes that are new
or changed (VmSize, threads) between the two samples before. The analysis must find the same leaks.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleet.capture.split import split_capture
from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.load import load_inventory
from fleet.lab import Lab
from fleet.metrics.from_capture import steady_maps
from fleet.metrics.model import DeviceMetrics
from fleet.render.rank import rank_json
from fleet.store.schema import RawSample
from fleet.store.store import Store
from fleet.view.fleet import build_view
from tests.helpers import assert_lab_leaks_found

pytestmark = pytest.mark.lab
SAMPLES, EVERY = 10, 4
SLAB = "/proc/slabinfo"


@dataclass(frozen=True)
class Run:
    lab: Lab
    raws: dict[str, list[RawSample]]
    series: dict[str, list[DeviceMetrics]]
    rank: dict[str, Any]
    slab_growth: dict[str, tuple[tuple[str, int, int], ...]]


@pytest.fixture(scope="module")
def run(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Run:
    devices = [d for d in load_inventory(lab.inventory).devices if d.name != "lab-hang"]
    with Store(tmp_path_factory.mktemp("maps-every")) as st:
        opts = CollectOptions(samples=SAMPLES, interval=1.5, maps_every=EVERY)
        outcomes = asyncio.run(collect(devices, st, opts))
        assert {o.status for o in outcomes} == {"ok"}, [(o.name, o.error) for o in outcomes]
        raws: dict[str, list[RawSample]] = {}
        for r in st.raw_samples():
            raws.setdefault(r.device, []).append(r)
        series = {d.name: [m for _, m in st.series(d.name)] for d in devices}
        rank = rank_json(build_view(st, details=False))
        slab_growth = {v.row.name: v.slab_growth for v in build_view(st).devices}
    return Run(lab, raws, series, rank, slab_growth)


def test_maps_are_read_in_full_every_nth_sample_and_skipped_only_for_steady_processes(run: Run) -> None:
    skipped_somewhere = 0
    for name, raws in run.raws.items():
        assert len(raws) == SAMPLES
        metrics = run.series[name]
        for i, raw in enumerate(raws):
            cap = split_capture(raw.raw, raw.token or "")
            # slabinfo on the full samples only, and its absence said, not taken for unreadable
            full = i % EVERY == 0
            assert ("/proc/slabinfo" in cap.files) is full and cap.omitted == (set() if full else {SLAB})
            assert (metrics[i].slab != {}) is full, (name, i)
            if i % EVERY == 0 or i == 1:  # a full sample, or the first with no steadiness known yet
                assert not cap.skipped, (name, i)
                continue
            # only processes unchanged between the two samples before may be skipped, and the
            # capture's own shell (``$$``, named last; kept for every capture of the session, its
            # heap may still grow at first)
            steady = steady_maps(metrics[i - 2], metrics[i - 1])
            assert cap.skipped - {capture_shell(raw)} <= steady, (name, i)
            assert not any(
                {"maps", "cmdline"} & set(cap.processes[p].files) or cap.processes[p].tasks
                for p in cap.skipped
                if p in cap.processes
            )
            skipped_somewhere += len(cap.skipped)
    assert skipped_somewhere > 0


def capture_shell(raw: RawSample) -> int | None:
    """The pid of the shell that ran a skipping capture: the last one its ``m`` header names."""
    names = re.search(rb" m((?: \d+)+)\n", raw.raw)
    return int(names.group(1).split()[-1]) if names else None


def test_every_capture_on_a_kept_connection_runs_in_one_shell(run: Run) -> None:
    """A repeat sample forks no shell on the device: the ``sh -s`` of the first capture (its pid
    is the last one a skipping capture names, ``$$``) runs every later one, and is sampled as a
    steady process like any other."""
    for name, raws in run.raws.items():
        shells = {capture_shell(raw) for raw in raws} - {None}
        assert len(shells) == 1, (name, shells)
        (shell,) = shells
        seen = [{(p.pid, p.start_time) for p in m.processes if p.pid == shell} for m in run.series[name]]
        assert all(len(s) == 1 for s in seen) and len(set.union(*seen)) == 1, (name, seen)


def test_skipped_samples_carry_the_maps_figures_of_the_sample_before(run: Run) -> None:
    carried = 0
    for name, raws in run.raws.items():
        metrics = run.series[name]
        for i in range(1, SAMPLES):
            skipped = split_capture(raws[i].raw, raws[i].token or "").skipped
            before = {(p.pid, p.start_time): p for p in metrics[i - 1].processes}
            for p in metrics[i].processes:
                if p.pid in skipped:
                    b = before[(p.pid, p.start_time)]
                    assert (p.stack_count, p.class_bytes, p.exe, p.maps_digest, p.cmdline) == (
                        b.stack_count,
                        b.class_bytes,
                        b.exe,
                        b.maps_digest,
                        b.cmdline,
                    )
                    assert p.thread_names == b.thread_names and p.thread_names
                    assert p.cmdline  # the lab's processes all have one
                    carried += 1
    assert carried > 0


def test_the_report_compares_slab_caches_of_samples_that_read_them(run: Run) -> None:
    """The last sample (index 9) is a --maps-every sample without slabinfo: the report's slab
    table compares the first and last samples that read it (0 and 8), so the kernel caches that
    moved in between show up instead of an empty table."""
    assert (SAMPLES - 1) % EVERY != 0
    assert any(run.slab_growth.values())
    for name, grown in run.slab_growth.items():
        read = [m for m in run.series[name] if m.slab]
        assert len(read) == len(range(0, SAMPLES, EVERY))
        first, last = read[0].slab, read[-1].slab
        assert all(b > first.get(cache, 0) and b == last[cache] for cache, _, b in grown)


def test_skipping_costs_fewer_bytes(run: Run) -> None:
    full = [len(r.raw) for raws in run.raws.values() for i, r in enumerate(raws) if i % EVERY == 0]
    light = [len(r.raw) for raws in run.raws.values() for i, r in enumerate(raws) if i % EVERY > 1]
    assert sum(light) / len(light) < 0.9 * sum(full) / len(full)


def test_every_leaking_workload_is_still_found(run: Run) -> None:
    leak_scores, flat_scores = assert_lab_leaks_found(run.lab, run.rank)
    assert leak_scores and flat_scores


def test_the_option_reaches_collect_and_sweep(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleet.cli.app import app

    res = CliRunner().invoke(app, ["collect", "--help"])
    assert "--maps-every" in res.output
    cfg = tmp_path / "fleet.toml"
    cfg.write_text("[sweep]\nmaps_every = 0\n")
    res = CliRunner().invoke(app, ["sweep", "--no-collect", "--config", str(cfg), "--store", str(tmp_path)])
    assert res.exit_code == 2 and "maps_every: must be at least 1" in res.output, res.output
