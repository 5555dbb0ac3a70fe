"""A device's firmware identity from the text of its firmware file (``firmware_files``): pure.

os-release style files (``KEY=value`` lines, values quoted as in sh) give their ``VERSION_ID``,
else their ``VERSION``; any other file gives its first non-empty line. Trimmed and cut to
``MAX_FIRMWARE`` characters; still device text, escaped wherever it is shown.
"""

from __future__ import annotations

import re

from fleet.metrics.limits import MAX_FIRMWARE

# Only the head of the file is read: an os-release is ~10 lines, a version file one; a path the
# inventory names may be anything, and the capture may hold up to its cap of it.
HEAD_CHARS = 64 * 1024
_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_ESCAPED = re.compile(r"\\([\\\"$`])")  # the escapes os-release(5) allows inside double quotes


def _unquote(value: str) -> str:
    """A shell-style value: ``"2.3.1"``, ``'2.3.1'`` or ``2.3.1`` -> ``2.3.1``."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return _ESCAPED.sub(r"\1", value[1:-1])
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    return value


def firmware_identity(text: str | None) -> str | None:
    """The firmware version the file names, or None when it names none (empty, blank)."""
    if text is None:
        return None
    lines = text[:HEAD_CHARS].replace("\0", "\n").replace("\r", "\n").split("\n")
    values: dict[str, str] = {}
    for line in lines:
        m = _ASSIGNMENT.fullmatch(line.strip())
        if m and m.group(1) not in values:
            values[m.group(1)] = _unquote(m.group(2))
    for key in ("VERSION_ID", "VERSION"):
        if values.get(key, "").strip():
            return _cut(values[key])
    first = next((line for line in lines if line.strip()), None)
    return _cut(first) if first is not None else None


def _cut(value: str) -> str | None:
    value = value.strip()[:MAX_FIRMWARE].strip()
    return value or None
