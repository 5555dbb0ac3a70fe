"""Logs of the method's cat loop: splitting rounds with no delimiters, and importing them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleet.capture.methodlog import split_method_log
from fleet.cli.app import app
from fleet.metrics.from_methodlog import metrics_from_block

CORPUS = Path(__file__).parent / "data" / "proc"
SEED_MAPS = (Path(__file__).parent / "data" / "seed_maps.txt").read_text()
MEMINFO = (CORPUS / "goprocinfo/linux/proc/meminfo_1").read_text()
SLABINFO = (CORPUS / "prometheus-procfs/fixtures/proc/slabinfo").read_text()
ELISIONS = SEED_MAPS.splitlines().count("...")  # the excerpt's "..." lines


def test_rounds_are_found_without_delimiters() -> None:
    log = (MEMINFO + SEED_MAPS + SLABINFO) * 3
    blocks, skipped = split_method_log(log)
    assert len(blocks) == 3
    assert skipped == 3 * ELISIONS  # the excerpt's elisions, nothing else
    for b in blocks:
        assert b.meminfo == MEMINFO and b.slabinfo == SLABINFO
        assert b.maps.count("\n") == SEED_MAPS.count("\n") - ELISIONS


def test_maps_only_log_splits_where_addresses_go_back_down() -> None:
    blocks, _ = split_method_log(SEED_MAPS * 4)
    assert len(blocks) == 4 and all(not b.meminfo for b in blocks)


def test_round_metrics_follow_the_method() -> None:
    (block,), _ = split_method_log(MEMINFO + SEED_MAPS + SLABINFO)
    m = metrics_from_block(block, pid=412)
    assert m.mem_total is not None and m.mem_total > 10**8
    assert m.mem_available_estimated  # this 3.x-era meminfo has no MemAvailable
    assert len(m.slab) > 100
    (proc,) = m.processes
    assert (proc.pid, proc.start_time, proc.name, proc.threads) == (412, 0, "AiApp", None)
    assert proc.stack_count >= 10 and proc.shm_count == 3 and proc.address_bits == 32


def test_a_date_stamp_after_slabinfo_is_skipped_not_read_as_a_slab_cache() -> None:
    """`date` printed at the end of each round (a common addition to the loop)."""
    stamp = "Mon Dec  7 02:00:00 UTC 2026\n"
    _, before = split_method_log((MEMINFO + SEED_MAPS + SLABINFO) * 3)
    blocks, skipped = split_method_log((MEMINFO + SEED_MAPS + SLABINFO + stamp) * 3)
    assert len(blocks) == 3 and skipped == before + 3
    assert all(b.slabinfo == SLABINFO for b in blocks)
    assert all(metrics_from_block(b).slab and not metrics_from_block(b).problems for b in blocks)


def test_import_then_rank_lists_the_device(tmp_path: Path) -> None:
    log = tmp_path / "mem_log.txt"
    log.write_text((MEMINFO + SEED_MAPS + SLABINFO) * 5)
    store = tmp_path / "store"
    runner = CliRunner()
    args = ["import", str(log), "--device", "cam-seed", "--store", str(store)]
    res = runner.invoke(app, [*args, "--start", "2026-11-01T00:00:00Z", "--interval", "240"])
    assert res.exit_code == 0, res.output
    assert "imported 5 samples of cam-seed (method-log)" in res.output
    again = runner.invoke(app, [*args, "--start", "2026-11-01T00:00:00Z"])  # idempotent
    assert again.exit_code == 0
    res = runner.invoke(app, ["rank", "--store", str(store), "--json"])
    doc = json.loads(res.output)
    (dev,) = doc["devices"]
    assert (dev["name"], dev["samples"], dev["status"]) == ("cam-seed", 5, "ok")
    assert dev["first_sample"] == "2026-11-01T00:00:00Z" and dev["last_sample"] == "2026-11-01T00:16:00Z"
    shown = runner.invoke(app, ["show", "cam-seed", "--store", str(store)]).output
    assert shown.startswith("cam-seed  score ")  # an imported log has no address: no "(None)"


def test_import_of_garbage_is_a_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "junk.txt"
    log.write_bytes(b"\x00\xffhello\nworld\n")
    res = CliRunner().invoke(app, ["import", str(log), "--device", "x", "--store", str(tmp_path / "s")])
    assert res.exit_code == 2
    assert "no meminfo, maps or slabinfo" in res.output
    res = CliRunner().invoke(app, ["import", str(log), "--device", "../etc", "--store", str(tmp_path / "s")])
    assert res.exit_code == 2
