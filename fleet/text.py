"""Text helpers every layer shares: device text made safe to show, device bytes decoded, numbers
as a firmware engineer reads them (``8 MiB``, ``4 h``, ``+3.2 MiB/h``) and ISO 8601 times read.
Pure: no fleet imports."""

from __future__ import annotations

import datetime as dt


def visible(text: str, keep: str = "") -> str:
    """Control characters as ``\\xNN`` (others ``\\uNNNN``; bytes kept as surrogates by a decoder
    as ``\\xNN``): device strings shown on a terminal, in a log or a report must not be able to move
    the cursor, clear the screen, fake a line or reorder text. ``keep``: characters left as they are
    (the report keeps newlines and tabs, which HTML renders harmlessly)."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        if (c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF) or c in keep:
            out.append(c)
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # surrogateescape of byte 0x80-0xff
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)


def decode(data: bytes) -> str:
    """Device bytes to text; invalid UTF-8 stays visible as escapes instead of failing."""
    return data.decode("utf-8", errors="backslashreplace")


def size(n: float, digits: int = 1, *, precise: bool = False) -> str:
    """Bytes in binary units, whole bytes and at most ``digits`` decimals above (trailing zeros
    dropped): ``640 B``, ``1.5 KiB``, ``8 MiB``. From 10 of a unit on, prose rounds to whole ones
    (``16 MiB``); ``precise`` keeps the decimals there too (a maps diff, a table, a chart axis)."""
    sign = "-" if n < 0 else ""
    v = abs(float(n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            break
        v /= 1024
    if unit == "B" or (v >= 10 and not precise):
        text = f"{v:.0f}"
    else:
        text = f"{v:.{digits}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
    return f"{sign}{text} {unit}"


def duration(seconds: float | None, *, fixed: bool = False) -> str:
    """A duration in the largest unit it holds two of: ``45 s``, ``12 min``, ``4.5 h``, ``3.5 d``
    (one decimal below 10 hours or days, none when it is 0); ``-`` when unknown. ``fixed`` (the
    forecast columns and headlines): whole hours, and days always with one decimal (``3.0 d``)."""
    if seconds is None:
        return "-"
    value, unit = abs(seconds), "s"
    for name, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if value >= 2 * length:
            value, unit = value / length, name
            break
    if fixed:
        text = f"{value:.1f}" if unit == "d" else f"{value:.0f}"
    elif unit in ("h", "d") and value < 10:
        text = f"{value:.1f}".removesuffix(".0")
    else:
        text = f"{value:.0f}"
    return f"{text} {unit}"


def count(n: float) -> str:
    """A count that came from a slope: whole numbers when large, one decimal when small."""
    return f"{n:.0f}" if abs(n) >= 10 or float(n).is_integer() else f"{n:.1f}"


def rate(per_hour: float, unit: str = "") -> str:
    """A signed hourly rate, ``+3.2 MiB/h`` when ``unit`` is "bytes", else ``+16/h``; a count
    slower than one every ten hours per day instead (``+0.5/day``: one thread every two days)."""
    sign = "+" if per_hour >= 0 else "-"
    if unit != "bytes" and 0 < abs(per_hour) < 0.1:
        return f"{sign}{count(abs(per_hour) * 24)}/day"
    body = size(abs(per_hour)) if unit == "bytes" else count(abs(per_hour))
    return f"{sign}{body}/h"


def plural(n: int, word: str) -> str:
    """``1 restart``, ``3 restarts``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def iso(ts: float | None) -> str | None:
    """Unix seconds as ``2026-11-26T03:00:00Z`` (the timestamp style of interface.md)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """An ISO 8601 time as Unix seconds; UTC unless it says otherwise (``Z``, ``z``, ``+01:00``).
    Raises ValueError."""
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()
