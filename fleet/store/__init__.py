"""The store: raw captures first, then parsed metrics; SQLite or PostgreSQL; locks, ingest and import."""
