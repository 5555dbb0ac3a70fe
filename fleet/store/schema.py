"""The store's schema: its migrations, and the rows its reads return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet.metrics.model import DeviceMetrics

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
    # 4: which collector wrote each sample, and made each device's latest attempt (many sites)
    "ALTER TABLE samples ADD COLUMN collector TEXT; ALTER TABLE devices ADD COLUMN collector TEXT",
    # 5: the earlier capture of the same device a raw capture is compressed against (fleet.store.deltas)
    "ALTER TABLE samples ADD COLUMN raw_base INTEGER;"
    " CREATE INDEX samples_raw_base ON samples(raw_base) WHERE raw_base IS NOT NULL",
    # 6: a zstd dictionary per device for its metrics (its first parsed sample, never changed)
    "CREATE TABLE dictionaries (id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL UNIQUE"
    " REFERENCES devices(id), data BLOB NOT NULL); ALTER TABLE samples ADD COLUMN metrics_dict INTEGER",
    # 7: when the device's kept shell was found not to answer (fleet.collect: a shell per capture)
    "ALTER TABLE devices ADD COLUMN one_shot_shell REAL",
    # 8: a device's condensed past (fleet.analysis.history): points standing for many samples each,
    # and which samples they hold (rolled: 0 not yet, 1 in a rollup or unparsable, 2 in a rollup
    # but parsed again since)
    "CREATE TABLE rollups (id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),"
    " captured_at REAL NOT NULL, bucket_start REAL NOT NULL, bucket_end REAL NOT NULL,"
    " represents INTEGER NOT NULL, first_at REAL NOT NULL, metrics BLOB NOT NULL, metrics_dict INTEGER);"
    " CREATE INDEX rollups_device ON rollups(device_id, captured_at);"
    " ALTER TABLE samples ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;"
    " CREATE INDEX samples_unrolled ON samples(device_id, captured_at, rolled) WHERE rolled != 1",
    # 9: a device's rollups as one document, column by column (fleet.store.codec.past_to_json: read
    # in under half the time of a row a point); on the way to 10 the store converts each device's
    # rollups (Store._pasts_from_rollups), then drops them
    "CREATE TABLE pasts (device_id INTEGER NOT NULL UNIQUE REFERENCES devices(id),"
    " points INTEGER NOT NULL, oldest_end REAL NOT NULL, past BLOB NOT NULL)",
    "DROP TABLE rollups",
)
PASTS_VERSION = 9  # at this version the rollups are converted into pasts


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
    # ciphers or host keys), "algorithm_overrides", "host_key_checking_off" (fleet.ssh, FLAG_*).
    flags: tuple[str, ...] = ()
    # The collector (``--collector``, default its hostname) that made the latest attempt: with many
    # sites, which one reaches (or fails to reach) this device.
    collector: str | None = None


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
    rollups_dropped: int = 0


@dataclass(frozen=True)
class Rollup:
    """One condensed point of a device's past: its time, the bucket of time it stands for."""

    captured_at: float
    bucket_start: float
    bucket_end: float
    metrics: DeviceMetrics  # its represents and first_at say which samples it holds
