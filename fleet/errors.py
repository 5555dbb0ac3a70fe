"""fleet's own errors: one root, each class carrying the exit code the CLI gives it.

The CLI catches :class:`FleetError` once and exits with ``exit_code`` (README, "Exit codes");
a device's failure during a run is data (an outcome), never an exit.
"""

from __future__ import annotations


class FleetError(Exception):
    """Root of every error fleet raises on purpose: the run itself failed (exit 1)."""

    exit_code = 1


class UsageError(FleetError):
    """Bad inventory, config file or arguments: the user fixes the input (exit 2)."""

    exit_code = 2


class StoreError(FleetError):
    """The store cannot be opened, is not a fleet store, or is damaged."""


class Locked(FleetError):
    """Another sweep holds the store (exit 4)."""

    exit_code = 4


class MailError(FleetError):
    """The email could not be sent (the text says why, never the password); the report is kept (exit 5)."""

    exit_code = 5
