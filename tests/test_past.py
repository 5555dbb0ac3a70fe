"""A device's condensed past stored as one columnar document (fleet.store.codec.past_to_json):
it gives back exactly the points it was given, refuses what this fleet did not write, the
analysis reads it column by column to the same findings as record by record, and a store whose
rollups were rows (schema 8) is converted without losing a point."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fleet.store.store
from fleet.analysis.device import analyse_device
from fleet.analysis.history import bucket, bucket_span, condense, day
from fleet.metrics.model import DeviceMetrics, Past, ProcessMetrics
from fleet.store import codec
from fleet.store.codec import metrics_to_json, past_from_json, past_to_json
from fleet.store.schema import MIGRATIONS, Rollup
from fleet.store.store import open_store
from fleet.view.fleet import build_view
from fleet.view.rollup import roll_up
from tests.analysis.test_history import generated
from tests.postgres.server import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.test_rollups import held, store_samples

sizes = st.none() | st.integers(0, 2**40)
names = st.text(min_size=1, max_size=12)  # device text: any characters, escapes included
process = st.builds(
    ProcessMetrics,
    pid=st.integers(1, 6),  # few pids: the same pid and start time twice in a point happens
    start_time=st.integers(0, 3),
    name=names,
    exe=st.none() | names,
    rss=sizes,
    threads=st.none() | st.integers(0, 5000),
    stack_count=st.integers(0, 100),
    thread_names=st.dictionaries(names, st.integers(1, 50), max_size=3),
    fds=st.none() | st.integers(0, 1000),
    class_bytes=st.dictionaries(
        st.sampled_from(["heap", "anon", "stack"]), st.integers(0, 2**32), max_size=2
    ),
    address_bits=st.sampled_from([None, 32, 64]),
    kernel_thread=st.booleans(),
    at=st.none() | st.floats(0, 2e9),
    represents=st.integers(1, 100),
)
device = st.builds(
    DeviceMetrics,
    boot_id=st.sampled_from([None, "a", "b"]),
    firmware=st.none() | names,
    uptime=st.none() | st.floats(0, 1e8),
    mem_available=sizes,
    slab=st.dictionaries(st.sampled_from(["dentry", "kmalloc-64", "task_struct"]), st.integers(0, 2**30)),
    processes=st.lists(process, max_size=5).map(tuple),
    problems=st.lists(names, max_size=2).map(tuple),
    represents=st.integers(1, 1000),
    first_at=st.none() | st.floats(0, 2e9),
)


@st.composite
def pasts(draw: st.DrawFn) -> list[Rollup]:
    metrics = draw(st.lists(device, max_size=8))
    times = sorted(draw(st.lists(st.floats(1e9, 2e9), min_size=len(metrics), max_size=len(metrics))))
    out = []
    for t, m in zip(times, metrics, strict=True):
        if draw(st.booleans()):  # most records of a point carry the point's own time
            m = DeviceMetrics(**{**m.__dict__, "processes": tuple(_at(p, t) for p in m.processes)})
        out.append(Rollup(t, t - 86400.0, t + 3600.0, m))
    return out


def _at(p: ProcessMetrics, t: float) -> ProcessMetrics:
    return ProcessMetrics(**{**p.__dict__, "at": t})


@settings(max_examples=300, deadline=None)
@given(pasts())
def test_a_past_comes_back_equal_record_for_record(points: list[Rollup]) -> None:
    back = past_from_json(past_to_json(points))
    assert back == points
    for a, b in zip(back, points, strict=True):  # and each point's processes in their order
        assert [(p.pid, p.start_time, p.name) for p in a.metrics.processes] == [
            (p.pid, p.start_time, p.name) for p in b.metrics.processes
        ]


def test_what_this_fleet_did_not_write_is_refused() -> None:
    p = ProcessMetrics(pid=1, start_time=2, name="AiApp", rss=10)
    points = [
        Rollup(float(t), t - 1.0, t + 1.0, DeviceMetrics(processes=(p,), mem_available=t)) for t in (10, 20)
    ]
    good = json.loads(past_to_json(points))

    def damaged(change: str) -> bytes:
        doc = json.loads(json.dumps(good))
        if change == "format":
            doc["format"] = 2
        elif change == "field":
            doc["instances"][0]["same"]["from_the_future"] = 1
        elif change == "device field":
            doc["device"]["columns"]["from_the_future"] = [1, 2]
        elif change == "column":
            doc["device"]["columns"]["mem_available"] = [1]
        elif change == "process column":
            doc["instances"][0]["columns"]["rss"] = [1]
        elif change == "place":
            doc["instances"][0]["slots"] = [0, 3]
        elif change == "order":
            doc["instances"][0]["points"] = [1, 0]
        return json.dumps(doc).encode()

    assert past_from_json(damaged("none")) == points
    for change, error in [
        ("format", "format 2"),
        ("field", "from_the_future"),
        ("device field", "from_the_future"),
        ("column", "wrong length"),
        ("process column", "shorter|longer"),
        ("place", "places"),
        ("order", "out of order"),
    ]:
        for read in (past_from_json, codec.past_columns):
            with pytest.raises((ValueError, TypeError, IndexError), match=error):
                read(damaged(change))


def _analysed(name: str, samples: list[tuple[float, DeviceMetrics]], past: Past | None = None) -> str:
    """The whole assessment (sparklines and evidence included), or the error it ends in."""
    try:
        return repr(analyse_device(name, samples, past))
    except Exception as exc:  # random records may make the analysis raise: then both the same
        return f"{type(exc).__name__}: {exc}"


@settings(max_examples=300, deadline=None)
@given(pasts(), st.lists(device, max_size=4), st.booleans(), st.integers(0, 8))
def test_the_analysis_reads_a_past_column_by_column_as_it_reads_its_records(
    points: list[Rollup], recent: list[DeviceMetrics], imported: bool, cut: int
) -> None:
    """Reboots splitting an instance, one pid and start time twice in a point, a process marked a
    kernel thread at some points, instances going on into the samples after the past, a sample
    imported into the past's time (its records then merged in order), the oldest points left out
    by a size budget: every finding, number and sparkline as with a record in every point."""
    doc = past_to_json(points)
    end = points[-1].captured_at if points else 1e9
    times = [end + 600.0 * (k + 1) for k in range(len(recent))]
    if imported and points and recent:
        times[0] = points[0].captured_at + 0.5
    samples = list(zip(times, recent, strict=True))
    dropped = min(cut, len(points))
    records = [(r.captured_at, r.metrics) for r in past_from_json(doc)][dropped:]
    columns, instances = codec.past_columns(doc)
    past = Past(columns[dropped:], instances, dropped)
    by_columns = _analysed("cam", past.points + samples, past)
    assert by_columns == _analysed("cam", records + samples)


def test_rank_and_report_read_a_stored_past_as_its_records(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same views from a store's past read column by column and read as records, evidence
    (first and last record of a suspect, their maps) included; and when samples wait days for
    their roll-up, which condensing then merges into the past's buckets, from the records."""
    nights = {
        name: generated(pattern, 40, seed=seed)
        for name, pattern, seed in (
            ("cam-1", "thread_leak", 1),
            ("cam-2", "heap_leak", 2),
            ("cam-3", "steady", 3),
        )
    }
    with open_store(location, create=True) as store:
        for name, samples in nights.items():
            store_samples(store, name, samples[: 30 * 3])
        roll_up(store)
        for name, samples in nights.items():
            store_samples(store, name, samples[30 * 3 :])  # ten nights not rolled up

        def views() -> list[str]:
            view = build_view(store, details=True, now=0.0)
            return [repr((v.assessment, v.evidence, v.slab_growth)) for v in view.devices]

        columns = views()
        assert any("thread_leak" in v for v in columns) and any("heap_growth" in v for v in columns)
        read = store.history
        monkeypatch.setattr(store, "analysed_history", lambda name, budget=None: (read(name, budget), None))
        assert views() == columns
        monkeypatch.undo()
        roll_up(store)
        rolled = views()
        monkeypatch.setattr(store, "analysed_history", lambda name, budget=None: (read(name, budget), None))
        assert views() == rolled


def test_a_damaged_past_is_one_device_s_error_and_the_next_roll_up_rebuilds_it(location: str) -> None:
    """Rank analyses the other devices and names the damage; the next night's roll-up starts that
    device's past again from its samples, to what it was."""
    nights = {name: generated("thread_leak", 61, seed=seed) for name, seed in (("cam-1", 1), ("cam-2", 2))}
    with open_store(location, create=True) as store:
        for name, samples in nights.items():
            store_samples(store, name, samples[: 60 * 3])
        roll_up(store)
        [(dev,)] = store.sql("SELECT id FROM devices WHERE name = 'cam-1'")
        store.sql("UPDATE pasts SET past = ? WHERE device_id = ?", (codec.compress(b'{"format": 1}'), dev))
        view = {v.name: v for v in build_view(store, details=False).devices}
        assert view["cam-1"].assessment is None and "KeyError" in (view["cam-1"].analysis_error or "")
        assert view["cam-2"].assessment is not None
        for name, samples in nights.items():
            store_samples(store, name, samples[60 * 3 :])
        assert roll_up(store) == (61 * 3 - 9) + 3  # cam-1 all over again, cam-2 its night
        [(other,)] = store.sql("SELECT id FROM devices WHERE name = 'cam-2'")
        assert len(store.rollups(dev)) == len(store.rollups(other))
        assert held(store) == 2 * (61 * 3 - 9)
        view = {v.name: v for v in build_view(store, details=False).devices}
        assert view["cam-1"].assessment is not None and view["cam-1"].assessment.samples == 61 * 3


def _schema_8_store(location: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Rollup]]:
    """A store as fleet wrote it with rollups as rows (schema 8): each device's condensed past
    one row a point, compressed against the device's dictionary; one device's rows damaged."""
    monkeypatch.setattr(fleet.store.store, "MIGRATIONS", MIGRATIONS[:8])
    written: dict[str, list[Rollup]] = {}
    with open_store(location, create=True) as store:
        for name, pattern, seed in (
            ("cam-1", "thread_leak", 1),
            ("cam-2", "heap_leak", 2),
            ("cam-3", "steady", 3),
        ):
            samples = generated(pattern, 200, seed=seed)
            dev = store.device_id(name, "h")
            ids = []
            for t, m in samples:
                ids.append(store.add_raw_sample(dev, None, t, b"", token=None, source="generated"))
                store.set_metrics(ids[-1], m)
            newest = day(samples[-1][0])
            points = []
            for t, m in condense(samples):
                b = bucket(t, newest)
                if b is not None:
                    points.append(Rollup(t, *bucket_span(b), m))
            [(dict_id, data)] = store.sql("SELECT id, data FROM dictionaries WHERE device_id = ?", (dev,))
            for p in points:
                blob = codec.compress(metrics_to_json(p.metrics, compact=True), codec.decompress(data))
                if name == "cam-3":
                    blob = zlib.compress(b"{not json")
                store.sql(
                    "INSERT INTO rollups (device_id, captured_at, bucket_start, bucket_end, represents,"
                    " first_at, metrics, metrics_dict) VALUES (?,?,?,?,?,?,?,?)",
                    (dev, p.captured_at, p.bucket_start, p.bucket_end, p.metrics.represents,
                     p.metrics.first_at or p.captured_at, blob, dict_id),
                )  # fmt: skip
            held_ids = [
                sid for sid, (t, _) in zip(ids, samples, strict=True) if bucket(t, newest) is not None
            ]
            store.sql(
                f"UPDATE samples SET rolled = 1 WHERE id IN ({','.join('?' * len(held_ids))})", held_ids
            )
            written[name] = points
        assert store.schema_version == 8
    monkeypatch.undo()
    return written


def test_a_store_with_rollup_rows_is_converted_point_for_point(
    location: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _schema_8_store(location, monkeypatch)
    with open_store(location) as store:
        assert store.schema_version == len(MIGRATIONS)
        ids = dict(store.sql("SELECT name, id FROM devices"))
        assert store.rollups(ids["cam-1"]) == written["cam-1"]
        assert store.rollups(ids["cam-2"]) == written["cam-2"]
        # the damaged device: no past, its samples waiting to be rolled up again
        assert store.rollups(ids["cam-3"]) == []
        assert store.sql(
            "SELECT count(*) FROM samples WHERE device_id = ? AND rolled = 1", (ids["cam-3"],)
        ) == [(0,)]
        assert roll_up(store) == len(generated("steady", 200, seed=3)) - 9
        assert len(store.rollups(ids["cam-3"])) == len(written["cam-3"])
        with pytest.raises(Exception, match="rollups"):
            store.sql("SELECT count(*) FROM rollups")


def test_the_past_is_one_row_a_device(tmp_path: Path) -> None:
    """What keeps rank's reading bounded: a year of a device is one row of its past and the
    samples of its last nights."""
    with open_store(str(tmp_path / "store"), create=True) as store:
        store_samples(store, "cam", generated("thread_leak", 365, seed=4))
        roll_up(store)
        assert store.sql("SELECT count(*), sum(points) FROM pasts") == [(1, store.rollup_count())]
        assert 40 <= store.rollup_count() <= 60
        assert len(store.history("cam")) == store.rollup_count() + 9
