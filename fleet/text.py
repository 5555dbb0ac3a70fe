"""Text helpers every layer shares: device text made safe to show, and device bytes decoded."""

from __future__ import annotations


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
