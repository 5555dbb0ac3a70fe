"""Log lines on stderr: plain for people, one JSON object a line for journald and jq."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from typing import Any

from fleet.text import visible

log = logging.getLogger("fleet")
_json_lines = False  # as setup_logging last set it: a command's one-line error follows it (failure_line)
_command: str | None = None  # the command running, for its ``COMMAND_failed`` event


class _PlainFormatter(logging.Formatter):
    """``fleet: message``: journald and cron add their own timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        level = "warning: " if record.levelno == logging.WARNING else ""
        return f"fleet: {level}{visible(record.getMessage())}"  # messages quote device text


class _JsonFormatter(logging.Formatter):
    """One JSON object per line (``--log-json``, ``FLEET_LOG=json``), for log shippers and jq."""

    def format(self, record: logging.LogRecord) -> str:
        return json_line(
            record.levelname.lower(),
            getattr(record, "event", None),
            record.getMessage(),
            getattr(record, "fields", None) or {},
            record.created,
        )


def json_line(level: str, event: str | None, message: str, fields: dict[str, Any], at: float) -> str:
    stamp = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc = {"ts": stamp, "level": level, "event": event, "message": message, **fields}
    return _printable_json(json.dumps(doc, default=str, ensure_ascii=False))


def _printable_json(text: str) -> str:
    """JSON text with every character a terminal could act on escaped: json.dumps escapes only
    C0 controls, so C1 (U+0080-U+009F: CSI, OSC, ...), DEL and the like from a device get ``\\uNNNN``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _json_escape(c) for c in text)


def _json_escape(c: str) -> str:
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class _Stderr:
    """Whatever sys.stderr is when a line is written: the live progress display (rich) takes it
    over while it runs, so log lines print above the display instead of through it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def setup_logging(json_lines: bool, verbose: bool) -> None:
    """Log lines go to stderr (journald keeps them); the one summary line goes to stdout.

    Python warnings (a dependency's deprecation, say) become log lines too, so ``--log-json``
    output stays one JSON object per line.
    """
    global _json_lines
    _json_lines = json_lines
    handler = logging.StreamHandler(_Stderr())
    handler.setFormatter(_JsonFormatter() if json_lines else _PlainFormatter())
    logging.captureWarnings(True)
    for logger in (log, logging.getLogger("py.warnings")):
        logger.handlers[:] = [handler]
        logger.propagate = False
    log.setLevel(logging.INFO if verbose else logging.WARNING)


def want_json(flag: bool) -> bool:
    return flag or os.environ.get("FLEET_LOG", "").strip().lower() == "json"


def name_command(name: str) -> None:
    global _command
    _command = name


def failure_line(message: str, exit_code: int) -> str:
    """A command's one-line error: ``fleet: message``, or with JSON logs a JSON object with the
    event ``COMMAND_failed`` (``collect_failed``, as sweep's ``sweep_failed``) and its ``exit``."""
    if not _json_lines:
        return f"fleet: {visible(message)}"  # messages quote file names and device text
    event = f"{_command}_failed" if _command else "failed"
    return json_line("error", event, message, {"exit": int(exit_code)}, time.time())
