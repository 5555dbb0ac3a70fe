"""The store on both backends (SQLite and PostgreSQL): schema migrations, raw-first writes, round
trips, concurrent writers and kill -9 safety. PostgreSQL cases skip only without server binaries."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import fleet.store.store
from fleet.errors import StoreError
from fleet.metrics.model import DeviceMetrics, ProcessMetrics
from fleet.store import codec
from fleet.store.deltas import MAX_DELTAS_PER_BASE
from fleet.store.location import default_collector, store_dir, store_location
from fleet.store.lock import store_lock
from fleet.store.schema import MIGRATIONS, Pruned
from fleet.store.store import Store, open_store
from tests.postgres.server import pg_server, pg_url  # noqa: F401  (fixtures)

ROOT = str(Path(__file__).parent.parent)


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


def test_new_store_is_migrated(location: str) -> None:
    with open_store(location, create=True) as st:
        assert st.schema_version == len(MIGRATIONS)
        if st.kind == "sqlite":
            assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with open_store(location) as st:  # reopening migrates nothing twice
        assert st.schema_version == len(MIGRATIONS)


def test_old_store_is_upgraded_in_place(location: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet.store.store, "MIGRATIONS", MIGRATIONS[:3])
    with open_store(location, create=True) as st:
        st.device_id("old-cam", "h")
        assert st.schema_version == 3
    monkeypatch.undo()
    with open_store(location) as st:
        assert st.schema_version == len(MIGRATIONS)
        [row] = st.devices()
        assert (row.name, row.collector) == ("old-cam", None)


def test_store_from_the_future_is_refused(location: str) -> None:
    with open_store(location, create=True) as st:
        st.sql("UPDATE schema_version SET version = 999")
    with pytest.raises(StoreError, match="newer"):
        open_store(location)


def test_missing_store_is_a_clear_error(location: str) -> None:
    with pytest.raises(StoreError, match="no fleet store"):
        open_store(location, create=False)


def test_store_dir_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_STORE", "/env/store")
    assert store_dir("/flag") == Path("/flag")
    assert store_dir(None) == Path("/env/store")
    monkeypatch.setenv("FLEET_STORE", "postgresql://fleet@db.example.net/fleet")
    assert store_location(None) == "postgresql://fleet@db.example.net/fleet"  # not a mangled Path
    assert store_location("/flag") == Path("/flag")
    monkeypatch.delenv("FLEET_STORE")
    assert store_dir(None) == Path("fleet-data")
    assert store_location(None) == Path("fleet-data")


def test_raw_is_kept_compressed_and_metrics_round_trip(location: str) -> None:
    raw = b"@@fleet-0123456789abcdef v 1\n" + b"x" * 10000
    with open_store(location, create=True) as st:
        dev = st.device_id("cam-1", "10.0.0.1", ["cameras"], ["a"])
        sid = st.add_raw_sample(dev, None, 1000.0, raw, token="@@fleet-0123456789abcdef")
        (stored,) = st.raw_samples(only_unparsed=True)
        assert stored.raw == raw and stored.device == "cam-1"
        [(blob,)] = st.sql("SELECT raw FROM samples WHERE id = ?", (sid,))
        assert len(blob) < len(raw) / 10 and codec.decompress(blob) == raw
        m = sample_metrics()
        st.set_metrics(sid, m)
        assert list(st.raw_samples(only_unparsed=True)) == []
        [(at, back)] = st.series("cam-1")
        assert at == 1000.0 and back == m
        assert st.sql("SELECT count(*) FROM process_samples") == [(3,)]
        st.set_metrics(sid, sample_metrics(2))  # a re-parse replaces, never duplicates
        assert st.sql("SELECT count(*) FROM process_samples") == [(2,)]
        assert st.raw_at("cam-1", 1000.0) is not None and st.raw_at("cam-1", 1.0) is None


def test_times_and_big_numbers_keep_full_precision(location: str) -> None:
    with open_store(location, create=True) as st:
        dev = st.device_id("cam")
        at = 1_767_225_600.123456
        sid = st.add_raw_sample(dev, None, at, b"x", token=None)
        st.set_metrics(sid, DeviceMetrics(mem_available=6 * 2**30, processes=sample_metrics(1).processes))
        [(t, m)] = st.series("cam")
        assert t == at and m.mem_available == 6 * 2**30


def test_devices_carry_latest_status_and_sample_counts(location: str) -> None:
    with open_store(location, create=True) as st:
        a = st.device_id("a", "h1")
        b = st.device_id("b", "h2")
        first = st.add_raw_sample(a, None, 10.0, b"x", token=None)
        second = st.add_raw_sample(a, None, 20.0, b"y", token=None)
        assert st.add_raw_sample(a, None, 20.0, b"dup", token=None) == second != first  # kept once
        st.record_attempt(a, None, "ok", None, 0.1)
        st.record_attempt(b, None, "unreachable", "Connection refused", 0.1)
        rows = {r.name: r for r in st.devices()}
        assert (rows["a"].samples, rows["a"].first_sample, rows["a"].last_sample) == (2, 10.0, 20.0)
        assert (rows["b"].status, rows["b"].error, rows["b"].samples) == (
            "unreachable",
            "Connection refused",
            0,
        )
        assert st.device_id("a") == a and st.devices()[0].host == "h1"  # a bare upsert keeps the host


def test_collector_is_recorded_on_runs_samples_and_devices(location: str) -> None:
    with open_store(location, create=True, collector="site-b") as st:
        run = st.begin_run("inv.yaml")
        dev = st.device_id("cam")
        st.add_raw_sample(dev, run, 5.0, b"x", token=None)
        st.record_attempt(dev, run, "ok", None, 0.1)
        st.end_run(run)
        assert st.sql("SELECT collector FROM runs") == [("site-b",)]
        assert st.sql("SELECT collector FROM samples") == [("site-b",)]
        assert st.devices()[0].collector == "site-b"
    with open_store(location) as st:  # without a name: the hostname
        st.record_attempt(dev, None, "timeout", "slow", 1.0)
        assert st.devices()[0].collector == default_collector()


def test_prune_and_size(location: str) -> None:
    with open_store(location, create=True) as st:
        dev = st.device_id("cam")
        for day in range(10):
            sid = st.add_raw_sample(dev, None, day * 86400.0, b"raw" * 1000, token=None)
            st.set_metrics(sid, sample_metrics())
        assert st.size_bytes() > 0
        pruned = st.prune(keep_raw_days=3, keep_metrics_days=7, now=10 * 86400.0)
        assert (pruned.raw_dropped, pruned.samples_dropped) == (4, 3)
        assert st.sample_count() == 7
        assert st.sql("SELECT count(*) FROM process_samples") == [(21,)]


def capture_like(seed: int, lines: int = 1500, changed: int = 0) -> bytes:
    """Bytes shaped like a device's captures: mostly the same lines every time (``seed``), with
    ``changed`` of them different; random hex, so compressing one alone saves little."""
    rng = random.Random(seed)
    rows = [b"%d/maps:%032x rw-p" % (i % 40, rng.getrandbits(128)) for i in range(lines)]
    for i in random.Random(seed + changed).sample(range(lines), changed):
        rows[i] = b"%d/status:VmRSS: %d kB" % (i, i * 7)
    return b"\n".join(rows)


def test_captures_are_stored_as_deltas_of_their_device(location: str) -> None:
    first, second, third = capture_like(1), capture_like(1, changed=20), capture_like(1, changed=40)
    other = capture_like(2)  # another device: its own base, never a delta of cam-1's
    with open_store(location, create=True) as st:
        cam, cam2 = st.device_id("cam-1"), st.device_id("cam-2")
        ids = [
            st.add_raw_sample(cam, None, 1000.0 + i, raw, token=None)
            for i, raw in enumerate((first, second, third))
        ]
        oid = st.add_raw_sample(cam2, None, 1000.0, other, token=None)
        rows = dict(
            (sid, (base, size)) for sid, base, size in st.sql("SELECT id, raw_base, length(raw) FROM samples")
        )
        assert rows[ids[0]][0] is None and rows[oid][0] is None
        assert rows[ids[1]][0] == ids[0] and rows[ids[2]][0] == ids[0]
        alone = rows[ids[0]][1]
        assert alone > len(first) / 3  # random hex: zstd alone saves about half
        assert rows[ids[1]][1] < alone / 10 and rows[ids[2]][1] < alone / 10
        assert [r.raw for r in st.raw_samples()] == [first, second, third, other]
        assert st.raw_at("cam-1", 1001.0).raw == second  # type: ignore[union-attr]


def test_a_base_serves_a_bounded_number_and_a_changed_device_starts_anew(location: str) -> None:
    with open_store(location, create=True) as st:
        cam = st.device_id("cam-1")
        n = MAX_DELTAS_PER_BASE + 2
        for i in range(n):
            st.add_raw_sample(cam, None, 1000.0 + i, capture_like(1, changed=i), token=None)
        st.add_raw_sample(cam, None, 5000.0, capture_like(99), token=None)  # rebooted: new content
        bases = [b for (b,) in st.sql("SELECT raw_base FROM samples ORDER BY captured_at")]
        assert bases[0] is None and bases[MAX_DELTAS_PER_BASE + 1] is None
        assert bases.count(None) == 3 and bases[-1] is None
        assert [r.raw for r in st.raw_samples()][:n] == [capture_like(1, changed=i) for i in range(n)]


def test_prune_re_encodes_the_captures_that_outlive_their_base(location: str) -> None:
    day = 86400.0
    raws = [capture_like(7, changed=i) for i in range(10)]
    with open_store(location, create=True) as st:
        cam = st.device_id("cam")
        for i, raw in enumerate(raws):
            sid = st.add_raw_sample(cam, None, i * day, raw, token=None)
            st.set_metrics(sid, sample_metrics())
        assert [b for (b,) in st.sql("SELECT raw_base FROM samples")].count(None) == 1
        st.prune(keep_raw_days=7.5, keep_metrics_days=None, now=10 * day)  # days 0-2 lose raw
        kept = list(st.raw_samples())
        assert [r.raw for r in kept if r.raw] == raws[3:]
        bases = st.sql("SELECT raw_base FROM samples WHERE raw IS NOT NULL ORDER BY captured_at")
        assert bases[0] == (None,) and {b for (b,) in bases[1:]} == {kept[3].id}  # day 3 is the base now
        st.prune(keep_raw_days=None, keep_metrics_days=5.5, now=10 * day)  # days 0-4 go entirely
        assert [r.raw for r in st.raw_samples()] == raws[5:]
        sizes = [n for (n,) in st.sql("SELECT length(raw) FROM samples ORDER BY captured_at")]
        assert max(sizes[1:]) < sizes[0] / 10  # still deltas after both prunes


def test_zlib_blobs_of_older_stores_still_read(location: str) -> None:
    raw = capture_like(3)
    with open_store(location, create=True) as st:
        cam = st.device_id("cam")
        sid = st.add_raw_sample(cam, None, 1.0, b"placeholder", token=None)
        st.sql("UPDATE samples SET raw = ? WHERE id = ?", (zlib.compress(raw, 6), sid))
        assert st.raw_at("cam", 1.0).raw == raw  # type: ignore[union-attr]
        sid2 = st.add_raw_sample(cam, None, 2.0, capture_like(3, changed=5), token=None)
        assert st.sql("SELECT raw_base FROM samples WHERE id = ?", (sid2,)) == [(sid,)]
        assert st.raw_at("cam", 2.0).raw == capture_like(3, changed=5)  # type: ignore[union-attr]


def test_prune_in_a_loop_against_a_collector_never_damages_a_capture(location: str) -> None:
    """``fleet prune`` while a collector stores delta captures (issue 22, item 4): a pruner thread
    with its own connection prunes in a loop (raw older than the newest capture, whole samples 20 s
    older) while the writer stores and parses captures compressed against earlier ones. Each
    capture is read back as soon as it is stored, and again at the end: none may be missing its
    base. Before the fix a prune between choosing the base and inserting left ~1 in 5 captures
    pointing at a base whose raw was gone ("store damaged: capture base N is missing")."""
    captures = {1000.0 + i: capture_like(5, changed=i % 40) for i in range(120)}
    latest = [999.0]
    stop = threading.Event()
    pruned: list[Pruned] = []
    prune_errors: list[BaseException] = []

    def pruner() -> None:
        try:
            with open_store(location) as st:
                while not stop.is_set():
                    now = latest[0]
                    pruned.append(st.prune(keep_raw_days=0, keep_metrics_days=20 / 86400, now=now))
        except BaseException as exc:  # reported by the assertion below
            prune_errors.append(exc)

    with open_store(location, create=True) as st:
        cam = st.device_id("cam")
        thread = threading.Thread(target=pruner)
        thread.start()
        damaged: list[str] = []
        deltas = 0
        try:
            for at, raw in captures.items():
                sid = st.add_raw_sample(cam, None, at, raw, token=None)
                deltas += st.sql("SELECT raw_base FROM samples WHERE id = ?", (sid,)) != [(None,)]
                try:  # read back before it is parsed (so before a prune may drop it)
                    back = st.raw_at("cam", at)
                    assert back is not None and back.raw == raw
                except StoreError as exc:
                    damaged.append(f"{at}: {exc}")
                st.set_metrics(sid, sample_metrics())
                latest[0] = at
        finally:
            stop.set()
            thread.join()
        assert not prune_errors and not damaged, (prune_errors, damaged[:5], len(damaged))
        assert deltas > 10 and sum(p.raw_dropped for p in pruned) > 50 and len(pruned) > 20
        kept = st.sql("SELECT captured_at FROM samples WHERE raw IS NOT NULL ORDER BY captured_at")
        assert kept and kept[-1] == (1119.0,)
        for (at,) in kept:
            assert st.raw_at("cam", at).raw == captures[at]  # type: ignore[union-attr]


def test_a_reader_meanwhile_reads_what_a_prune_re_encoded(location: str) -> None:
    """A reader (``fleet rank`` parsing pending captures) that fetched its rows before a prune
    re-encoded them on another base still reads every capture, instead of "store damaged"."""
    captures = [capture_like(11, changed=i) for i in range(2)]
    with open_store(location, create=True) as st, open_store(location) as pruner:
        for name in ("cam-1", "cam-2"):  # each: a parsed base, then an unparsed delta of it
            dev = st.device_id(name)
            st.set_metrics(st.add_raw_sample(dev, None, 1.0, captures[0], token=None), sample_metrics())
            st.add_raw_sample(dev, None, 2.0, captures[1], token=None)
        assert st.sql("SELECT count(*) FROM samples WHERE raw_base IS NOT NULL") == [(2,)]
        pending = st.raw_samples(only_unparsed=True)
        first = next(pending)  # rows fetched, cam-1's base decoded
        assert pruner.prune(keep_raw_days=0, keep_metrics_days=None, now=10.0).raw_dropped == 2
        rest = list(pending)  # cam-2's base is gone: its delta was re-encoded alone
        assert [(r.device, r.raw) for r in (first, *rest)] == [("cam-1", captures[1]), ("cam-2", captures[1])]


CONCURRENT = """
import sys
sys.path.insert(0, {root!r})
from tests.test_store import sample_metrics
from fleet.store.store import open_store
with open_store({location!r}, create=True, collector="w{k}") as st:
    for i in range(30):
        dev = st.device_id("cam-%d" % (i % 5), "h")
        sid = st.add_raw_sample(dev, None, 1000.0 + i, b"same-%d" % i, token=None)
        st.set_metrics(sid, sample_metrics(4))
        st.record_attempt(dev, None, "ok", None, 0.1)
"""


def test_concurrent_writers_never_duplicate(location: str) -> None:
    """Four processes write the very same samples at once (a new store, too): each lands once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT.format(root=ROOT, location=location, k=k)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with open_store(location) as st:
        assert len(st.devices()) == 5
        assert st.sample_count() == 30
        assert st.sql("SELECT count(*) FROM process_samples") == [(30 * 4,)]
        assert st.sql("SELECT count(*) FROM attempts") == [(4 * 30,)]
        assert all(row.samples == 6 for row in st.devices())


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from tests.test_store import sample_metrics
from fleet.store.store import open_store
st = open_store({location!r}, create=True)
dev = st.device_id("cam", "h")
i = 0
while True:
    i += 1
    sid = st.add_raw_sample(dev, None, time.time(), b"raw-%d" % i * 2000, token=None)
    st.set_metrics(sid, sample_metrics(20))
    if i == 5:
        print("ready", flush=True)
"""


def test_kill_9_leaves_only_whole_samples(location: str) -> None:
    for round_ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER.format(root=ROOT, location=location)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 * round_)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open_store(location) as st:
        if st.kind == "sqlite":
            assert st.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = st.sql("SELECT id, parsed, metrics FROM samples")
        raws = {r.id: r.raw for r in st.raw_samples()}
        assert len(rows) >= 25
        for sid, parsed, metrics in rows:
            assert raws[sid].startswith(b"raw-")  # every raw sample is whole
            [(n,)] = st.sql("SELECT count(*) FROM process_samples WHERE sample_id = ?", (sid,))
            # parsed metrics are all there or not there at all
            assert (parsed, metrics is not None, n) in ((1, True, 20), (0, False, 0))


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The usual umasks, under which files are readable by everyone (and group-writable with 002)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_a_new_store_is_private_whatever_the_umask(tmp_path: Path, permissive_umask: int) -> None:
    """Raw captures keep device command lines (credentials on many cameras): a new store directory
    is 0700 and its database, -wal, -shm and sweep lock 0600 (issue 22, item 9). Before: 0755 and
    0644 (0775 / 0664 under umask 002)."""
    directory = tmp_path / "var" / "store"
    with open_store(directory, create=True) as st, store_lock(directory):
        dev = st.device_id("cam")
        st.set_metrics(st.add_raw_sample(dev, None, 1.0, capture_like(1), token=None), sample_metrics())
        modes = {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()}
    assert directory.stat().st_mode & 0o777 == 0o700
    assert modes == {"fleet.db": 0o600, "fleet.db-wal": 0o600, "fleet.db-shm": 0o600, "sweep.lock": 0o600}
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o777 & ~permissive_umask  # not the store's


def test_a_store_open_to_others_is_a_warning_not_a_chmod(tmp_path: Path) -> None:
    """A store made before fleet set modes (or by hand) keeps them: each command says so in one
    warning line on stderr, and changes nothing."""
    directory = tmp_path / "store"
    with open_store(directory, create=True) as st:
        st.device_id("cam")
    quiet = subprocess.run(
        [sys.executable, "-m", "fleet", "rank", "--store", str(directory)], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and not [x for x in quiet.stderr.splitlines() if "fleet" in x]
    directory.chmod(0o755)
    (directory / "fleet.db").chmod(0o644)
    res = subprocess.run(
        [sys.executable, "-m", "fleet", "rank", "--store", str(directory)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert [x for x in res.stderr.splitlines() if x.startswith("fleet")] == [
        f"fleet: warning: {directory}: the store is open to group or others (fleet.db 0644), and raw"
        f" captures keep device command lines; chmod -R go= {directory}"
    ]
    assert (
        directory.stat().st_mode & 0o777 == 0o755 and (directory / "fleet.db").stat().st_mode & 0o777 == 0o644
    )


def test_sqlite_users_never_load_psycopg(tmp_path: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {ROOT!r}); import fleet.cli.app\n"
        "from fleet.store.store import Store\n"
        f"Store({str(tmp_path)!r}).close(); assert 'psycopg' not in sys.modules, 'psycopg loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_direct_store_constructor_still_opens_sqlite(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        assert st.kind == "sqlite" and st.location == tmp_path
        with pytest.raises(StoreError, match="PostgreSQL"):
            st.advisory_lock("sweep")


def test_a_parser_bug_keeps_the_raw_capture_and_the_run_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection (a parser that crashes cannot be produced by real input on demand)."""
    from fleet.capture.script import capture_script, new_token
    from fleet.store import parse

    token = new_token()
    raw = subprocess.run(["sh", "-s"], input=capture_script(token).encode(), capture_output=True).stdout

    def broken(_capture: object, _previous: object = None) -> object:
        raise KeyError("boom")

    monkeypatch.setattr(parse, "metrics_from_capture", broken)
    with Store(tmp_path / "s") as st:
        dev = st.device_id("cam")
        sid = st.add_raw_sample(dev, None, 1.0, raw, token=token)
        problems = parse.parse_sample(st, sid, raw, token)
        assert problems and "parser bug" in problems[0] and "KeyError" in problems[0]
        (kept,) = st.raw_samples()
        assert kept.raw == raw  # nothing lost: a fixed parser can re-read it


def test_parse_reads_the_same_devices_previous_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet.capture.script import capture_script, new_token
    from fleet.metrics import from_capture as extract
    from fleet.store import parse

    token = new_token()
    raw = subprocess.run(["sh", "-s"], input=capture_script(token).encode(), capture_output=True).stdout
    seen: list[object] = []
    real = extract.metrics_from_capture
    monkeypatch.setattr(
        parse, "metrics_from_capture", lambda c, previous=None: seen.append(previous) or real(c, previous)
    )
    with Store(tmp_path / "s") as st:
        cam, other = st.device_id("cam"), st.device_id("other")
        first = st.add_raw_sample(cam, None, 1.0, raw, token=token)
        assert parse.parse_sample(st, first, raw, token) == []
        st.add_raw_sample(other, None, 2.0, raw, token=token)  # in between, but not cam's
        later = st.add_raw_sample(cam, None, 3.0, raw, token=token)
        parse.parse_sample(st, later, raw, token)
        assert seen[0] is None and seen[1] == st.series("cam")[0][1]
        assert st.series("cam")[1][1] == st.series("cam")[0][1]


def test_metrics_are_compressed_with_their_devices_first_document(location: str) -> None:
    slab = {f"cache-{i}": i * 4096 for i in range(200)}  # names repeat every sample, values change
    with open_store(location, create=True) as st:
        cam = st.device_id("cam")
        written = []
        for i in range(3):
            m = DeviceMetrics(
                boot_id="b", slab={k: v + i for k, v in slab.items()}, processes=sample_metrics(5).processes
            )
            sid = st.add_raw_sample(cam, None, 1000.0 + i, b"raw %d" % i, token=None)
            st.set_metrics(sid, m)
            written.append(m)
        assert [m for _, m in st.series("cam")] == written
        [(dict_id, size)] = st.sql("SELECT id, length(data) FROM dictionaries")
        sizes = st.sql("SELECT metrics_dict, length(metrics) FROM samples ORDER BY captured_at")
        assert {d for d, _ in sizes} == {dict_id}
        assert all(n < size / 4 for _, n in sizes)  # mostly references into the dictionary
        # a sample stored before dictionaries existed (no metrics_dict) still reads
        alone = codec.metrics_to_json(written[0])
        st.sql(
            "UPDATE samples SET metrics = ?, metrics_dict = NULL WHERE captured_at = 1000.0",
            (codec.compress(alone),),
        )
        assert [m for _, m in st.series("cam")] == written


def test_kernel_thread_count_round_trips_and_old_metrics_read_as_not_counted(location: str) -> None:
    with open_store(location, create=True) as st:
        dev = st.device_id("cam")
        sid = st.add_raw_sample(dev, None, 1.0, b"x", token=None)
        st.set_metrics(sid, DeviceMetrics(kernel_threads=57, processes=sample_metrics(1).processes))
        old = st.add_raw_sample(dev, None, 2.0, b"y", token=None)
        doc = json.loads(codec.metrics_to_json(DeviceMetrics(processes=sample_metrics(1).processes)))
        del doc["kernel_threads"]  # written by a fleet that held kernel threads as processes
        blob = codec.compress(json.dumps(doc).encode())
        st.sql("UPDATE samples SET parsed = 1, metrics = ?, metrics_dict = NULL WHERE id = ?", (blob, old))
        assert [m.kernel_threads for _, m in st.series("cam")] == [57, None]


def test_metrics_documents_of_older_fleets_read_with_defaults_and_unknown_fields_are_refused() -> None:
    """metrics_from_doc makes the records without their __init__ (rank reads ~65 documents a
    device): a document of an older fleet still gets every default, a field no fleet wrote is an
    error, and a round trip gives the very record back."""
    m = sample_metrics(3)
    assert codec.metrics_from_doc(codec.metrics_to_json(m)) == m
    compact = codec.metrics_to_json(m, compact=True)  # a rollup's: the defaults left out
    assert codec.metrics_from_doc(compact) == m and len(compact) < len(codec.metrics_to_json(m))
    assert b"kernel_thread" not in compact and b'"pid"' in compact
    doc = json.loads(codec.metrics_to_json(m))
    for gone in ("represents", "first_at", "kernel_threads", "slab"):
        del doc[gone]
    for p in doc["processes"]:
        for gone in ("at", "represents", "class_counts", "maps_digest"):
            del p[gone]
    old = codec.metrics_from_doc(json.dumps(doc).encode())
    assert (old.represents, old.first_at, old.kernel_threads, old.slab) == (1, None, None, {})
    assert old.processes[1].class_counts == {} and old.processes[1].represents == 1
    assert old.processes[1].class_counts is not old.processes[2].class_counts  # each its own
    assert replace(old, slab=m.slab, kernel_threads=None) == replace(
        m, processes=old.processes, kernel_threads=None
    )
    doc["processes"][0]["from_the_future"] = 1
    with pytest.raises(TypeError, match="from_the_future"):
        codec.metrics_from_doc(json.dumps(doc).encode())
    with pytest.raises(TypeError, match="pid"):
        codec.metrics_from_doc(b'{"processes": [{"name": "x", "start_time": 1}]}')
