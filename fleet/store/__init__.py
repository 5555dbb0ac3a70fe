"""The store: raw captures first, then parsed metrics; SQLite or PostgreSQL; locks, parsing, log import."""
