"""The snapshot store: SQLite in WAL mode, one file per store directory.

Order of writes is the contract: the raw capture (zlib) is committed first, in its own
transaction, then parsed; parsed metrics land in a second transaction. A collector killed between
the two leaves a whole raw sample marked unparsed, which the next open parses. Nothing captured is
ever lost to a parser bug, and a better parser can re-read every old capture (``reparse``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fleet.metrics import DeviceMetrics, ProcessMetrics

DEFAULT_STORE = "fleet-data"
DB_NAME = "fleet.db"

# Each migration moves the schema from version i to i+1. Never edit a shipped one: append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        host TEXT,
        groups_json TEXT NOT NULL DEFAULT '[]',
        tags_json TEXT NOT NULL DEFAULT '[]',
        status TEXT,
        error TEXT,
        last_attempt REAL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at REAL NOT NULL,
        finished_at REAL,
        inventory TEXT,
        collector TEXT
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        device_id INTEGER NOT NULL REFERENCES devices(id),
        at REAL NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        duration REAL
    );
    CREATE INDEX attempts_device ON attempts(device_id, at);
    CREATE TABLE samples (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        run_id INTEGER REFERENCES runs(id),
        captured_at REAL NOT NULL,
        duration REAL,
        source TEXT NOT NULL DEFAULT 'ssh',
        token TEXT,
        raw BLOB,
        raw_size INTEGER,
        complete INTEGER NOT NULL DEFAULT 1,
        parsed INTEGER NOT NULL DEFAULT 0,
        problems_json TEXT,
        boot_id TEXT,
        uptime REAL,
        mem_available INTEGER,
        metrics BLOB,
        UNIQUE (device_id, captured_at)
    );
    CREATE INDEX samples_unparsed ON samples(parsed) WHERE parsed = 0;
    CREATE TABLE process_samples (
        sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
        pid INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        name TEXT NOT NULL,
        rss INTEGER,
        vm_size INTEGER,
        threads INTEGER,
        stack_count INTEGER,
        fds INTEGER,
        PRIMARY KEY (sample_id, pid)
    );
    CREATE INDEX process_samples_name ON process_samples(name);
    """,
    # 2: options an imported sample was read with (pid, name), so a re-parse reads it the same way
    "ALTER TABLE samples ADD COLUMN meta_json TEXT",
    # 3: how a device is reached, for the report to flag (legacy_algorithms, host_key_checking_off, ...)
    "ALTER TABLE devices ADD COLUMN flags_json TEXT NOT NULL DEFAULT '[]'",
)


@dataclass(frozen=True)
class DeviceRow:
    """What the store knows about a device, for rank and report."""

    name: str
    host: str | None
    groups: tuple[str, ...]
    tags: tuple[str, ...]
    status: str | None
    error: str | None
    last_attempt: float | None
    samples: int
    first_sample: float | None
    last_sample: float | None
    # How the last collect reached it, worth a warning: "legacy_algorithms" (old key exchange,
    # ciphers or host keys), "algorithm_overrides", "host_key_checking_off" (fleet.transport.FLAG_*).
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RawSample:
    id: int
    device: str
    captured_at: float
    token: str | None
    raw: bytes
    source: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class Pruned:
    raw_dropped: int
    samples_dropped: int


class StoreError(Exception):
    """The store cannot be opened or is not a fleet store."""


def store_dir(explicit: str | os.PathLike[str] | None) -> Path:
    """``--store``, else ``$FLEET_STORE``, else ``./fleet-data``."""
    return Path(explicit or os.environ.get("FLEET_STORE") or DEFAULT_STORE)


def metrics_to_json(m: DeviceMetrics) -> bytes:
    return zlib.compress(json.dumps(asdict(m), separators=(",", ":")).encode(), 6)


def metrics_from_json(blob: bytes) -> DeviceMetrics:
    d: dict[str, Any] = json.loads(zlib.decompress(blob))
    procs = tuple(ProcessMetrics(**p) for p in d.pop("processes"))
    d["problems"] = tuple(d.get("problems", ()))
    return DeviceMetrics(processes=procs, **d)


class Store:
    """One SQLite database; use as a context manager. Used by one thread at a time."""

    def __init__(self, directory: Path, *, create: bool = True) -> None:
        # check_same_thread=False: the collector hands the store to its single writer thread.
        self.directory = directory
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        elif not (directory / DB_NAME).exists():
            raise StoreError(f"{directory}: no fleet store here (run `fleet collect` first)")
        try:
            self.db = sqlite3.connect(
                directory / DB_NAME, timeout=30, isolation_level=None, check_same_thread=False
            )
            # Must precede the first table: lets prune hand freed pages back to the filesystem.
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{directory / DB_NAME}: {exc}") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # --- schema ---------------------------------------------------------------------------------

    def _migrate(self) -> None:
        self.db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.db.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(f"store schema {version} is newer than this fleet ({len(MIGRATIONS)}): upgrade")
        for i in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute("DELETE FROM schema_version")
                self.db.execute("INSERT INTO schema_version VALUES (?)", (i + 1,))

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("SELECT version FROM schema_version").fetchone()[0])

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, *rest: object) -> None:
            self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")

    def transaction(self) -> Store._Tx:
        """All or nothing: a kill inside leaves the database as before."""
        return Store._Tx(self.db)

    # --- writes ---------------------------------------------------------------------------------

    def begin_run(self, inventory: str | None, collector: str | None = None) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (started_at, inventory, collector) VALUES (?, ?, ?)",
            (time.time(), inventory, collector),
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int) -> None:
        self.db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (time.time(), run_id))

    def device_id(
        self,
        name: str,
        host: str | None = None,
        groups: Sequence[str] = (),
        tags: Sequence[str] = (),
    ) -> int:
        """The device's row id, creating or refreshing its row."""
        self.db.execute(
            "INSERT INTO devices (name, host, groups_json, tags_json) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET host = coalesce(excluded.host, host), "
            "groups_json = excluded.groups_json, tags_json = excluded.tags_json",
            (name, host, json.dumps(list(groups)), json.dumps(list(tags))),
        )
        return int(self.db.execute("SELECT id FROM devices WHERE name = ?", (name,)).fetchone()[0])

    def set_device_flags(self, device_id: int, flags: Sequence[str]) -> None:
        """Replace the device's flags (see DeviceRow.flags); written once per collect."""
        self.db.execute(
            "UPDATE devices SET flags_json = ? WHERE id = ?", (json.dumps(list(flags)), device_id)
        )

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
            self.db.execute(
                "INSERT INTO attempts (run_id, device_id, at, status, error, duration) VALUES (?,?,?,?,?,?)",
                (run_id, device_id, at, status, error, duration),
            )
            self.db.execute(
                "UPDATE devices SET status = ?, error = ?, last_attempt = ? WHERE id = ?",
                (status, error, at, device_id),
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

        Idempotent per (device, captured_at): writing the same sample twice (a re-run import)
        keeps the first and returns its id.
        """
        cur = self.db.execute(
            "INSERT OR IGNORE INTO samples (device_id, run_id, captured_at, duration, source, token,"
            " raw, raw_size, complete, meta_json) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                device_id,
                run_id,
                captured_at,
                duration,
                source,
                token,
                zlib.compress(raw, 6),
                len(raw),
                int(complete),
                json.dumps(meta) if meta else None,
            ),
        )
        if cur.rowcount == 0:
            row = self.db.execute(
                "SELECT id FROM samples WHERE device_id = ? AND captured_at = ?", (device_id, captured_at)
            ).fetchone()
            return int(row[0])
        return int(cur.lastrowid or 0)

    def set_metrics(self, sample_id: int, metrics: DeviceMetrics) -> None:
        """Store the parsed form of a sample (replacing an older parse) in one transaction."""
        with self.transaction():
            self.db.execute("DELETE FROM process_samples WHERE sample_id = ?", (sample_id,))
            self.db.executemany(
                "INSERT OR REPLACE INTO process_samples (sample_id, pid, start_time, name, rss, vm_size,"
                " threads, stack_count, fds) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        sample_id,
                        p.pid,
                        p.start_time,
                        p.name,
                        p.rss,
                        p.vm_size,
                        p.threads,
                        p.stack_count,
                        p.fds,
                    )
                    for p in metrics.processes
                ],
            )
            self.db.execute(
                "UPDATE samples SET parsed = 1, problems_json = ?, boot_id = ?, uptime = ?,"
                " mem_available = ?, metrics = ? WHERE id = ?",
                (
                    json.dumps(list(metrics.problems)) if metrics.problems else None,
                    metrics.boot_id,
                    metrics.uptime,
                    metrics.mem_available,
                    metrics_to_json(metrics),
                    sample_id,
                ),
            )

    def mark_unparsable(self, sample_id: int, reason: str) -> None:
        """The capture itself is unreadable; keep it (raw) and say why."""
        self.db.execute(
            "UPDATE samples SET parsed = 2, problems_json = ? WHERE id = ?",
            (json.dumps([reason]), sample_id),
        )

    # --- reads ----------------------------------------------------------------------------------

    def raw_samples(self, *, only_unparsed: bool = False) -> Iterator[RawSample]:
        where = "WHERE s.parsed = 0" if only_unparsed else ""
        rows = self.db.execute(
            "SELECT s.id, d.name, s.captured_at, s.token, s.raw, s.source, s.meta_json FROM samples s "
            f"JOIN devices d ON d.id = s.device_id {where} ORDER BY s.id"
        ).fetchall()
        for sid, name, at, token, raw, source, meta in rows:
            data = zlib.decompress(raw) if raw else b""
            yield RawSample(sid, name, at, token, data, source, json.loads(meta) if meta else {})

    def raw_at(self, device: str, captured_at: float) -> RawSample | None:
        """The stored capture of one device at one time (None when pruned or absent)."""
        row = self.db.execute(
            "SELECT s.id, d.name, s.captured_at, s.token, s.raw, s.source, s.meta_json FROM samples s"
            " JOIN devices d ON d.id = s.device_id WHERE d.name = ? AND s.captured_at = ?",
            (device, captured_at),
        ).fetchone()
        if row is None or row[4] is None:
            return None
        sid, name, at, token, raw, source, meta = row
        return RawSample(sid, name, at, token, zlib.decompress(raw), source, json.loads(meta) if meta else {})

    def devices(self) -> list[DeviceRow]:
        rows = self.db.execute(
            "SELECT d.name, d.host, d.groups_json, d.tags_json, d.status, d.error, d.last_attempt,"
            " count(s.id), min(s.captured_at), max(s.captured_at), d.flags_json"
            " FROM devices d LEFT JOIN samples s ON s.device_id = d.id GROUP BY d.id ORDER BY d.name"
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
                samples=r[7],
                first_sample=r[8],
                last_sample=r[9],
                flags=tuple(json.loads(r[10] or "[]")),
            )
            for r in rows
        ]

    def series(self, device: str) -> list[tuple[float, DeviceMetrics]]:
        """The parsed samples of one device, oldest first: the analysis input."""
        rows = self.db.execute(
            "SELECT s.captured_at, s.metrics FROM samples s JOIN devices d ON d.id = s.device_id"
            " WHERE d.name = ? AND s.parsed = 1 ORDER BY s.captured_at",
            (device,),
        ).fetchall()
        return [(at, metrics_from_json(blob)) for at, blob in rows]

    def prune(self, *, keep_raw_days: float | None, keep_metrics_days: float | None, now: float) -> Pruned:
        """Drop raw captures older than ``keep_raw_days`` (metrics stay), and whole samples older
        than ``keep_metrics_days``; then give the freed pages back. ``None`` keeps forever."""
        raw = metrics = 0
        with self.transaction():
            if keep_metrics_days is not None:
                cutoff = now - keep_metrics_days * 86400
                self.db.execute(
                    "DELETE FROM process_samples WHERE sample_id IN"
                    " (SELECT id FROM samples WHERE captured_at < ?)",
                    (cutoff,),
                )
                metrics = self.db.execute("DELETE FROM samples WHERE captured_at < ?", (cutoff,)).rowcount
                self.db.execute("DELETE FROM attempts WHERE at < ?", (cutoff,))
            if keep_raw_days is not None:
                cutoff = now - keep_raw_days * 86400
                raw = self.db.execute(
                    "UPDATE samples SET raw = NULL WHERE captured_at < ? AND raw IS NOT NULL AND parsed != 0",
                    (cutoff,),
                ).rowcount
        # executescript steps the pragma to completion; execute() would free a single page.
        self.db.executescript("PRAGMA incremental_vacuum;")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Pruned(raw_dropped=raw, samples_dropped=metrics)

    def size_bytes(self) -> int:
        """Bytes on disk of the database and its WAL."""
        return sum(p.stat().st_size for p in self.directory.glob(DB_NAME + "*") if p.is_file())

    def sample_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM samples").fetchone()[0])
