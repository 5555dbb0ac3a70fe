"""Numbers as a firmware engineer reads them: 8 MiB, 4 h, +3.2 MiB/h."""

from __future__ import annotations


def size(n: float) -> str:
    """Bytes in binary units with at most one decimal: ``8 MiB``, ``1.5 GiB``, ``640 KiB``."""
    sign = "-" if n < 0 else ""
    v = abs(float(n))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if v < 1024 or unit == "TiB":
            text = f"{v:.1f}".rstrip("0").rstrip(".") if v < 10 and unit != "B" else f"{v:.0f}"
            return f"{sign}{text} {unit}"
        v /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    """A rough duration: ``45 s``, ``12 min``, ``4 h``, ``3.5 d``."""
    s = abs(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        h = s / 3600
        return f"{h:.1f} h".replace(".0 h", " h") if h < 10 else f"{h:.0f} h"
    d = s / 86400
    return f"{d:.1f} d".replace(".0 d", " d") if d < 10 else f"{d:.0f} d"


def count(n: float) -> str:
    """A count that came from a slope: whole numbers when large, one decimal when small."""
    return f"{n:.0f}" if abs(n) >= 10 or float(n).is_integer() else f"{n:.1f}"


def rate(per_hour: float, unit: str = "") -> str:
    """A signed hourly rate, ``+3.2 MiB/h`` when ``unit`` is "bytes", else ``+16/h``."""
    sign = "+" if per_hour >= 0 else "-"
    body = size(abs(per_hour)) if unit == "bytes" else count(abs(per_hour))
    return f"{sign}{body}/h"


def plural(n: int, word: str) -> str:
    """``1 restart``, ``3 restarts``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
