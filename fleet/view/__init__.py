"""Views: the store and the analysis put together for people (fleet view, changes, maps)."""
