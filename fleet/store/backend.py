"""What the store asks of a database: one connection and its dialect (SQLite and PostgreSQL both fit)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses (sqlite3 and psycopg both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class Backend(Protocol):
    """One database connection and its dialect: everything that differs between SQLite and PostgreSQL."""

    kind: str

    @property
    def location(self) -> Path | str:
        """The directory, or the URL without its password."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def ddl(self, sql: str) -> str: ...

    def lock_schema(self) -> None: ...

    def row_lock(self, mode: str) -> str: ...

    def after_prune(self) -> None: ...

    def size_bytes(self) -> int: ...

    def advisory_lock(self, name: str) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...
