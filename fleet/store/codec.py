"""How the store encodes what it keeps: zstd blobs, and metrics as JSON documents.

A blob may be compressed against other bytes (a base capture, a metrics dictionary: see
``fleet.store.deltas``); then only what differs from them costs bytes. Blobs written before zstd
(zlib) are recognised by their first bytes and still read.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

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
    return zstandard.ZstdDecompressor(dict_data=_dictionary(base)).decompress(blob)


def _dictionary(base: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def metrics_to_json(m: DeviceMetrics) -> bytes:
    # The records are flat (numbers, strings, mappings of them): their __dict__ serialises as is,
    # several times faster than dataclasses.asdict, which deep-copies every value first.
    doc = dict(m.__dict__, processes=[p.__dict__ for p in m.processes])
    return json.dumps(doc, separators=(",", ":"), default=dict).encode()


def metrics_from_json(blob: bytes, dictionary: bytes | None = None) -> DeviceMetrics:
    """Metrics from their stored blob; ``dictionary``: the device's, when the blob was made with it."""
    return metrics_from_doc(decompress(blob, dictionary))


def metrics_from_doc(doc: bytes) -> DeviceMetrics:
    """Metrics from their JSON document (:func:`metrics_to_json`)."""
    d: dict[str, Any] = json.loads(doc)
    procs = tuple(ProcessMetrics(**p) for p in d.pop("processes"))
    d["problems"] = tuple(d.get("problems", ()))
    return DeviceMetrics(processes=procs, **d)
