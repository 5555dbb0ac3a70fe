"""``kill -9`` of ``fleet sweep`` at random moments of its whole life (collect, analysis, report,
prune), many times on one store: the store stays whole, no report is ever half written under its
final name, and the next sweep runs without repair (issue 8, item 3).

The default suite kills 3 sweeps; ``--run-slow`` kills 20.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fleet.lab import Lab
from tests.helpers import raw_captures

pytestmark = pytest.mark.lab
DEVICES = ["lab-03", "lab-07"]


def sweep_cmd(inventory: Path, store: Path) -> list[str]:
    return [sys.executable, "-m", "fleet", "sweep", str(inventory), "--store", str(store)]


def samples_whole(store: Path) -> tuple[int, int]:
    """integrity_check ok; every raw capture whole; metrics all there or absent. (samples, parsed)"""
    db = sqlite3.connect(store / "fleet.db", timeout=30)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, token, parsed, metrics FROM samples").fetchall()
        raws = raw_captures(store)
        for sid, token, parsed, metrics in rows:
            assert raws[sid].startswith(token.encode() + b" v "), sid
            assert (parsed == 1) == (metrics is not None), sid
            n = db.execute("SELECT count(*) FROM process_samples WHERE sample_id = ?", (sid,)).fetchone()[0]
            assert (n > 0) == (parsed == 1), sid
        return len(rows), sum(r[2] == 1 for r in rows)
    finally:
        db.close()


def reports_whole(reports: Path) -> int:
    """Every report under its final name is complete; returns how many there are."""
    done = sorted(reports.glob("fleet-report-*.html")) if reports.exists() else []
    for path in done:
        assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), path
    return len(done)


def kill_sweeps(lab: Lab, tmp_path: Path, kills: int, seed: int) -> dict[str, object]:
    doc = yaml.safe_load(lab.inventory.read_text())
    doc["devices"] = {n: doc["devices"][n] for n in DEVICES}
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(doc))
    store, reports = tmp_path / "store", tmp_path / "reports"
    args = ["--samples", "2", "--interval", "0.5", "--report-dir", str(reports)]

    def sweep() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*sweep_cmd(inventory, store), *args],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # one whole sweep first: its length spans the moments the kills are drawn from
    started = time.monotonic()
    assert sweep().wait(timeout=120) == 0
    life = time.monotonic() - started
    rng = random.Random(seed)
    counts = [samples_whole(store)[0]]
    moments = []
    for _ in range(kills):
        proc = sweep()
        moments.append(rng.uniform(0.0, 1.2 * life))  # up to past its end: report, prune, exit
        time.sleep(moments[-1])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts.append(samples_whole(store)[0])
        reports_whole(reports)
    assert counts == sorted(counts)  # nothing a finished sweep stored was ever lost
    # the next sweep needs no repair: the kernel dropped the dead sweep's lock
    res = subprocess.run(
        [*sweep_cmd(inventory, store), "--samples", "1", "--report-dir", str(reports)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith(f"fleet sweep: collected {len(DEVICES)}/{len(DEVICES)} devices"), res.stdout
    total, parsed = samples_whole(store)
    assert parsed == total  # whatever a kill left unparsed, the next sweep parsed
    leftovers = list(reports.glob(".fleet-*.tmp"))
    alive = sum(c < counts[i + 1] for i, c in enumerate(counts[:-1]))
    return {
        "killed_after_storing": alive,
        "life": life,
        "moments": moments,
        "counts": counts,
        "final": total,
        "reports": reports_whole(reports),
        "tmp_left": len(leftovers),
    }


def test_kill_9_of_sweeps_at_random_moments(lab: Lab, tmp_path: Path) -> None:
    """3 sweeps killed at random moments (seed 11) of 1.2 x a sweep's measured life."""
    out = kill_sweeps(lab, tmp_path, 3, seed=11)
    print(f"\nkilled sweeps: {out}")


@pytest.mark.slow
def test_kill_9_of_twenty_sweeps(lab: Lab, tmp_path: Path) -> None:
    """20 sweeps killed at random moments (seed 23) of 1.2 x a sweep's measured life."""
    out = kill_sweeps(lab, tmp_path, 20, seed=23)
    print(f"\nkilled sweeps: {out}")
