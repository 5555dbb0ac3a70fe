"""How the store encodes what it keeps: zstd blobs, and metrics as JSON documents.

A blob may be compressed against other bytes (a base capture, a metrics dictionary: see
``fleet.store.deltas``); then only what differs from them costs bytes. Blobs written before zstd
(zlib) are recognised by their first bytes and still read.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import zstandard

from fleet.metrics.model import DeviceMetrics, ProcessMetrics

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
        unknown = sorted(values.keys() - names)
        if unknown:  # as __init__ says it: the report shows it
            raise TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {unknown[0]!r}")
        missing = min(names - fields.keys())
        raise TypeError(f"{cls.__name__}.__init__() missing required argument: {missing!r}")
    return obj
