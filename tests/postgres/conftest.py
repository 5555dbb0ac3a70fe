"""PostgreSQL fixtures for this directory (see server.py); tests/test_store.py imports them too."""

from tests.postgres.server import pg_server, pg_url

__all__ = ["pg_server", "pg_url"]
