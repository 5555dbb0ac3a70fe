"""The SQLite store: schema migrations, raw-first writes, round trips, and kill -9 safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from fleet.metrics import DeviceMetrics, ProcessMetrics
from fleet.store import MIGRATIONS, Store, StoreError, store_dir


def sample_metrics(n: int = 3) -> DeviceMetrics:
    procs = tuple(
        ProcessMetrics(
            pid=100 + i,
            start_time=5000 + i,
            name=f"proc<{i}>",
            rss=1024 * i,
            threads=i + 1,
            thread_names={"worker": i},
            class_bytes={"heap": 4096},
        )
        for i in range(n)
    )
    return DeviceMetrics(
        boot_id="b-1", uptime=12.5, mem_available=10**9, slab={"kmalloc-64": 640}, processes=procs
    )


def test_new_store_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as st:
        assert st.schema_version == len(MIGRATIONS)
        assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with Store(tmp_path / "s") as st:  # reopening migrates nothing twice
        assert st.schema_version == len(MIGRATIONS)


def test_store_from_the_future_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        st.db.execute("UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path)


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no fleet store"):
        Store(tmp_path / "nope", create=False)


def test_store_dir_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_STORE", "/env/store")
    assert store_dir("/flag") == Path("/flag")
    assert store_dir(None) == Path("/env/store")
    monkeypatch.delenv("FLEET_STORE")
    assert store_dir(None) == Path("fleet-data")


def test_raw_is_kept_compressed_and_metrics_round_trip(tmp_path: Path) -> None:
    raw = b"@@fleet-0123456789abcdef v 1\n" + b"x" * 10000
    with Store(tmp_path) as st:
        dev = st.device_id("cam-1", "10.0.0.1", ["cameras"], ["a"])
        sid = st.add_raw_sample(dev, None, 1000.0, raw, token="@@fleet-0123456789abcdef")
        (stored,) = st.raw_samples(only_unparsed=True)
        assert stored.raw == raw and stored.device == "cam-1"
        blob = st.db.execute("SELECT raw FROM samples WHERE id = ?", (sid,)).fetchone()[0]
        assert len(blob) < len(raw) / 10 and zlib.decompress(blob) == raw
        m = sample_metrics()
        st.set_metrics(sid, m)
        assert list(st.raw_samples(only_unparsed=True)) == []
        [(at, back)] = st.series("cam-1")
        assert at == 1000.0 and back == m
        assert st.db.execute("SELECT count(*) FROM process_samples").fetchone()[0] == 3
        st.set_metrics(sid, sample_metrics(2))  # a re-parse replaces, never duplicates
        assert st.db.execute("SELECT count(*) FROM process_samples").fetchone()[0] == 2


def test_devices_carry_latest_status_and_sample_counts(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        a = st.device_id("a", "h1")
        b = st.device_id("b", "h2")
        st.add_raw_sample(a, None, 10.0, b"x", token=None)
        st.add_raw_sample(a, None, 20.0, b"y", token=None)
        assert st.add_raw_sample(a, None, 20.0, b"dup", token=None) == 2  # same sample: kept once
        st.record_attempt(a, None, "ok", None, 0.1)
        st.record_attempt(b, None, "unreachable", "Connection refused", 0.1)
        rows = {r.name: r for r in st.devices()}
        assert (rows["a"].samples, rows["a"].first_sample, rows["a"].last_sample) == (2, 10.0, 20.0)
        assert (rows["b"].status, rows["b"].error, rows["b"].samples) == (
            "unreachable",
            "Connection refused",
            0,
        )


WRITER = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_store import sample_metrics
from fleet.store import Store
st = Store(Path({path!r}))
dev = st.device_id("cam", "h")
i = 0
while True:
    i += 1
    sid = st.add_raw_sample(dev, None, time.time(), b"raw-%d" % i * 2000, token=None)
    st.set_metrics(sid, sample_metrics(20))
    if i == 5:
        print("ready", flush=True)
"""


def test_kill_9_leaves_only_whole_samples(tmp_path: Path) -> None:
    root = str(Path(__file__).parent.parent)
    for round_ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER.format(root=root, path=str(tmp_path))],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 * round_)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    db = sqlite3.connect(tmp_path / "fleet.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = db.execute("SELECT id, raw, parsed, metrics FROM samples").fetchall()
    assert len(rows) >= 25
    for sid, raw, parsed, metrics in rows:
        assert zlib.decompress(raw).startswith(b"raw-")  # every raw sample is whole
        n = db.execute("SELECT count(*) FROM process_samples WHERE sample_id = ?", (sid,)).fetchone()[0]
        # parsed metrics are all there or not there at all
        assert (parsed, metrics is not None, n) in ((1, True, 20), (0, False, 0))
