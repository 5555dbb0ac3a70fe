"""The exit codes, in one table (README "Exit codes"); fleet.errors classes carry theirs."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """Exit codes (documented in the README)."""

    OK = 0
    ERROR = 1  # the run itself failed (store unusable, internal error)
    USAGE = 2  # bad inventory, bad arguments
    FINDINGS = 3  # --fail-on: a finding of that severity exists
    LOCKED = 4  # another sweep holds the store
    MAIL_FAILED = 5  # the report was written but the email could not be sent
    INTERRUPTED = 130  # Ctrl-C (SIGINT); everything captured so far is stored
