"""The command line driven in-process: exit codes and what a broken input leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.store.store import Store

DATA = Path(__file__).parent / "data"


def test_broken_inventory_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("devices:\n  cam-7:\n    host: 10.0.0.1\n    prot: 22\n")
    store = tmp_path / "store"
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(store)])
    assert res.exit_code == 2
    assert res.output.strip() == f"fleet: {inv}:4: devices.cam-7.prot: unknown key"
    assert not store.exists()


def test_only_matching_nothing_is_a_usage_error(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text("devices:\n  cam-7:\n    host: 10.0.0.1\n")
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(tmp_path / "s"), "--only", "nope"])
    assert res.exit_code == 2 and "matches no device" in res.output


def test_a_site_down_names_ten_devices_per_status_and_counts_the_rest(tmp_path: Path) -> None:
    """23 devices whose address refuses the connection (nothing listens on that loopback port):
    the summary names 10 and counts 13 more; the store has every device's attempt."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inv = tmp_path / "inventory.yaml"
    names = [f"cam-{i:02d}" for i in range(23)]
    inv.write_text(
        "defaults:\n  host_key_checking: 'off'\n  timeout: 5\ndevices:\n"
        + "".join(f"  {n}:\n    host: 127.0.0.1\n    port: {port}\n" for n in names)
    )
    store = tmp_path / "s"
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(store)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()  # progress lines go to stderr
    assert lines[0].startswith("collected 0/23 devices, 0 samples in ")
    assert lines[0].endswith("(unreachable 23)")
    assert [line.split(":")[0].strip() for line in lines[1:11]] == names[:10]
    assert lines[11:] == ["  ... and 13 more unreachable (fleet rank lists every device)"]
    doc = json.loads(CliRunner().invoke(app, ["rank", "--store", str(store), "--json"]).output)
    assert sorted(d["name"] for d in doc["devices"] if d["status"] == "unreachable") == names


def test_rank_without_a_store_says_so(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["rank", "--store", str(tmp_path / "none")])
    assert res.exit_code == 1 and "no fleet store" in res.output


def test_maps_json_shape_on_the_seed_excerpt() -> None:
    res = CliRunner().invoke(app, ["maps", str(DATA / "seed_maps.txt"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["stack_size"] == 8 * 1024 * 1024 - 4096 or doc["stack_size"] == 8 * 1024 * 1024
    classes = doc["classes"]
    assert classes["thread_stack"]["count"] >= 10
    assert classes["shm"]["count"] == 3 and classes["device"]["count"] == 2
    assert classes["guard"]["count"] >= 10
    assert all(set(v) == {"count", "bytes"} for v in classes.values())


def test_maps_diff_counts_what_appeared(tmp_path: Path) -> None:
    old = (DATA / "seed_maps.txt").read_text()
    lines = old.splitlines()
    new = "\n".join(
        [
            *lines[:3],
            "a0000000-a0001000 ---p 00000000 00:00 0",
            "a0001000-a0800000 rw-p 00000000 00:00 0",
            *lines[3:],
        ]
    )
    (tmp_path / "old").write_text(old)
    (tmp_path / "new").write_text(new + "\n")
    res = CliRunner().invoke(app, ["maps", str(tmp_path / "old"), str(tmp_path / "new"), "--json"])
    doc = json.loads(res.output)
    assert doc["removed"] == {}
    assert doc["added"]["guard"]["count"] == 1


def test_maps_on_garbage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("this is not a maps file\n")
    res = CliRunner().invoke(app, ["maps", str(bad)])
    assert res.exit_code == 2 and str(bad) in res.output and "maps" in res.output


def test_collect_on_a_full_disk_is_a_clear_error(tmp_path: Path) -> None:
    """A store that cannot be written (here: its filesystem is full, a real 1 MiB tmpfs) ends the
    run with one line naming the store problem, not a traceback."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        keeper = Store(disk / "store")  # a valid store, its WAL kept open; then no room left
        with (disk / "filler").open("wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * 4096)
        os.truncate(disk / "filler", (disk / "filler").stat().st_size - 8192)  # room to open, not to write
        inv = tmp_path / "inv.yaml"
        inv.write_text("devices:\n" + "".join(f"  cam-{i}:\n    host: 127.0.0.254\n" for i in range(300)))
        res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(disk / "store")])
        keeper.close()
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True)
    assert res.exit_code == 1, res.output
    assert isinstance(res.exception, SystemExit), res.exception
    assert "the store failed" in res.output and "full" in res.output.split("failed")[-1], res.output


def test_collect_log_json_says_a_usage_error_in_json(tmp_path: Path) -> None:
    """With --log-json every stderr line is JSON, the one-line error of a broken inventory too."""
    inv = tmp_path / "inventory.yaml"
    inv.write_text("devices:\n  cam-7:\n    host: 10.0.0.1\n    prot: 22\n")
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(tmp_path / "s"), "--log-json"])
    assert res.exit_code == 2 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    doc = json.loads(line)
    assert (doc["event"], doc["level"], doc["exit"]) == ("collect_failed", "error", 2)
    assert doc["message"] == f"{inv}:4: devices.cam-7.prot: unknown key"
    plain = CliRunner().invoke(app, ["collect", str(inv), "--store", str(tmp_path / "s")])
    assert plain.stderr == f"fleet: {inv}:4: devices.cam-7.prot: unknown key\n"  # the next run is plain again


def test_import_and_prune_print_json(tmp_path: Path) -> None:
    """import and prune: --json prints the result object, --log-json the same fields as one
    ``import_done`` / ``prune_done`` log line (docs/interface.md)."""
    from tests.test_methodlog import MEMINFO, SEED_MAPS, SLABINFO

    log, store = tmp_path / "mem_log.txt", tmp_path / "store"
    log.write_text((MEMINFO + SEED_MAPS + SLABINFO) * 4)
    args = [
        "import",
        str(log),
        "--device",
        "cam-seed",
        "--store",
        str(store),
        "--start",
        "2026-11-01T00:00:00Z",
    ]
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc == {
        "device": "cam-seed",
        "samples": 4,
        "kind": "method-log",
        "skipped": doc["skipped"],
        "file": str(log),
        "first": "2026-11-01T00:00:00Z",
        "last": "2026-11-01T00:12:00Z",
    }
    assert doc["skipped"] > 0  # the excerpt's "..." lines
    res = CliRunner().invoke(app, [*args, "--log-json"])
    (line,) = res.stdout.splitlines()
    done = json.loads(line)
    assert done["event"] == "import_done" and done["message"].startswith("imported 4 samples of cam-seed")
    assert {k: done[k] for k in doc} == doc

    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "fleet-report-2020-01-01T000000Z.html").write_text("old")
    prune = ["prune", "--store", str(store), "--report-dir", str(reports), "--keep-raw-days", "0"]
    res = CliRunner().invoke(app, [*prune, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (doc["raw_pruned"], doc["samples_pruned"], doc["reports_pruned"]) == (4, 0, 1)
    assert doc["bytes_before"] >= doc["bytes_after"] > 0 and doc["report_dir"] == str(reports)
    assert (doc["keep_raw_days"], doc["keep_metrics_days"], doc["keep_reports_days"]) == (0, 365, 90)
    res = CliRunner().invoke(app, [*prune, "--log-json", "--keep-metrics-days", "0"])
    (line,) = res.stdout.splitlines()
    done = json.loads(line)
    assert done["event"] == "prune_done" and done["level"] == "info"
    assert (done["raw_pruned"], done["samples_pruned"], done["reports_pruned"]) == (0, 4, 0)
    assert done["message"].startswith("pruned 0 raw captures and 4 samples;")
    bad = CliRunner().invoke(app, ["prune", "--store", str(tmp_path / "none"), "--log-json"])
    assert bad.exit_code == 1 and json.loads(bad.stderr)["event"] == "prune_failed"


def test_a_collect_that_cannot_open_its_store_leaves_no_progress_thread(tmp_path: Path) -> None:
    """The progress ticker (a thread writing lines off a terminal) starts only once the store is
    open and stops however the run ends: none is left writing into a later command's output."""
    import threading

    inv = tmp_path / "inventory.yaml"
    inv.write_text("devices:\n  cam-7:\n    host: 127.0.0.1\n    port: 1\n    timeout: 1\n")
    (tmp_path / "file").write_text("not a store")
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(tmp_path / "file")])
    assert res.exit_code == 1, res.output
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert "fleet: round 1/1: 1/1 devices (100 %)" in res.stderr
    assert not [t for t in threading.enumerate() if t.name == "fleet-progress"]
