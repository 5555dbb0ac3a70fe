"""Rollups (issue 24) on both backends: each device's condensed past kept in the store, filled night by
night and by a backfill of an old store, kept consistent by prune, and read in one snapshot while
a roll-up or a prune runs beside the reader."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest
from typer.testing import CliRunner

import fleet.store.store
from fleet.analysis import analyse_device
from fleet.analysis.history import condense, samples_of
from fleet.cli.app import app
from fleet.metrics.model import DeviceMetrics
from fleet.store import codec
from fleet.store.codec import metrics_to_json
from fleet.store.deltas import still_a_base
from fleet.store.schema import MIGRATIONS, RawSample
from fleet.store.store import Store, open_store
from fleet.view.fleet import build_view
from fleet.view.rollup import full_since, roll_up
from tests.analysis.test_history import generated, target, verdict
from tests.postgres.server import pg_server, pg_url  # noqa: F401  (fixtures)

Series = list[tuple[float, DeviceMetrics]]


def store_samples(st: Store, device: str, samples: Series) -> None:
    dev = st.device_id(device, "h", ["cameras"])
    for t, m in samples:
        st.set_metrics(st.add_raw_sample(dev, None, t, b"", token=None, source="generated"), m)
    st.record_attempt(dev, None, "ok", None, 1.0, at=samples[-1][0])


def held(st: Store) -> int:
    """Samples the rollups say they stand for."""
    return sum(r.metrics.represents for (d,) in st.sql("SELECT id FROM devices") for r in st.rollups(d))


def test_rollups_fill_night_by_night(location: str) -> None:
    """200 nights stored and rolled up one night at a time: the rollups stay ~50 rows, hold every
    sample that left the full-resolution window exactly once, and the analysis of what rank reads
    is that of the whole history."""
    full = generated("heap_leak", 200, seed=3)
    with open_store(location, create=True) as st:
        rolled = 0
        for night in range(200):
            store_samples(st, "cam", full[3 * night : 3 * night + 3])
            rolled += roll_up(st)
            assert held(st) == rolled
            assert st.rollup_count() <= 60
        cutoff = full_since(full[-1][0])
        assert rolled == sum(1 for t, _ in full if t < cutoff)
        assert st.sql("SELECT count(*) FROM samples WHERE rolled = 0") == [(len(full) - rolled,)]
        read = st.history("cam")
        assert len(read) <= 70 and samples_of(read) == len(full)
        a, b = analyse_device("cam", full), analyse_device("cam", condense(read))
        assert verdict(target(b)) == verdict(target(a)) == (True, ["heap_growth"])
        assert (b.samples, b.first_sample, b.last_sample) == (a.samples, a.first_sample, a.last_sample)
        assert roll_up(st) == 0  # nothing new: nothing rewritten


def _old_store(location: str, monkeypatch: pytest.MonkeyPatch, devices: dict[str, Series]) -> None:
    """A store made before rollups (schema 7), its samples parsed as that fleet stored them."""
    monkeypatch.setattr(fleet.store.store, "MIGRATIONS", MIGRATIONS[:7])
    with open_store(location, create=True) as st:
        for name, samples in devices.items():
            dev = st.device_id(name, "h")
            for t, m in samples:
                sid = st.add_raw_sample(dev, None, t, b"", token=None, source="generated")
                blob = codec.compress(metrics_to_json(m))
                st.sql("UPDATE samples SET parsed = 1, metrics = ? WHERE id = ?", (blob, sid))
            st.record_attempt(dev, None, "ok", None, 1.0, at=samples[-1][0])
        assert st.schema_version == 7
    monkeypatch.undo()


def test_an_old_store_is_read_as_before_and_backfilled(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An old store's year of samples: rank reads it right before any roll-up (the analysis
    condenses on read), and the first write command's roll-up backfills it to the same view."""
    devices = {"cam-1": generated("thread_leak", 365, seed=1), "cam-2": generated("steady", 365, seed=2)}
    _old_store(location, monkeypatch, devices)
    with open_store(location) as st:
        assert st.rollup_count() == 0
        before = build_view(st, details=False)
        assert roll_up(st) == sum(len(s) for s in devices.values()) - 2 * 9
        after = build_view(st, details=False)
        assert st.rollup_count() <= 2 * 60
        assert len(st.history("cam-1")) <= 70
    for v0, v1 in zip(before.devices, after.devices, strict=True):
        assert v0.assessment is not None and v1.assessment is not None
        assert v0.name == v1.name and v0.assessment.samples == v1.assessment.samples == 1095
        assert v0.assessment.first_sample == v1.assessment.first_sample
        assert sorted((p.name, verdict(p)) for p in v0.assessment.processes) == sorted(
            (p.name, verdict(p)) for p in v1.assessment.processes
        )
    assert [d.name for d in after.suspects] == [d.name for d in before.suspects] == ["cam-1"]


def test_prune_drops_rollups_whose_whole_bucket_is_older(location: str) -> None:
    """--keep-metrics-days 90 on a year: samples older go; rollups whose bucket ends before the
    cutoff go with them; one straddling it stays (it stands for kept samples too)."""
    full = generated("heap_leak", 365, seed=5)
    with open_store(location, create=True) as st:
        store_samples(st, "cam", full)
        roll_up(st)
        now = full[-1][0]
        cutoff = now - 90 * 86400
        pruned = st.prune(keep_raw_days=None, keep_metrics_days=90, now=now)
        assert pruned.samples_dropped == sum(1 for t, _ in full if t < cutoff)
        assert pruned.rollups_dropped > 0
        [(dev,)] = st.sql("SELECT id FROM devices")
        spans = [(r.bucket_start, r.bucket_end) for r in st.rollups(dev)]
        assert all(end > cutoff for _, end in spans)
        assert spans[0][0] < cutoff  # the straddling one
        read = condense(st.history("cam"))
        kept = sum(1 for t, _ in full if t >= cutoff)
        assert kept <= samples_of(read) < kept + 7 * 3 * 4  # at most a 28-day bucket's samples more
        assert verdict(target(analyse_device("cam", read))) == (True, ["heap_growth"])
        assert roll_up(st) == 0  # pruning leaves nothing to roll up again


def test_a_sample_parsed_again_rebuilds_its_device_rollups(location: str) -> None:
    full = generated("steady", 60, seed=4)
    with open_store(location, create=True) as st:
        store_samples(st, "cam", full)
        roll_up(st)
        [(sid,)] = st.sql("SELECT id FROM samples WHERE rolled = 1 ORDER BY captured_at LIMIT 1")
        st.set_metrics(sid, full[0][1])
        assert samples_of(st.history("cam")) == len(full)  # until then the rollup still holds it
        assert roll_up(st) == len(full) - 9
        assert held(st) == len(full) - 9 and samples_of(st.history("cam")) == len(full)


def test_reads_beside_roll_ups_never_count_a_sample_twice(location: str) -> None:
    """A collector stores nights and rolls them up (its own connection) while a reader reads the
    history in a loop: every read stands for exactly the samples stored by then."""
    full = generated("fd_leak", 120, seed=6)
    stored = [0, 0]  # samples surely stored, samples perhaps stored
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        with open_store(location) as st:
            while not stop.is_set():
                low = stored[0]
                read = st.history("cam")
                high = stored[1]
                n = samples_of(read)
                if not low <= n <= high:
                    errors.append(f"{n} not in {low}..{high}")

    with open_store(location, create=True) as st:
        store_samples(st, "cam", full[:3])
        stored[:] = [3, 3]
        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for night in range(1, 120):
                stored[1] += 3
                store_samples(st, "cam", full[3 * night : 3 * night + 3])
                stored[0] += 3
                roll_up(st)
        finally:
            stop.set()
            thread.join()
    assert not errors, errors[:5]


def test_reads_beside_prunes_and_roll_ups_stay_whole(location: str) -> None:
    """A pruner (keeping 30 days) and a roll-up loop on their own connections beside a writer and a
    reader: reads never fail, never stand for more samples than were stored, and the history's
    times stay in order; at the end the rollups hold no sample twice."""
    rng = random.Random(8)
    full = generated("heap_leak", 150, seed=8)
    stored = [0, 0]  # samples surely stored, samples perhaps stored
    stop = threading.Event()
    errors: list[str] = []

    def loop(job: str) -> None:
        try:
            with open_store(location) as st:
                while not stop.is_set():
                    if job == "prune" and stored[0]:
                        st.prune(keep_raw_days=None, keep_metrics_days=30, now=full[stored[0] - 1][0])
                    elif job == "roll":
                        roll_up(st)
                    else:
                        read = st.history("cam")
                        times = [t for t, _ in read]
                        if times != sorted(times) or samples_of(read) > stored[1]:
                            errors.append(f"{samples_of(read)} > {stored[1]} or out of order")
                    stop.wait(rng.uniform(0, 0.01))
        except Exception as exc:  # reported by the assertion below
            errors.append(f"{job}: {type(exc).__name__}: {exc}")

    with open_store(location, create=True) as st:
        store_samples(st, "cam", full[:3])
        stored[:] = [3, 3]
        threads = [threading.Thread(target=loop, args=(job,)) for job in ("prune", "roll", "read")]
        for t in threads:
            t.start()
        try:
            for night in range(1, 150):
                stored[1] += 3
                store_samples(st, "cam", full[3 * night : 3 * night + 3])
                stored[0] += 3
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert not errors, errors[:5]
        roll_up(st)
        st.prune(keep_raw_days=None, keep_metrics_days=None, now=full[-1][0])
        rolled = st.sql("SELECT count(*) FROM samples WHERE rolled = 1")[0][0]
        assert held(st) >= rolled  # pruned samples may live on in a straddling rollup, never fewer
        read = condense(st.history("cam"))
        assert samples_of(read) <= len(full)
        assert verdict(target(analyse_device("cam", read))) == (True, ["heap_growth"])


def test_show_explains_a_finding_across_the_condensed_past(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year of a thread leak, rolled up: ``fleet show`` still gives the finding with its evidence
    (first and last values across the year), the report's evidence the thread names that grew
    between the first and last record, and the maps evidence is looked up at real sample times."""
    full = generated("thread_leak", 365, seed=9)
    with open_store(location, create=True) as st:
        store_samples(st, "cam", full)
        roll_up(st)
    shown = CliRunner().invoke(app, ["show", "cam", "--store", location, "--json"])
    assert shown.exit_code == 0, shown.output
    target_json = next(p for p in json.loads(shown.output)["processes"] if p["name"] == "target")
    leak = next(f for f in target_json["findings"] if f["kind"] == "thread_leak")
    # first: the median of the oldest bucket, one of its samples' values; last: the last sample's
    oldest = condense(full)[0][1]
    span = oldest.represents
    threads = [p.threads for _, m in full for p in m.processes if p.name == "target"]
    assert leak["severity"] == "high" and leak["evidence"]["last"] == threads[-1]
    assert leak["evidence"]["first"] == next(p.threads for p in oldest.processes if p.name == "target")
    assert leak["evidence"]["first"] in threads[:span] and span > 30

    asked: list[float] = []
    with open_store(location) as st:
        raw_at = st.raw_at

        def recorded(device: str, at: float) -> RawSample | None:
            asked.append(at)
            return raw_at(device, at)

        monkeypatch.setattr(st, "raw_at", recorded)
        view = build_view(st, details=True)
    [evidence] = [e for e in view.devices[0].evidence if e.name == "target"]
    grew = dict((name, (first, last)) for name, first, last in evidence.thread_names)
    assert grew["rtsp_worker"][1] - grew["rtsp_worker"][0] > 100
    times = {t for t, _ in full}
    assert len(asked) == 2 and all(t in times for t in asked) and asked[0] < full[30][0]


def test_roll_ups_visit_only_devices_with_something_to_roll_up(location: str) -> None:
    """After a roll-up, a device's recent samples (and an unparsable old one) do not make it a
    candidate again: a sweep of 10,000 devices does not open 10,000 transactions for nothing."""
    full = generated("steady", 30, seed=10)
    with open_store(location, create=True) as st:
        store_samples(st, "cam", full[:-1])
        dev = st.device_id("cam")
        bad = st.add_raw_sample(dev, None, full[0][0] - 86400, b"garbage", token=None)
        st.mark_unparsable(bad, "not a capture")
        assert roll_up(st) == len(full) - 1 - 8  # the newest 3 days: 2 + 3 + 3 samples
        assert [c[0] for c in st.rollup_candidates()] == [dev]  # its recent samples, not yet due
        assert roll_up(st) == 0
        store_samples(st, "cam", full[-1:])  # a sample of the same night: nothing more is due
        assert roll_up(st) == 0
        st.set_metrics(bad, full[0][1])  # parsed after all (a better parser): due, as never rolled up
        assert [c[3] for c in st.rollup_candidates()] == [False]
        assert roll_up(st) == 1 and samples_of(st.history("cam")) == len(full) + 1


def test_a_device_whose_samples_cannot_be_rolled_up_costs_only_itself(location: str) -> None:
    """A sample no fleet can read (a field from a newer fleet) stops its device's roll-up, not the
    others': they are rolled up, it keeps its samples whole, and rank shows its analysis error."""
    with open_store(location, create=True) as st:
        store_samples(st, "cam-good", generated("steady", 10, seed=11))
        store_samples(st, "cam-broken", generated("steady", 10, seed=12))
        doc = json.loads(metrics_to_json(generated("steady", 1, seed=13)[0][1]))
        doc["processes"][0]["from_the_future"] = 1
        [(sid,)] = st.sql(
            "SELECT s.id FROM samples s JOIN devices d ON d.id = s.device_id WHERE d.name = ?"
            " ORDER BY s.captured_at LIMIT 1",
            ("cam-broken",),
        )
        st.sql(
            "UPDATE samples SET metrics = ?, metrics_dict = NULL WHERE id = ?",
            (codec.compress(json.dumps(doc).encode()), sid),
        )
        assert roll_up(st) == 30 - 9
        assert len(st.history("cam-good")) == 16
        unrolled = (
            "SELECT count(*) FROM samples s JOIN devices d ON d.id = s.device_id"
            " WHERE d.name = ? AND rolled = 0"
        )
        assert st.sql(unrolled, ("cam-broken",)) == [(30,)]
        view = build_view(st, details=False)
    broken = next(d for d in view.devices if d.name == "cam-broken")
    assert broken.analysis_error is not None and "from_the_future" in broken.analysis_error
    assert next(d for d in view.devices if d.name == "cam-good").assessment is not None


def test_a_roll_up_and_a_collector_of_its_device_never_deadlock(pg_url: str) -> None:  # noqa: F811
    """PostgreSQL, many collectors: a collector storing a capture share-locks its base (an old
    sample, still due for a roll-up) and then inserts the new sample, whose reference to the device
    needs a key share of the device row. A roll-up of that device in between locks the device row
    and waits for the base. Were the device row locked FOR UPDATE, the insert would wait for the
    roll-up and the roll-up for the collector: a deadlock PostgreSQL breaks by failing one of them.
    Both finish, the capture stored and the samples rolled up. (On SQLite a transaction holds the
    whole store: writers queue.)"""
    full = generated("steady", 10, seed=14)
    with open_store(pg_url, create=True) as st, open_store(pg_url) as collector:
        store_samples(st, "cam", full)
        dev = st.device_id("cam")
        [(base,)] = st.sql("SELECT id FROM samples ORDER BY captured_at LIMIT 1")
        errors: list[BaseException] = []
        rolled: list[int] = []

        def roll() -> None:
            try:
                with open_store(pg_url) as roller:
                    rolled.append(roll_up(roller))
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        thread = threading.Thread(target=roll)
        with collector.transaction():  # what add_raw_sample does, with a pause in the middle
            assert still_a_base(collector.backend, base)
            thread.start()
            time.sleep(1.5)  # the roll-up has the device row and waits for the base
            collector.sql(
                "INSERT INTO samples (device_id, captured_at, source, raw) VALUES (?, ?, 'ssh', ?)",
                (dev, full[-1][0] + 86400, codec.compress(b"next")),
            )
        thread.join(30)
        assert not errors and rolled == [len(full) - 9], errors
        assert st.sql("SELECT count(*) FROM samples") == [(len(full) + 1,)]
