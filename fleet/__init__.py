"""fleet: hunt memory leaks across fleets of embedded Linux devices."""

__version__ = "0.1.0"
