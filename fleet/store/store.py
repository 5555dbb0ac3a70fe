"""The snapshot store: SQLite in WAL mode (one file per store directory), or a shared PostgreSQL.

Both backends run the same schema, migrations and queries: SQL is written once in the dialect both
understand (``?`` placeholders, ``ON CONFLICT``, ``RETURNING``) and a backend translates the few
differences (placeholders, column types, pragmas) in one place (``fleet.store.sqlite``,
``fleet.store.postgres``).

Order of writes is the contract: the raw capture (zstd, see ``fleet.store.deltas``) is committed
first, in its own transaction, then parsed (``fleet.store.parse``); parsed metrics land in a second
transaction. A collector killed between the two leaves a whole raw sample marked unparsed, which
the next open parses. Nothing captured is ever lost to a parser bug, and a better parser can re-read
every old capture (``reparse``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from fleet.errors import StoreError
from fleet.metrics.model import DeviceMetrics, Past
from fleet.store import codec, deltas
from fleet.store.backend import Backend, Cursor
from fleet.store.codec import metrics_from_doc, metrics_from_json, metrics_to_json
from fleet.store.location import CONNINFO_SECRET, default_collector, is_url
from fleet.store.lock import store_lock
from fleet.store.schema import MIGRATIONS, PASTS_VERSION, DeviceRow, Pruned, RawSample, Rollup
from fleet.store.sqlite import SqliteBackend


def database_errors(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """Driver errors a command may meet mid-run, for either backend (psycopg only once loaded),
    plus ``more``: for an ``except`` clause."""
    errors: list[type[Exception]] = [*more, sqlite3.Error]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)


def value_errors() -> tuple[type[Exception], ...]:
    """Errors of one value the database cannot hold (an integer past 64 bits, a NUL in PostgreSQL
    text), not of the database itself: the sample carrying it is refused, the run goes on."""
    errors: list[type[Exception]] = [OverflowError, sqlite3.DataError]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.DataError)
    return tuple(errors)


class Store:
    """One fleet store; use as a context manager. Used by one thread at a time.

    ``Store(directory)`` opens (or creates) the SQLite store there; ``Store("postgresql://...")``
    a shared PostgreSQL one. ``collector`` names the writer in runs, samples and device rows.
    """

    def __init__(self, location: Path | str, *, create: bool = True, collector: str | None = None) -> None:
        self.collector = collector or default_collector()
        self.backend: Backend
        if is_url(location):
            try:
                from fleet.store.postgres import PostgresBackend
            except ImportError as exc:
                raise StoreError(
                    f"PostgreSQL stores need psycopg ({exc}): pip install 'fleet[postgres]'"
                ) from None
            self.backend = PostgresBackend(str(location), create=create)
        elif CONNINFO_SECRET.search(str(location)):
            # A libpq "host=... password=..." string is no directory: refuse it, without naming it
            raise StoreError(
                "--store: a keyword/value connection string (not shown: it holds a password) is not"
                " a store; fleet takes postgresql:// URLs (password in ~/.pgpass or PGPASSWORD)"
            )
        else:
            self.backend = SqliteBackend(Path(location), create=create)
        self.location: Path | str = self.backend.location
        try:
            self._migrate(create)
        except BaseException:
            self.backend.close()
            raise

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.backend.kind

    @property
    def db(self) -> sqlite3.Connection:
        """The SQLite connection, for SQLite-only checks (pragmas, integrity)."""
        if not isinstance(self.backend, SqliteBackend):
            raise StoreError(f"{self.location}: not a SQLite store")
        return self.backend.db

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.backend.close()

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) on either backend; its rows, if any.

        For tests, benchmarks and one-off repairs: fleet itself goes through the methods below.
        """
        cur = self._x(statement, params)
        if getattr(cur, "description", None) is None:
            return []
        return [tuple(r) for r in cur.fetchall()]

    def _x(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.backend.execute(sql, params)

    def _returning(self, sql: str, params: Sequence[Any]) -> int | None:
        # fetchall, not fetchone: SQLite keeps a RETURNING statement (and its lock) open until
        # every row is read.
        rows = self._x(sql, params).fetchall()
        return int(rows[0][0]) if rows else None

    # --- schema ---------------------------------------------------------------------------------

    def _version(self) -> int | None:
        try:
            rows = self.sql("SELECT version FROM schema_version")
        except database_errors():
            return None  # no table yet
        return int(rows[0][0]) if rows else 0

    def _migrate(self, create: bool) -> None:
        version = self._version()
        if version == len(MIGRATIONS):
            return
        if version is None and not create:
            raise StoreError(f"{self.location}: no fleet store here (run `fleet collect` first)")
        # Several collectors may open a new shared store at once: one migrates, the others wait
        # and then find the schema current.
        with self.transaction():
            self.backend.lock_schema()
            self._x(self.backend.ddl("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
            row = self._x("SELECT version FROM schema_version").fetchone()
            version = int(row[0]) if row else 0
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"store schema {version} is newer than this fleet ({len(MIGRATIONS)}): upgrade"
                )
            for i in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        self._x(self.backend.ddl(statement))
                if i + 1 == PASTS_VERSION:
                    self._pasts_from_rollups()
            self._x("DELETE FROM schema_version")
            self._x("INSERT INTO schema_version VALUES (?)", (max(version, len(MIGRATIONS)),))

    def _pasts_from_rollups(self) -> None:
        """Migrating to schema 9: each device's rollup rows become its past document. A device
        whose rollups cannot be read has them rebuilt from its samples by the next roll-up."""
        cache: dict[int, bytes] = {}
        for (device_id,) in self._x("SELECT DISTINCT device_id FROM rollups ORDER BY device_id").fetchall():
            rows = self._x(
                "SELECT captured_at, bucket_start, bucket_end, metrics, metrics_dict FROM rollups"
                " WHERE device_id = ? ORDER BY captured_at",
                (device_id,),
            ).fetchall()
            try:
                points = [
                    Rollup(at, start, end, metrics_from_json(blob, deltas.dictionary(self.backend, d, cache)))
                    for at, start, end, blob, d in rows
                ]
            except database_errors():
                raise
            except Exception:
                self.restart_rollups(int(device_id))
                continue
            self._write_past(int(device_id), points)

    @property
    def schema_version(self) -> int:
        return int(self._x("SELECT version FROM schema_version").fetchone()[0])

    def transaction(self) -> AbstractContextManager[Any]:
        """All or nothing: a kill inside leaves the database as before."""
        return self.backend.transaction()

    # --- writes ---------------------------------------------------------------------------------

    def begin_run(self, inventory: str | None, collector: str | None = None) -> int:
        run = self._returning(
            "INSERT INTO runs (started_at, inventory, collector) VALUES (?, ?, ?) RETURNING id",
            (time.time(), inventory, collector or self.collector),
        )
        return int(run or 0)

    def end_run(self, run_id: int) -> None:
        self._x("UPDATE runs SET finished_at = ? WHERE id = ?", (time.time(), run_id))

    def device_id(
        self,
        name: str,
        host: str | None = None,
        groups: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> int:
        """The device's row id, creating or refreshing its row (one atomic upsert: safe when
        collectors register the same device at once)."""
        row_id = self._returning(
            "INSERT INTO devices (name, host, groups_json, tags_json) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET host = coalesce(excluded.host, devices.host), "
            "groups_json = excluded.groups_json, tags_json = excluded.tags_json RETURNING id",
            (name, host, json.dumps(list(groups)), json.dumps(list(tags))),
        )
        assert row_id is not None  # DO UPDATE always returns the row
        return row_id

    def set_device_flags(self, device_id: int, flags: Sequence[str]) -> None:
        """Replace the device's flags (see DeviceRow.flags); written once per collect."""
        self._x("UPDATE devices SET flags_json = ? WHERE id = ?", (json.dumps(list(flags)), device_id))

    def set_one_shot_shell(self, device_id: int, at: float) -> None:
        """The device's kept shell did not answer (a capture in it timed out) where a shell per
        capture then did: later runs start it on a shell per capture (fleet.collect)."""
        self._x("UPDATE devices SET one_shot_shell = ? WHERE id = ?", (at, device_id))

    def one_shot_shell_devices(self, since: float) -> set[int]:
        """Devices found needing a shell per capture at or after ``since`` (epoch seconds)."""
        rows = self._x("SELECT id FROM devices WHERE one_shot_shell >= ?", (since,)).fetchall()
        return {int(row[0]) for row in rows}

    def record_attempt(
        self,
        device_id: int,
        run_id: int | None,
        status: str,
        error: str | None,
        duration: float | None,
        at: float | None = None,
    ) -> None:
        """One outcome of one try to sample a device; the device keeps its latest status."""
        at = time.time() if at is None else at
        with self.transaction():
            self._x(
                "INSERT INTO attempts (run_id, device_id, at, status, error, duration) VALUES (?,?,?,?,?,?)",
                (run_id, device_id, at, status, error, duration),
            )
            self._x(
                "UPDATE devices SET status = ?, error = ?, last_attempt = ?, collector = ? WHERE id = ?",
                (status, error, at, self.collector, device_id),
            )

    def add_raw_sample(
        self,
        device_id: int,
        run_id: int | None,
        captured_at: float,
        raw: bytes,
        *,
        token: str | None,
        duration: float | None = None,
        complete: bool = True,
        source: str = "ssh",
        meta: dict[str, Any] | None = None,
    ) -> int:
        """Commit the capture exactly as received, before any parsing.

        Idempotent per (device, captured_at): writing the same sample twice (a re-run import, two
        collectors) keeps the first and returns its id.

        The delta is made outside the transaction (a base's bytes never change while it is a base);
        inside it the base is checked again, under a share lock a prune must wait for, so a prune
        in between (``fleet prune`` during a collect) cannot leave this capture without its base.
        """
        blob, base_id = deltas.compress_raw(self.backend, device_id, source, raw)
        with self.transaction():
            if base_id is not None and not deltas.still_a_base(self.backend, base_id):
                blob, base_id = codec.compress(raw), None  # pruned meanwhile: it stands alone
            sid = self._returning(
                "INSERT INTO samples (device_id, run_id, captured_at, duration, source, token,"
                " raw, raw_size, complete, meta_json, collector, raw_base) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (device_id, captured_at) DO NOTHING RETURNING id",
                (
                    device_id,
                    run_id,
                    captured_at,
                    duration,
                    source,
                    token,
                    blob,
                    len(raw),
                    int(complete),
                    json.dumps(meta) if meta else None,
                    self.collector,
                    base_id,
                ),
            )
            if sid is None:
                row = self._x(
                    "SELECT id FROM samples WHERE device_id = ? AND captured_at = ?", (device_id, captured_at)
                ).fetchone()
                sid = int(row[0])
        return sid

    def set_metrics(self, sample_id: int, metrics: DeviceMetrics) -> None:
        """Store the parsed form of a sample (replacing an older parse) in one transaction.

        The sample row is updated first: on PostgreSQL that row lock makes two processes parsing
        the same sample (a collector and a ``fleet rank``) take turns instead of interleaving.
        """
        doc = metrics_to_json(metrics)
        with self.transaction():
            dict_id, dictionary = deltas.metrics_dictionary(self.backend, sample_id, doc)
            blob = codec.compress(doc, dictionary)
            self._x(
                "UPDATE samples SET parsed = 1, problems_json = ?, boot_id = ?, uptime = ?,"
                " mem_available = ?, metrics = ?, metrics_dict = ?,"
                " rolled = CASE WHEN rolled = 1 AND parsed = 1 THEN 2 WHEN rolled = 1 THEN 0 ELSE rolled END"
                " WHERE id = ?",
                (
                    json.dumps(list(metrics.problems)) if metrics.problems else None,
                    metrics.boot_id,
                    metrics.uptime,
                    metrics.mem_available,
                    blob,
                    dict_id,
                    sample_id,
                ),
            )
            self._x("DELETE FROM process_samples WHERE sample_id = ?", (sample_id,))
            rows = [
                (sample_id, p.pid, p.start_time, p.name, p.rss, p.vm_size, p.threads, p.stack_count, p.fds)
                for p in metrics.processes
            ]
            if rows:
                self.backend.executemany(
                    "INSERT INTO process_samples (sample_id, pid, start_time, name, rss, vm_size,"
                    " threads, stack_count, fds) VALUES (?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT (sample_id, pid) DO UPDATE SET start_time = excluded.start_time,"
                    " name = excluded.name, rss = excluded.rss, vm_size = excluded.vm_size,"
                    " threads = excluded.threads, stack_count = excluded.stack_count, fds = excluded.fds",
                    rows,
                )

    def mark_unparsable(self, sample_id: int, reason: str) -> None:
        """The capture itself is unreadable; keep it (raw) and say why."""
        self._x(  # rolled: no rollup will hold it
            "UPDATE samples SET parsed = 2, problems_json = ?, rolled = 1 WHERE id = ?",
            (json.dumps([reason]), sample_id),
        )

    # --- reads ----------------------------------------------------------------------------------

    def raw_samples(self, *, only_unparsed: bool = False) -> Iterator[RawSample]:
        where = "WHERE s.parsed = 0" if only_unparsed else ""
        rows = self._x(
            "SELECT s.id, d.name, s.captured_at, s.token, s.raw, s.source, s.meta_json, s.raw_base"
            f" FROM samples s JOIN devices d ON d.id = s.device_id {where} ORDER BY s.id"
        ).fetchall()
        bases: dict[int, bytes] = {}
        for sid, name, at, token, raw, source, meta, base_id in rows:
            data = (deltas.raw_bytes(self.backend, sid, raw, base_id, bases) if raw else None) or b""
            yield RawSample(sid, name, at, token, data, source, json.loads(meta) if meta else {})

    def raw_at(self, device: str, captured_at: float) -> RawSample | None:
        """The stored capture of one device at one time (None when pruned or absent)."""
        row = self._x(
            "SELECT s.id, d.name, s.captured_at, s.token, s.source, s.meta_json"
            " FROM samples s JOIN devices d ON d.id = s.device_id WHERE d.name = ? AND s.captured_at = ?",
            (device, captured_at),
        ).fetchone()
        data = deltas.raw_now(self.backend, row[0]) if row is not None else None
        if row is None or data is None:
            return None
        sid, name, at, token, source, meta = row
        return RawSample(sid, name, at, token, data, source, json.loads(meta) if meta else {})

    def devices(self) -> list[DeviceRow]:
        # One subquery per device on the (device_id, captured_at) index, not a join grouped over
        # every sample: ~5x less work for a year of samples (the count still reads its index).
        rows = self._x(
            "SELECT d.name, d.host, d.groups_json, d.tags_json, d.status, d.error, d.last_attempt,"
            " (SELECT count(*) FROM samples s WHERE s.device_id = d.id),"
            " (SELECT min(s.captured_at) FROM samples s WHERE s.device_id = d.id),"
            " (SELECT max(s.captured_at) FROM samples s WHERE s.device_id = d.id),"
            " d.flags_json, d.collector FROM devices d ORDER BY d.name"
        ).fetchall()
        return [
            DeviceRow(
                name=r[0],
                host=r[1],
                groups=tuple(json.loads(r[2])),
                tags=tuple(json.loads(r[3])),
                status=r[4],
                error=r[5],
                last_attempt=r[6],
                samples=int(r[7]),
                first_sample=r[8],
                last_sample=r[9],
                flags=tuple(json.loads(r[10] or "[]")),
                collector=r[11],
            )
            for r in rows
        ]

    def series(self, device: str, max_bytes: int | None = None) -> list[tuple[float, DeviceMetrics]]:
        """The parsed samples of one device, oldest first, at full resolution (the analysis reads
        :meth:`history`).

        ``max_bytes``: only the newest samples whose metrics documents (JSON) add up to at most
        this many bytes; one larger than that on its own is passed over. Bounds what one device
        costs the analysis (fleet.metrics.limits.MAX_ANALYSED_BYTES).
        """
        rows = self._x(
            "SELECT s.captured_at, s.metrics, s.metrics_dict FROM samples s JOIN devices d"
            " ON d.id = s.device_id WHERE d.name = ? AND s.parsed = 1 ORDER BY s.captured_at DESC",
            (device,),
        ).fetchall()
        return self._decoded(rows, max_bytes)[0]

    def iter_series(self, device: str, chunk: int = 200) -> Iterator[tuple[float, DeviceMetrics]]:
        """Every parsed sample of one device, oldest first, read ``chunk`` samples at a time: for
        exports of a whole history that need not fit in memory (the analysis uses :meth:`series`)."""
        ids = [
            int(r[0])
            for r in self._x(
                "SELECT s.id FROM samples s JOIN devices d ON d.id = s.device_id"
                " WHERE d.name = ? AND s.parsed = 1 ORDER BY s.captured_at, s.id",
                (device,),
            ).fetchall()
        ]
        cache: dict[int, bytes] = {}
        for part in _chunks(ids, chunk):
            marks = ", ".join("?" * len(part))
            rows = self._x(
                "SELECT captured_at, metrics, metrics_dict FROM samples"
                f" WHERE id IN ({marks}) AND parsed = 1 ORDER BY captured_at, id",
                part,
            ).fetchall()
            for at, blob, dict_id in rows:
                yield (
                    at,
                    metrics_from_doc(codec.decompress(blob, deltas.dictionary(self.backend, dict_id, cache))),
                )

    def history(self, device: str, max_bytes: int | None = None) -> list[tuple[float, DeviceMetrics]]:
        """The device's stored past as the analysis reads it, oldest first: its condensed past
        (points standing for many samples each, ``fleet.view.rollup``) and the parsed samples no
        rollup holds yet; on a store without rollups, every parsed sample (the analysis condenses
        them as it reads). One statement, so one snapshot: a roll-up or prune committing meanwhile
        is seen whole or not at all. ``max_bytes`` as in :meth:`series` (the past's points the
        newest first, each counting its share of the past's document)."""
        samples, doc, left = self._history(device, max_bytes)
        if doc is None:
            return samples
        points = [(t, m) for t, _, _, m in codec.past_points(doc)]
        points = points[_dropped(len(points), len(doc), left) :]
        return sorted(points + samples, key=lambda p: p[0])  # an imported older sample: in its place

    def analysed_history(
        self, device: str, max_bytes: int | None = None
    ) -> tuple[list[tuple[float, DeviceMetrics]], Past | None]:
        """:meth:`history`, with the processes of the condensed past column by column beside its
        points, which hold none (``fleet.analysis.series.instances`` reads them so): no record a
        point to build, nor to group again by instance."""
        samples, doc, left = self._history(device, max_bytes)
        if doc is None:
            return samples, None
        points, instances = codec.past_columns(doc)
        dropped = _dropped(len(points), len(doc), left)
        past = Past(points[dropped:], instances, dropped)
        return sorted(past.points + samples, key=lambda p: p[0]), past

    def _history(
        self, device: str, max_bytes: int | None
    ) -> tuple[list[tuple[float, DeviceMetrics]], bytes | None, int | None]:
        """The samples no rollup holds, decoded; the past's document (None: none, or no room
        left for it); and the bytes of ``max_bytes`` left for it (None: no limit)."""
        # "rolled != 1 AND rolled = 0": the first term lets SQLite use the partial index
        rows = self._x(
            "SELECT 1, s.captured_at, s.metrics, s.metrics_dict FROM samples s JOIN devices d"
            " ON d.id = s.device_id WHERE d.name = ? AND s.rolled != 1 AND s.rolled = 0 AND s.parsed = 1"
            " UNION ALL SELECT 0, 0.0, p.past, NULL FROM pasts p JOIN devices d ON d.id = p.device_id"
            " WHERE d.name = ? ORDER BY 1 DESC, 2 DESC",
            (device, device),
        ).fetchall()
        samples, used = self._decoded([r[1:] for r in rows if r[0] == 1], max_bytes)
        past = [r[2] for r in rows if r[0] == 0]
        if not past or (max_bytes is not None and used >= max_bytes):
            return samples, None, None
        return samples, codec.decompress(past[0]), None if max_bytes is None else max_bytes - used

    def _decoded(
        self, rows: Sequence[tuple[float, bytes, int | None]], max_bytes: int | None
    ) -> tuple[list[tuple[float, DeviceMetrics]], int]:
        """Metrics of rows newest first, within ``max_bytes`` of JSON: oldest first, and the
        bytes of JSON they took."""
        cache: dict[int, bytes] = {}
        docs: list[tuple[float, bytes]] = []
        used = 0
        for at, blob, dict_id in rows:
            doc = codec.decompress(blob, deltas.dictionary(self.backend, dict_id, cache))
            if max_bytes is not None:
                if len(doc) > max_bytes:
                    continue  # over the budget on its own: stored before fleet capped samples
                if used + len(doc) > max_bytes:
                    break
            used += len(doc)
            docs.append((at, doc))
        return [(at, metrics_from_doc(doc)) for at, doc in reversed(docs)], used

    # --- rollups (fleet.view.rollup decides what they hold; these keep them) ---------------------

    def rollup_candidates(self) -> list[tuple[int, float, float | None, bool]]:
        """Devices with samples no rollup holds: (device id, the oldest of those samples, the
        device's newest parsed sample, whether a rolled-up sample was parsed again since)."""
        rows = self._x(
            "SELECT u.device_id, u.oldest, (SELECT s.captured_at FROM samples s WHERE"
            " s.device_id = u.device_id AND s.parsed = 1 ORDER BY s.captured_at DESC LIMIT 1), u.again"
            " FROM (SELECT device_id, min(captured_at) AS oldest, max(rolled) AS again FROM samples"
            " WHERE rolled != 1 GROUP BY device_id) u ORDER BY u.device_id"
        ).fetchall()
        return [
            (int(d), float(old), None if new is None else float(new), again == 2)
            for d, old, new, again in rows
        ]

    def begin_rollup(self, device_id: int) -> float | None:
        """Inside a transaction: lock the device's rollups (two roll-ups of one device take turns)
        and return its newest parsed sample's time (None: none). The lock (PostgreSQL's NO KEY
        UPDATE) lets a collector store the device's samples meanwhile: their rows' reference to the
        device needs only a key share, which FOR UPDATE would block while the roll-up waits for
        the share lock the collector holds on its capture's base (a deadlock). A sample parsed again after it
        was rolled up (``rolled = 2``) makes the rollups start over from the samples kept."""
        self._x(
            "SELECT id FROM devices WHERE id = ?" + self.backend.row_lock("NO KEY UPDATE"), (device_id,)
        ).fetchall()
        again = self._x(
            "SELECT count(*) FROM samples WHERE device_id = ? AND rolled != 1 AND rolled = 2", (device_id,)
        ).fetchone()[0]
        if again:
            self.restart_rollups(device_id)
        row = self._x(  # not max(): with the filter, SQLite would read every sample of the device
            "SELECT captured_at FROM samples WHERE device_id = ? AND parsed = 1"
            " ORDER BY captured_at DESC LIMIT 1",
            (device_id,),
        ).fetchone()
        return None if row is None else float(row[0])

    def restart_rollups(self, device_id: int) -> None:
        """Inside a transaction (a roll-up's, a migration's): the device's past is dropped and
        every kept sample of it is to be rolled up again."""
        # samples first: a prune holding some makes this wait before the past is touched (rows
        # locked in the other order: a deadlock)
        self._x("UPDATE samples SET rolled = 0 WHERE device_id = ? AND rolled != 0", (device_id,))
        self._x("DELETE FROM pasts WHERE device_id = ?", (device_id,))

    def rollups(self, device_id: int) -> list[Rollup]:
        """The device's rollups, oldest first."""
        row = self._x("SELECT past FROM pasts WHERE device_id = ?", (device_id,)).fetchone()
        return [] if row is None else codec.past_from_json(codec.decompress(row[0]))

    def unrolled(
        self, device_id: int, before: float, chunk: int = 256
    ) -> Iterator[list[tuple[int, float, DeviceMetrics]]]:
        """The device's parsed samples taken before ``before`` that no rollup holds, oldest first,
        ``chunk`` at a time: (sample id, time, metrics). Locked (PostgreSQL) until the
        transaction ends, in id order as a prune locks them."""
        ids = [
            (int(r[0]), float(r[1]))
            for r in self._x(
                "SELECT id, captured_at FROM samples WHERE device_id = ? AND rolled != 1 AND rolled = 0"
                " AND parsed = 1 AND captured_at < ? ORDER BY id" + self.backend.row_lock("NO KEY UPDATE"),
                (device_id, before),
            ).fetchall()
        ]
        ids.sort(key=lambda r: r[1])
        cache: dict[int, bytes] = {}
        for part in _chunks([sid for sid, _ in ids], chunk):
            marks = ", ".join("?" * len(part))
            rows = self._x(
                f"SELECT id, captured_at, metrics, metrics_dict FROM samples WHERE id IN ({marks})"
                " ORDER BY captured_at",
                part,
            ).fetchall()
            yield [
                (int(sid), at, metrics_from_json(blob, deltas.dictionary(self.backend, dict_id, cache)))
                for sid, at, blob, dict_id in rows
            ]

    def replace_rollups(self, device_id: int, points: Sequence[Rollup], rolled: Sequence[int]) -> None:
        """Inside :meth:`begin_rollup`'s transaction: the device's rollups become ``points`` and
        the ``rolled`` samples are marked as held by them."""
        self._write_past(device_id, points)
        for part in _chunks(sorted(rolled)):
            self._x(f"UPDATE samples SET rolled = 1 WHERE id IN ({','.join('?' * len(part))})", part)

    def _write_past(self, device_id: int, points: Sequence[Rollup]) -> None:
        """Store ``points`` as the device's past (none: it has none)."""
        if not points:
            self._x("DELETE FROM pasts WHERE device_id = ?", (device_id,))
            return
        self._x(
            "INSERT INTO pasts (device_id, points, oldest_end, past) VALUES (?,?,?,?) ON CONFLICT"
            " (device_id) DO UPDATE SET points = excluded.points, oldest_end = excluded.oldest_end,"
            " past = excluded.past",
            (
                device_id,
                len(points),
                min(p.bucket_end for p in points),
                codec.compress(codec.past_to_json(list(points))),
            ),
        )

    def rollup_count(self) -> int:
        return int(self._x("SELECT coalesce(sum(points), 0) FROM pasts").fetchone()[0])

    def previous_metrics(self, sample_id: int) -> DeviceMetrics | None:
        """The parsed sample of the same device just before this one (None without one)."""
        row = self._x(
            "SELECT p.metrics, p.metrics_dict FROM samples s JOIN samples p ON p.device_id = s.device_id"
            " AND p.captured_at < s.captured_at AND p.parsed = 1"
            " WHERE s.id = ? ORDER BY p.captured_at DESC LIMIT 1",
            (sample_id,),
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return metrics_from_json(row[0], deltas.dictionary(self.backend, row[1], {}))

    def prune(self, *, keep_raw_days: float | None, keep_metrics_days: float | None, now: float) -> Pruned:
        """Drop raw captures older than ``keep_raw_days`` (metrics stay), and whole samples older
        than ``keep_metrics_days`` with the rollups all of whose bucket is older too (one straddling
        the cutoff still stands for kept samples); then give the freed pages back. ``None`` keeps
        forever.

        The doomed rows are chosen and locked once, and only they are touched: a capture parsed or
        stored meanwhile is never dropped without its dependents re-encoded first, and a writer
        holding a base (``add_raw_sample``) is waited for."""
        raw = metrics = rollups = 0
        with self.transaction():
            if keep_metrics_days is not None:
                cutoff = now - keep_metrics_days * 86400
                doomed = self._lock_doomed("captured_at < ?", cutoff)
                for chunk in _chunks(sorted(doomed)):
                    marks = ",".join("?" * len(chunk))
                    self._x(f"DELETE FROM process_samples WHERE sample_id IN ({marks})", chunk)
                    metrics += self._x(f"DELETE FROM samples WHERE id IN ({marks})", chunk).rowcount
                self._x("DELETE FROM attempts WHERE at < ?", (cutoff,))
            if keep_raw_days is not None:
                cutoff = now - keep_raw_days * 86400
                doomed = self._lock_doomed("captured_at < ? AND raw IS NOT NULL AND parsed != 0", cutoff)
                for chunk in _chunks(sorted(doomed)):
                    marks = ",".join("?" * len(chunk))
                    raw += self._x(f"UPDATE samples SET raw = NULL WHERE id IN ({marks})", chunk).rowcount
        if keep_metrics_days is not None:
            rollups = self._prune_pasts(now - keep_metrics_days * 86400)
        self.backend.after_prune()
        return Pruned(raw_dropped=raw, samples_dropped=metrics, rollups_dropped=rollups)

    def _prune_pasts(self, cutoff: float) -> int:
        """Drop the rollups whose whole bucket is older than ``cutoff`` (one straddling it stands
        for kept samples too); how many. In a transaction of its own after the samples': it locks
        each device as a roll-up does (the device first, so the two never wait on each other in
        turn), and a roll-up meanwhile is not undone."""
        dropped = 0
        with self.transaction():
            due = self._x(
                "SELECT device_id FROM pasts WHERE oldest_end <= ? ORDER BY device_id", (cutoff,)
            ).fetchall()
            for (device_id,) in due:
                self._x(
                    "SELECT id FROM devices WHERE id = ?" + self.backend.row_lock("NO KEY UPDATE"),
                    (device_id,),
                ).fetchall()
                points = self.rollups(int(device_id))
                kept = [p for p in points if p.bucket_end > cutoff]
                dropped += len(points) - len(kept)
                self._write_past(int(device_id), kept)
        return dropped

    def _lock_doomed(self, where: str, cutoff: float) -> set[int]:
        """The ids of the samples matching ``where``, locked (PostgreSQL; SQLite's transaction
        holds the store), their bases' surviving dependents re-encoded: ready to go."""
        rows = self._x(  # in id order: two prunes at once take their locks in the same order
            "SELECT id, raw_base IS NULL AND raw IS NOT NULL FROM samples WHERE "
            + where
            + " ORDER BY id"
            + self.backend.row_lock("UPDATE"),
            (cutoff,),
        ).fetchall()
        doomed = {int(sid) for sid, _ in rows}
        deltas.rebase_dependents(self.backend, doomed, [int(sid) for sid, is_base in rows if is_base])
        return doomed

    def size_bytes(self) -> int:
        """Bytes on disk: the SQLite database and its WAL, or fleet's PostgreSQL tables."""
        return self.backend.size_bytes()

    def sample_count(self) -> int:
        return int(self._x("SELECT count(*) FROM samples").fetchone()[0])

    def advisory_lock(self, name: str) -> AbstractContextManager[None]:
        """An exclusive lock every process on this shared store sees, dropped with the connection
        (so a kill -9 leaves none); raises ``fleet.errors.Locked`` when held elsewhere. PostgreSQL
        only: directory stores use the flock of ``fleet.store.lock.store_lock``."""
        return self.backend.advisory_lock(name)


def _chunks(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    """``ids`` in slices that fit one statement's parameters."""
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _dropped(points: int, size: int, left: int | None) -> int:
    """How many of a past's oldest points ``left`` bytes leave out, each counting its share of
    the past's ``size`` bytes of JSON."""
    if left is None:
        return 0
    return max(0, points - int(left // (size / max(1, points))))


def open_store(location: Path | str, *, create: bool = False, collector: str | None = None) -> Store:
    """The store at a directory (SQLite) or a ``postgresql://`` URL; raises StoreError."""
    return Store(location, create=create, collector=collector)


def sweep_lock(store: Store) -> AbstractContextManager[None]:
    """One sweep per store, whichever the backend: the flock of ``fleet.store.lock`` beside a SQLite
    store; for a shared PostgreSQL store, which other machines reach too, a session advisory lock
    that the server drops when its holder's connection dies (so kill -9 again leaves nothing to
    clean up)."""
    if store.kind == "sqlite":
        return store_lock(Path(store.location))
    return store.advisory_lock("sweep")
