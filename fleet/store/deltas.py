"""Raw captures stored as deltas of a base capture of their device; metrics against a device dictionary.

Two captures of one device a few minutes or a night apart are mostly the same bytes (unchanged
maps, the same slab cache names, the same status lines), so a capture is compressed with an
earlier one of the same device (its *base*, a capture stored on its own, ``samples.raw_base``) as a
zstd raw-content dictionary (``fleet.store.codec``): a 72 KiB light-device capture takes ~10 KB
alone and ~0.7-2 KB as such a delta. That is the content deduplication of unchanged maps, without
cutting captures into pieces: the raw capture stays one exact, re-parseable byte string.

A capture never loses its base: a writer checks it under a share lock, and a prune re-encodes the
captures that depend on a base before it drops it. The metrics dictionary is the device's first
metrics document, never changed once written.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.errors import StoreError
from fleet.store import codec
from fleet.store.backend import Backend

# A base capture serves at most this many later captures of its device; then the next one stored
# becomes a base. Bounds how stale a base gets (more changed bytes) and what a prune re-encodes.
MAX_DELTAS_PER_BASE = 32


def compress_raw(backend: Backend, device_id: int, source: str, raw: bytes) -> tuple[bytes, int | None]:
    """``raw`` compressed against the device's latest base capture: (blob, base id or None).

    It stands alone (and becomes the next base) when there is no base yet, when the base has
    served ``MAX_DELTAS_PER_BASE`` captures, or when the delta is no smaller than half the base
    (the device changed a lot, e.g. rebooted with other processes).
    """
    base = backend.execute(
        "SELECT id, raw FROM samples WHERE device_id = ? AND source = ? AND raw_base IS NULL"
        " AND raw IS NOT NULL ORDER BY captured_at DESC LIMIT 1",
        (device_id, source),
    ).fetchone()
    if base is not None:
        (uses,) = backend.execute("SELECT count(*) FROM samples WHERE raw_base = ?", (base[0],)).fetchone()
        if uses < MAX_DELTAS_PER_BASE:
            delta = codec.compress(raw, codec.decompress(base[1]))
            if len(delta) < len(base[1]) // 2:
                return delta, int(base[0])
    return codec.compress(raw), None


def still_a_base(backend: Backend, base_id: int) -> bool:
    """The base still holds its raw; on PostgreSQL locked so a prune waits for this transaction."""
    row = backend.execute(
        "SELECT id FROM samples WHERE id = ? AND raw_base IS NULL AND raw IS NOT NULL"
        + backend.row_lock("SHARE"),
        (base_id,),
    ).fetchone()
    return row is not None


def raw_bytes(
    backend: Backend, sid: int, blob: bytes, base_id: int | None, cache: dict[int, bytes]
) -> bytes | None:
    """The capture a stored blob holds (None: pruned meanwhile); ``cache`` keeps decoded bases."""
    if base_id is None:
        return codec.decompress(blob)
    if base_id not in cache:
        row = backend.execute("SELECT raw FROM samples WHERE id = ?", (base_id,)).fetchone()
        if row is None or row[0] is None:
            # A prune since the capture was read re-encoded it on another base (or dropped it).
            return raw_now(backend, sid)
        cache.clear()  # captures come in id order: one base at a time is enough
        cache[base_id] = codec.decompress(row[0])
    return codec.decompress(blob, cache[base_id])


def raw_now(backend: Backend, sid: int) -> bytes | None:
    """One capture read with its base in one statement (one snapshot: no prune in between)."""
    row = backend.execute(
        "SELECT s.raw, s.raw_base, b.raw FROM samples s LEFT JOIN samples b ON b.id = s.raw_base"
        " WHERE s.id = ?",
        (sid,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    blob, base_id, base = row
    if base_id is None:
        return codec.decompress(blob)
    if base is None:
        raise StoreError(f"store damaged: capture base {base_id} is missing")
    return codec.decompress(blob, codec.decompress(base))


def rebase_dependents(backend: Backend, doomed: set[int], bases: Sequence[int]) -> None:
    """Before the raw of the ``doomed`` samples goes, re-encode the captures that were
    compressed against one of their ``bases`` and stay: the oldest becomes a base of its own
    and the others are compressed against it."""
    for base_id in bases:
        kept = [
            (sid, blob)
            for sid, blob in backend.execute(
                "SELECT id, raw FROM samples WHERE raw_base = ? AND raw IS NOT NULL ORDER BY captured_at",
                (base_id,),
            ).fetchall()
            if sid not in doomed
        ]
        if not kept:
            continue
        base = codec.decompress(
            backend.execute("SELECT raw FROM samples WHERE id = ?", (base_id,)).fetchone()[0]
        )
        first_id, first = kept[0][0], codec.decompress(kept[0][1], base)
        alone = codec.compress(first)
        backend.execute("UPDATE samples SET raw = ?, raw_base = NULL WHERE id = ?", (alone, first_id))
        for sid, blob in kept[1:]:
            data = codec.compress(codec.decompress(blob, base), first)
            backend.execute("UPDATE samples SET raw = ?, raw_base = ? WHERE id = ?", (data, first_id, sid))


def metrics_dictionary(backend: Backend, sample_id: int, doc: bytes) -> tuple[int, bytes]:
    """The zstd dictionary of the sample's device: its first metrics document, kept as it was.

    Two samples of one device share most of their metrics text (field names, slab cache names,
    process names): compressed with it, a light device's metrics take ~0.4 KB instead of ~3.
    Never changed once written, so no sample depends on another sample's row.
    """
    select = (
        "SELECT d.id, d.data FROM dictionaries d JOIN samples s ON s.device_id = d.device_id WHERE s.id = ?"
    )
    row = backend.execute(select, (sample_id,)).fetchone()
    if row is None:
        backend.execute(
            "INSERT INTO dictionaries (device_id, data) SELECT device_id, ? FROM samples WHERE id = ?"
            " ON CONFLICT (device_id) DO NOTHING",
            (codec.compress(doc), sample_id),
        )
        row = backend.execute(select, (sample_id,)).fetchone()
    return int(row[0]), codec.decompress(row[1])


def dictionary(backend: Backend, dict_id: int | None, cache: dict[int, bytes]) -> bytes | None:
    """The metrics dictionary ``dict_id`` (None: none was used); ``cache`` keeps those read."""
    if dict_id is None:
        return None  # written before dictionaries (or by nothing else)
    if dict_id not in cache:
        row = backend.execute("SELECT data FROM dictionaries WHERE id = ?", (dict_id,)).fetchone()
        if row is None:
            raise StoreError(f"store damaged: metrics dictionary {dict_id} is missing")
        cache[dict_id] = codec.decompress(row[0])
    return cache[dict_id]
