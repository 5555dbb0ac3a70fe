"""Load (issue 8, item 8): a light lab of hundreds of devices, 10% of them unreachable, silent,
hanging, trickling, flooding, dropping or printing garbage, swept by a real ``fleet collect`` (and
one ``fleet sweep``). The run ends within its timeouts, every failure is classified with its
reason, healthy devices lose nothing, and the collector's peak RSS (the child's own VmHWM, see
tests/helpers.py) does not grow with the number of devices beyond a little.

The default suite runs a 30-device variant (3 broken) in a few seconds; the 100- and 300-device
runs are marked slow: ``pytest --run-slow tests/reliability``. Device timeouts are generous (the
machine is shared); assertions are about classification and bounds, never about speed.
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fleet.lab import free_subnet, start_lab, stop_lab
from fleet.ssh.outcomes import STATUSES
from tests.helpers import run_child, silent_listener

pytestmark = pytest.mark.lab
CONCURRENCY = 64  # fleet collect's default

# What each kind of broken device must be classified as: (status, words in the error).
EXPECT = {
    "flood": ("capture_error", "output larger than"),
    "garbage": ("capture_error", "no capture in"),
    "drop": ("capture_error", "session failed during capture"),
    "slow": ("timeout", "no answer within"),
    "hang": ("timeout", "no answer within"),
    "silent": ("timeout", "no answer within"),
    "refused": ("unreachable", ""),
}


@dataclass
class LoadRun:
    devices: dict[str, dict[str, object]]  # rank --json entries by name
    kinds: dict[str, str]  # device name -> "ok" or the kind of breakage
    seconds: float
    bound: float  # the run must end within this many seconds
    peak_kib: int  # VmHWM of the collect process
    samples: int
    integrity: str
    summary: str


def run_collect(inventory: Path, store: Path, *extra: str) -> tuple[float, int, str, int]:
    """``fleet collect`` as a child; (seconds, peak RSS KiB of that child alone, output, exit)."""
    run = run_child(
        [sys.executable, "-m", "fleet", "collect", str(inventory), "--store", str(store), *extra], timeout=900
    )
    return run.seconds, run.peak_kib, run.output, run.returncode


def load_run(
    tmp: Path, normal: int, extras: dict[str, int], refused: int, timeout: float, sweep: bool = False
) -> LoadRun:
    """Start a light lab of ``normal`` devices plus broken ``extras``, a silent listener and
    ``refused`` addresses where nothing listens; collect once; stop the lab."""
    names = tuple(kind for kind, n in extras.items() for _ in range(n))
    lab_dir = tmp / "lab"
    subnet = free_subnet()
    try:
        lab = start_lab(lab_dir, normal, profile="light", subnet=subnet, extras=names)
        doc = yaml.safe_load(lab.inventory.read_text())
        doc["defaults"]["timeout"] = timeout
        kinds = {d.name: ("ok" if d.shell == "sh" else d.shell) for d in lab.devices}
        for k in range(refused):  # addresses no lab device uses: connection refused
            doc["devices"][f"lab-refused-{k + 1}"] = {
                "host": f"{subnet}.3.{k + 1}",
                "host_key_checking": "off",
            }
            kinds[f"lab-refused-{k + 1}"] = "refused"
        doc["devices"]["lab-silent"] = {"host": f"{subnet}.0.240", "host_key_checking": "off"}
        kinds["lab-silent"] = "silent"
        inventory = tmp / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(doc))
        store = tmp / "store"
        with silent_listener(f"{subnet}.0.240"):
            seconds, peak, out, code = run_collect(inventory, store)
            assert code == 0, out
            # stdout's summary, after the progress lines stderr got meanwhile (merged into ``out``)
            summary = next((x for x in out.splitlines() if x.startswith("collected ")), out[-500:])
            print(f"\n{len(kinds)} devices: {summary}; {seconds:.1f} s; peak RSS {peak / 1024:.1f} MiB")
            if sweep:
                sweep_args = [
                    "--samples",
                    "1",
                    "--report-dir",
                    str(tmp / "reports"),
                ]  # no recipient: no email
                res = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "fleet",
                        "sweep",
                        str(inventory),
                        "--store",
                        str(tmp / "s2"),
                        *sweep_args,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=math.ceil(len(kinds) / CONCURRENCY) * timeout + 300,
                    cwd=tmp,
                )
                assert res.returncode == 0, res.stdout + res.stderr
                assert (
                    f"collected {sum(k == 'ok' for k in kinds.values())}/{len(kinds)} devices" in res.stdout
                )
                assert len(list((tmp / "reports").glob("fleet-report-*.html"))) == 1
    finally:
        stop_lab(lab_dir)
    rank = subprocess.run(
        [sys.executable, "-m", "fleet", "rank", "--store", str(store), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    db = sqlite3.connect(store / "fleet.db")
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        samples = db.execute("SELECT count(*) FROM samples WHERE parsed = 1").fetchone()[0]
        assert db.execute("SELECT count(*) FROM samples").fetchone()[0] == samples  # all parsed
    finally:
        db.close()
    # every device costs at most its timeout, CONCURRENCY at a time; 60 s for start-up and the writer
    bound = math.ceil(len(kinds) / CONCURRENCY) * timeout + 60
    return LoadRun(
        devices={d["name"]: d for d in json.loads(rank.stdout)["devices"]},
        kinds=kinds,
        seconds=seconds,
        bound=bound,
        peak_kib=peak,
        samples=samples,
        integrity=integrity,
        summary=summary,
    )


def check_run(run: LoadRun) -> None:
    """Ended within bound, integrity ok, every device classified: healthy ones ok with their sample,
    every broken one with the status and reason its breakage calls for, no sample from it."""
    assert run.seconds < run.bound, (run.seconds, run.bound)
    assert run.integrity == "ok"
    assert set(run.devices) == set(run.kinds)
    healthy = [n for n, k in run.kinds.items() if k == "ok"]
    for name, kind in run.kinds.items():
        dev = run.devices[name]
        assert dev["status"] in STATUSES, (name, dev)
        assert "internal error" not in str(dev["error"] or ""), (name, dev["error"])
        if kind == "ok":
            assert (dev["status"], dev["samples"]) == ("ok", 1), (name, dev["error"])
        else:
            status, words = EXPECT[kind]
            assert dev["status"] == status and words in str(dev["error"]), (name, kind, dev["error"])
            assert dev["samples"] == 0, name
    assert run.samples == len(healthy)
    assert run.summary.startswith(f"collected {len(healthy)}/{len(run.kinds)} devices"), run.summary


@pytest.fixture
def lab_required() -> None:
    from tests.conftest import lab_unavailable

    reason = lab_unavailable()
    if reason:
        pytest.skip(f"emulated lab unavailable: {reason}")


def test_thirty_devices_four_broken(lab_required: None, tmp_path: Path) -> None:
    """Default suite: 27 healthy + garbage + dropped session + refused address + silent listener
    (31 devices, 4 broken, 13%). Timeout 6 s: only the silent listener waits for it, so the run
    stays a few seconds long, and a healthy device on a busy machine still has room."""
    run = load_run(tmp_path, 27, {"garbage": 1, "drop": 1}, refused=1, timeout=6)
    check_run(run)
    assert run.peak_kib < 250 * 1024, run.peak_kib
    print(
        f"\n30-device load: {run.summary}; {run.seconds:.1f} s (bound {run.bound:.0f} s); "
        f"peak RSS {run.peak_kib / 1024:.1f} MiB"
    )


# 10% broken, two floods in each so that the RSS comparison is about N, not about flood buffers
BROKEN_100 = {"flood": 2, "garbage": 2, "drop": 1, "slow": 1, "hang": 1}  # + 2 refused + silent = 10
BROKEN_300 = {"flood": 2, "garbage": 6, "drop": 6, "slow": 5, "hang": 6}  # + 4 refused + silent = 30
SLOW_TIMEOUT = 30.0


@pytest.mark.slow
def test_three_hundred_devices_memory_does_not_grow_with_n(lab_required: None, tmp_path: Path) -> None:
    """100 devices (90 healthy, 10 broken) then 300 (270 healthy, 30 broken: 2 flooding, 6 garbage,
    6 dropped sessions, 5 trickling, 6 hanging shells, 4 refused addresses, 1 silent listener),
    timeout 30 s each; then one ``fleet sweep`` (no recipient: no email) over the 300. Each run ends within
    ceil(N / 64) x 30 s + 60 s, classifies every failure, and the peak RSS at 300 devices is within
    24 MiB of the peak at 100."""
    small = load_run(tmp_path / "n100", 90, BROKEN_100, refused=2, timeout=SLOW_TIMEOUT)
    check_run(small)
    big = load_run(tmp_path / "n300", 270, BROKEN_300, refused=4, timeout=SLOW_TIMEOUT, sweep=True)
    check_run(big)
    for run in (small, big):
        print(
            f"\n{len(run.kinds)} devices: {run.summary}; {run.seconds:.1f} s (bound {run.bound:.0f} s); "
            f"peak RSS {run.peak_kib / 1024:.1f} MiB"
        )
    assert big.peak_kib < 300 * 1024, big.peak_kib
    assert big.peak_kib - small.peak_kib < 24 * 1024, (small.peak_kib, big.peak_kib)
