"""The one error every /proc parser raises on bad input."""

from __future__ import annotations

from fleet.errors import FleetError


class ParseError(FleetError, ValueError):
    """A /proc file could not be parsed; names the file kind and (when known) the 1-based line.

    ``str(err)`` reads like ``maps: line 3: bad address range '7f-'`` so that a capture's
    problem list can be prefixed with the pid and stay readable.
    """

    def __init__(self, kind: str, reason: str, line: int | None = None) -> None:
        self.kind = kind
        self.reason = reason
        self.line = line
        where = f"{kind}: line {line}" if line is not None else kind
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str, int | None]]:
        # Keeps the error picklable (multiprocessing, pytest-xdist) despite the custom __init__.
        return (ParseError, (self.kind, self.reason, self.line))
