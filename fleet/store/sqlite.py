"""The SQLite backend: the embedded default, one private database file in WAL mode per store directory."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from fleet.errors import StoreError
from fleet.store.location import DB_NAME

# A store is its operator's alone, whatever the umask: raw captures keep device command lines,
# which on many cameras carry credentials. SQLite gives -wal and -shm the database file's mode.
PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600

log = logging.getLogger("fleet.store")


class SqliteBackend:
    """The embedded default: one file in WAL mode; concurrent writers queue on SQLite's lock."""

    kind = "sqlite"

    def __init__(self, directory: Path, *, create: bool) -> None:
        # check_same_thread=False: the collector hands the store to its single writer thread.
        self.location = directory
        if create:
            _create_private(directory)
        elif not (directory / DB_NAME).exists():
            raise StoreError(f"{directory}: no fleet store here (run `fleet collect` first)")
        _warn_if_open(directory)
        try:
            self.db = sqlite3.connect(
                directory / DB_NAME, timeout=30, isolation_level=None, check_same_thread=False
            )
            # Must precede the first table: lets prune hand freed pages back to the filesystem.
            self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{directory / DB_NAME}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE: take the write lock up front, so two writers queue instead of deadlocking.
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def ddl(self, sql: str) -> str:
        return sql

    def lock_schema(self) -> None:
        """BEGIN IMMEDIATE already serialises migrations."""

    def row_lock(self, mode: str) -> str:
        """No row locks in SQLite: a transaction's BEGIN IMMEDIATE holds the whole store's write lock."""
        return ""

    def after_prune(self) -> None:
        # executescript steps the pragma to completion; execute() would free a single page.
        self.db.executescript("PRAGMA incremental_vacuum;")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.location.glob(DB_NAME + "*") if p.is_file())

    def advisory_lock(self, name: str) -> AbstractContextManager[None]:
        raise StoreError(f"{self.location}: advisory locks need a PostgreSQL store (use fleet.lock)")

    def close(self) -> None:
        self.db.close()


def _create_private(directory: Path) -> None:
    """The store directory (0700) and its database file (0600), exactly, if they do not exist yet;
    an existing one keeps its modes (``_warn_if_open`` says so)."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            directory.mkdir(PRIVATE_DIR)
            os.chmod(directory, PRIVATE_DIR)  # mkdir's mode passes through the umask
        except FileExistsError:
            pass
        fd = os.open(directory / DB_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"{directory}: cannot create the store: {exc.strerror}") from None
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def _warn_if_open(directory: Path) -> None:
    """One warning line when a database file grants group or others any access (a store made
    before fleet set modes, or by hand): changing an operator's modes is theirs to decide."""
    open_files = []
    for path in sorted(directory.glob(DB_NAME + "*")):
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue  # a -wal or -shm that another process's close just removed
        if mode & 0o077:
            open_files.append(f"{path.name} {mode:04o}")
    if open_files:
        log.warning(
            "%s: the store is open to group or others (%s), and raw captures keep device command"
            " lines; chmod -R go= %s",
            directory,
            ", ".join(open_files),
            directory,
            extra={"event": "store_permissions"},
        )
