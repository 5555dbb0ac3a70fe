"""How the store encodes what it keeps: zstd blobs, and metrics as JSON documents.

A blob may be compressed against other bytes (a base capture, a metrics dictionary: see
``fleet.store.deltas``); then only what differs from them costs bytes. Blobs written before zstd
(zlib) are recognised by their first bytes and still read.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import zstandard

from fleet.metrics.model import DeviceMetrics, PastInstance, ProcessMetrics
from fleet.store.schema import Rollup

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 3  # ~0.1 ms for a 72 KiB capture; higher levels gain a few % for several times the CPU


def compress(raw: bytes, base: bytes | None = None) -> bytes:
    """``raw`` as a zstd frame; with ``base``, only what differs from it costs bytes."""
    if base is None:
        return zstandard.ZstdCompressor(level=LEVEL).compress(raw)
    return zstandard.ZstdCompressor(level=LEVEL, dict_data=_dictionary(base)).compress(raw)


def decompress(blob: bytes, base: bytes | None = None) -> bytes:
    """The exact bytes :func:`compress` was given (or an older zlib blob's)."""
    blob = bytes(blob)  # PostgreSQL hands out memoryviews
    if not blob.startswith(ZSTD_MAGIC):
        return zlib.decompress(blob)
    if base is None:
        return zstandard.ZstdDecompressor().decompress(blob)
    return _decompressor(base).decompress(blob)


_local = threading.local()  # a ZstdDecompressor is not thread-safe: one set per thread


def _decompressor(base: bytes) -> zstandard.ZstdDecompressor:
    """A decompressor with ``base`` loaded, kept for the next blob of the same base: loading a
    dictionary costs more than decompressing a metrics document (rank reads ~55 a device)."""
    cache: dict[bytes, zstandard.ZstdDecompressor] = _local.__dict__.setdefault("decompressors", {})
    dec = cache.get(base)
    if dec is None:
        if len(cache) >= 8:
            cache.clear()
        dec = cache[base] = zstandard.ZstdDecompressor(dict_data=_dictionary(base))
    return dec


def _dictionary(base: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def metrics_to_json(m: DeviceMetrics, *, compact: bool = False) -> bytes:
    """The metrics as one JSON document; ``compact``: without the fields at their defaults (a
    rollup, read many times: fewer bytes to parse; :func:`metrics_from_doc` restores them)."""
    # The records are flat (numbers, strings, mappings of them): their __dict__ serialises as is,
    # several times faster than dataclasses.asdict, which deep-copies every value first.
    if compact:
        doc = _without_defaults(m.__dict__, _DEVICE)
        doc["processes"] = [_without_defaults(p.__dict__, _PROCESS) for p in m.processes]
    else:
        doc = dict(m.__dict__, processes=[p.__dict__ for p in m.processes])
    return json.dumps(doc, separators=(",", ":"), default=dict).encode()


def _without_defaults(values: dict[str, Any], spec: _Spec) -> dict[str, Any]:
    _, plain, made = spec
    return {
        k: v
        for k, v in values.items()
        if not ((k in plain and v == plain[k]) or (k in made and v == made[k]()))
    }


def metrics_from_json(blob: bytes, dictionary: bytes | None = None) -> DeviceMetrics:
    """Metrics from their stored blob; ``dictionary``: the device's, when the blob was made with it."""
    return metrics_from_doc(decompress(blob, dictionary))


def metrics_from_doc(doc: bytes) -> DeviceMetrics:
    """Metrics from their JSON document (:func:`metrics_to_json`).

    The records are made from their fields directly, as :func:`metrics_to_json` took them: the
    frozen dataclasses' ``__init__`` costs more than parsing the JSON (rank reads ~55 documents a
    device). Fields a document lacks (stored before they existed) take their defaults; a field
    this fleet does not know is refused, as ``__init__`` would.
    """
    d: dict[str, Any] = json.loads(doc)
    procs = tuple(_record(ProcessMetrics, _PROCESS, p) for p in d.pop("processes"))
    d["problems"] = tuple(d.get("problems", ()))
    d["processes"] = procs
    return _record(DeviceMetrics, _DEVICE, d)


_T = TypeVar("_T")


_Spec = tuple[frozenset[str], dict[str, Any], dict[str, Callable[[], Any]]]


def _defaults(cls: type) -> _Spec:
    """A record class's field names, plain defaults and default factories."""
    plain: dict[str, Any] = {}
    made: dict[str, Callable[[], Any]] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            plain[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            made[f.name] = f.default_factory
    return frozenset(f.name for f in dataclasses.fields(cls)), plain, made


_PROCESS = _defaults(ProcessMetrics)
_DEVICE = _defaults(DeviceMetrics)


def _record(cls: type[_T], spec: _Spec, values: dict[str, Any]) -> _T:
    names, plain, made = spec
    obj = object.__new__(cls)
    fields = obj.__dict__
    fields.update(plain)  # a compact document lacks most of these: cheaper to write them all first
    fields.update(values)
    for name, factory in made.items():
        if name not in values:
            fields[name] = factory()
    if len(fields) != len(names) or not values.keys() <= names:
        _known(cls, spec, values)
        missing = min(names - fields.keys())
        raise TypeError(f"{cls.__name__}.__init__() missing required argument: {missing!r}")
    return obj


# --- a device's condensed past: one columnar document ----------------------------------------------

PAST_FORMAT = 1
# Process fields that differ from one point to the next: one column an instance. The others (name,
# exe, cmdline, thread names, maps classes, ...) are stored once an instance, and again only at a
# point where they differ. Part of PAST_FORMAT 1 in this order (the analysis's own lists of fields,
# fleet.analysis.history.PROCESS_MEDIANS, may change; a stored format may not).
PROCESS_COLUMNS = (
    "rss",
    "pss",
    "vm_size",
    "anon_private",
    "threads",
    "fds",
    "stack_count",
    "stack_bytes",
    "shm_count",
    "shm_bytes",
    "at",
    "represents",
)
_DEVICE_FIELDS = tuple(sorted(_DEVICE[0] - {"processes"}))


def past_to_json(points: list[Rollup]) -> bytes:
    """A device's rollups (oldest first) as one document, column by column: a year's ~45 points
    decode in under half the time of one document each (keys and each instance's unchanging
    fields are written once, not at every point). :func:`past_from_json` gives equal records back."""
    instances: dict[tuple[int, int, int], dict[str, Any]] = {}
    for i, p in enumerate(points):
        seen: dict[tuple[int, int], int] = {}  # records of one pid and start time in this point: one
        for slot, pm in enumerate(p.metrics.processes):
            n = seen[pm.pid, pm.start_time] = seen.get((pm.pid, pm.start_time), -1) + 1
            fields = pm.__dict__
            inst = instances.get((pm.pid, pm.start_time, n))
            if inst is None:
                same = {k: v for k, v in fields.items() if k not in PROCESS_COLUMNS}
                inst = instances[pm.pid, pm.start_time, n] = {
                    "same": same,
                    "points": [],
                    "slots": [],
                    "columns": {c: [] for c in PROCESS_COLUMNS},
                    "changed": [],
                }
            inst["points"].append(i)
            inst["slots"].append(slot)
            for c in PROCESS_COLUMNS:
                inst["columns"][c].append(fields[c])
            if pm.at == p.captured_at:
                inst["columns"]["at"][-1] = True  # the point's own time (most records): fewer digits
            same = inst["same"]
            inst["changed"].append({k: v for k, v in fields.items() if k in same and v != same[k]} or None)
    for inst in instances.values():
        if not any(inst["changed"]):
            del inst["changed"]
    device: dict[str, Any] = {"same": {}, "columns": {}}
    for f in _DEVICE_FIELDS:
        if f != "slab":
            values = [getattr(p.metrics, f) for p in points]
            if values and all(v == values[0] for v in values):
                device["same"][f] = values[0]
            else:
                device["columns"][f] = values
    caches = dict.fromkeys(c for p in points for c in p.metrics.slab)
    device["slab"] = {c: [p.metrics.slab.get(c) for p in points] for c in caches}
    doc = {
        "format": PAST_FORMAT,
        "t": [p.captured_at for p in points],
        "bucket_start": [p.bucket_start for p in points],
        "bucket_end": [p.bucket_end for p in points],
        "device": device,
        "instances": list(instances.values()),
    }
    return json.dumps(doc, separators=(",", ":"), default=dict).encode()


def past_from_json(doc: bytes) -> list[Rollup]:
    """The rollups of :func:`past_to_json`'s document, oldest first. A field this fleet does not
    know is refused and one the document lacks takes its default, as for one metrics document."""
    return [Rollup(t, start, end, m) for t, start, end, m in past_points(doc)]


def past_points(doc: bytes) -> list[tuple[float, float, float, DeviceMetrics]]:
    """:func:`past_from_json` as (time, bucket start, bucket end, metrics): each point's records
    made from its instances (:func:`past_columns`), in their places."""
    points, instances, counts = _past(doc)
    # every place filled below: _past saw each point's records fill 0, 1, ...
    rows: list[list[ProcessMetrics | None]] = [[None] * c for c in counts]
    for inst in instances:
        for k, (i, slot) in enumerate(zip(inst.points, inst.slots, strict=True)):
            rows[i][slot] = inst.record(k)
    for (_, _, _, dm), row in zip(points, rows, strict=True):
        dm.__dict__["processes"] = tuple(row)
    return points


def past_columns(doc: bytes) -> tuple[list[tuple[float, DeviceMetrics]], list[PastInstance]]:
    """What the analysis reads of a past: its points without their processes, and the processes
    instance by instance (:class:`PastInstance`), without a record a point."""
    points, instances, _ = _past(doc)
    return [(t, dm) for t, _, _, dm in points], instances


def _past(
    doc: bytes,
) -> tuple[list[tuple[float, float, float, DeviceMetrics]], list[PastInstance], list[int]]:
    """The points (no processes yet), the instances, and how many records each point has. Refuses
    a field this fleet does not know, a column of the wrong length, an instance's points out of
    order and a point's records out of place."""
    d, points = _past_device(doc)
    times = [p[0] for p in points]
    instances = [_instance_columns(inst, times) for inst in d["instances"]]
    return points, instances, _check_places(instances, len(points))


def _past_device(doc: bytes) -> tuple[dict[str, Any], list[tuple[float, float, float, DeviceMetrics]]]:
    """The decoded document, and its points' device metrics (no processes yet)."""
    d: dict[str, Any] = json.loads(doc)
    if d.get("format") != PAST_FORMAT:
        raise ValueError(f"condensed past of format {d.get('format')!r}: this fleet reads {PAST_FORMAT}")
    times: list[float] = d["t"]
    n = len(times)
    device = d["device"]
    template = _record(DeviceMetrics, _DEVICE, device["same"]).__dict__  # checked once
    template["problems"] = tuple(template["problems"])
    columns: dict[str, list[Any]] = device["columns"]
    _known(DeviceMetrics, _DEVICE, columns)
    slabs = _slabs(device["slab"], n)
    out = []
    for i, row in enumerate(_rows(columns, n)):
        dm = object.__new__(DeviceMetrics)
        f = dm.__dict__
        f.update(template)
        f.update(row)
        if "problems" in row:
            f["problems"] = tuple(f["problems"])
        f["slab"] = slabs[i]
        f["processes"] = ()
        out.append((times[i], d["bucket_start"][i], d["bucket_end"][i], dm))
    return d, out


def _slabs(columns: dict[str, list[int | None]], n: int) -> list[dict[str, int]]:
    """Each point's slab caches (None in a cache's column: not read at that point)."""
    rows = _rows(columns, n)
    if any(None in col for col in columns.values()):
        return [{c: b for c, b in row.items() if b is not None} for row in rows]
    return rows


def _instance_columns(inst: dict[str, Any], times: list[float]) -> PastInstance:
    """One instance of the document as it is stored, its fields checked once."""
    points: list[int] = inst["points"]
    _in_order(points, len(times))
    fields = _record(ProcessMetrics, _PROCESS, inst["same"]).__dict__  # checked once
    columns: dict[str, list[Any]] = inst["columns"]
    if list(columns) != list(PROCESS_COLUMNS):
        raise ValueError(f"condensed past: process columns {list(columns)}")
    n = len(points)
    if len(inst["slots"]) != n or any(len(c) != n for c in columns.values()):
        raise ValueError("condensed past: an instance's columns are shorter or longer than its points")
    changed = inst.get("changed")
    if changed is not None:
        if len(changed) != n:
            raise ValueError("condensed past: an instance's changes are shorter or longer than its points")
        for change in changed:
            if change:
                _known(ProcessMetrics, _PROCESS, change)
    own = columns["at"]
    if True in own:
        own = columns["at"] = [times[i] if a is True else a for i, a in zip(points, own, strict=True)]
    when = [times[i] if a is None else a for i, a in zip(points, own, strict=True)] if None in own else own
    for name in PROCESS_COLUMNS:
        del fields[name]
    return PastInstance(
        fields["pid"], fields["start_time"], points, inst["slots"], columns, when, fields, changed
    )


def _in_order(points: list[int], n: int) -> None:
    """An instance's points: places among the past's ``n``, oldest first, each once (as written)."""
    if points and (points[0] < 0 or points[-1] >= n or any(a >= b for a, b in itertools.pairwise(points))):
        raise ValueError("condensed past: an instance's points out of order")


def _check_places(instances: list[PastInstance], n: int) -> list[int]:
    """Every point's records fill its places 0, 1, ...; how many each point has."""
    counts = [0] * n
    placed: set[tuple[int, int]] = set()
    for inst in instances:
        for i in inst.points:
            counts[i] += 1
        placed.update(zip(inst.points, inst.slots, strict=True))
    if len(placed) != sum(counts) or any(not 0 <= s < counts[i] for i, s in placed):
        raise ValueError("condensed past: a point's records do not fill its places")
    return counts


def _rows(columns: dict[str, list[Any]], n: int) -> list[dict[str, Any]]:
    """Each point's values of ``columns`` (one value a point in each)."""
    if any(len(col) != n for col in columns.values()):
        raise ValueError("condensed past: a column of the wrong length")
    names = list(columns)
    return (
        [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
        if names
        else [{} for _ in range(n)]
    )


def _known(cls: type, spec: _Spec, values: dict[str, Any]) -> None:
    """Refuse a field the record does not have, as ``__init__`` would say it (the report shows it)."""
    unknown = sorted(values.keys() - spec[0])
    if unknown:
        raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {unknown[0]!r}")
