"""Issue 22 end to end: real lab devices whose capture is edited on its way out (lab-bignum: 20-digit
numbers; lab-procflood: 100,000 made-up processes), collected by a real ``fleet collect`` over SSH
beside a healthy device; then rank, report and sweep --no-collect on that store.

Before the fix, lab-bignum's samples failed with "internal error: OverflowError" during collect and
stayed unparsed, and every later rank, report and sweep exited 1 on them; lab-procflood's were
stored whole (100,000 processes each)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.lab import Lab, free_subnet, start_lab, stop_lab
from fleet.metrics.limits import MAX_PROCESSES
from fleet.store.store import open_store
from tests.helpers import run_child

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path, int]]:
    """The lab, its store after 2 samples 1 s apart of every device, the collector's peak RSS."""
    from tests.conftest import lab_unavailable

    reason = lab_unavailable()
    if reason:
        pytest.skip(f"emulated lab unavailable: {reason}")
    lab_dir = tmp_path_factory.mktemp("hostile-captures")
    try:
        lab = start_lab(lab_dir, 1, profile="light", subnet=free_subnet(), extras=("bignum", "procflood"))
        store = lab_dir / "store"
        argv = [sys.executable, "-m", "fleet", "collect", str(lab.inventory), "--store", str(store)]
        run = run_child([*argv, "--samples", "2", "--interval", "1"], timeout=180)
        assert run.returncode == 0, run.output
        yield lab, store, run.peak_kib
    finally:
        stop_lab(lab_dir)


def test_hostile_captures_cost_their_device_only(collected: tuple[Lab, Path, int], tmp_path: Path) -> None:
    _, store, peak_kib = collected
    runner = CliRunner()
    rank = runner.invoke(app, ["rank", "--store", str(store), "--json"])
    assert rank.exit_code == 0, rank.output
    devices = {d["name"]: d for d in json.loads(rank.output)["devices"]}
    assert (devices["lab-01"]["status"], devices["lab-01"]["samples"]) == ("ok", 2)
    # the big numbers are unknown values and problems of otherwise whole samples, analysed
    bignum = devices["lab-bignum"]
    assert (bignum["status"], bignum["samples"], bignum["analysis_error"]) == ("ok", 2, None)
    assert bignum["processes"] and 99999 not in {p["pid"] for p in bignum["processes"]}
    # the flood is a capture_error saying why; its raw captures are kept, never analysed
    flood = devices["lab-procflood"]
    assert flood["status"] == "capture_error" and flood["samples"] == 2
    assert flood["error"] == (
        f"capture holds more than {MAX_PROCESSES} processes (a camera runs 50-300): refused, raw capture kept"
    )
    with open_store(store) as st:
        states = st.sql(
            "SELECT d.name, s.parsed, s.problems_json FROM samples s JOIN devices d ON d.id = s.device_id"
        )
        assert {(name, parsed) for name, parsed, _ in states} == {
            ("lab-01", 1),
            ("lab-bignum", 1),
            ("lab-procflood", 2),
        }
        problems = [json.loads(p) for name, _, p in states if name == "lab-bignum"]
        assert all(
            any(x.startswith("mem_available ") and x.endswith(" out of range: unknown") for x in ps)
            and "pid 99999: dropped, start time 99999999999999999999 out of range" in ps
            for ps in problems
        )
        floods = [r.raw for r in st.raw_samples() if r.device == "lab-procflood"]
        assert len(floods) == 2 and all(raw.count(b"(fake)") == 100_000 for raw in floods)
    report = runner.invoke(app, ["report", "--store", str(store), "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output
    sweep = ["sweep", "--no-collect", "--store", str(store), "--report-dir", str(tmp_path / "reports")]
    assert runner.invoke(app, sweep).exit_code == 0
    assert peak_kib < 250 * 1024, peak_kib  # two 8.6 MB floods: the collector stays small
