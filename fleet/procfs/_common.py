"""Small helpers shared by the parsers: line iteration, integers and ``kB`` values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from fleet.procfs.errors import ParseError

KIB = 1024

# Keep error messages short: a mutated 100 kB line must not end up in a problem list whole.
_SHOW = 60


def show(text: str) -> str:
    """A quoted, length-limited excerpt of ``text`` for error messages."""
    if len(text) > _SHOW:
        text = text[:_SHOW] + "..."
    return repr(text)


def lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` for non-blank lines; ``\\r`` from a pasted dump is dropped."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


# A 64-bit counter has at most 20 digits. Longer numbers come only from a hostile or broken device,
# and int() raises ValueError (not a ParseError) from 4,300 digits on.
MAX_DIGITS = 20


_T = TypeVar("_T")


def build(cls: type[_T], fields: dict[str, Any]) -> _T:
    """A frozen dataclass instance from all its fields at once, as pickle builds one: the generated
    __init__ makes one object.__setattr__ call per field, a third of a small file's parse. The
    caller passes every field (no defaults, no __post_init__ run)."""
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    return obj


def to_int(kind: str, value: str, line: int | None, what: str) -> int:
    """Parse a decimal integer (sign allowed) or raise :class:`ParseError`."""
    value = value.strip()
    # int() accepts "1_000", "٣" and surrounding spaces; /proc prints plain ASCII digits only.
    digits = value[1:] if value[:1] in "+-" else value
    if not digits.isascii() or not digits.isdigit() or len(digits) > MAX_DIGITS:
        raise ParseError(kind, f"bad {what} {show(value)}", line)
    return int(value)


def to_float(kind: str, value: str, line: int | None, what: str) -> float:
    """Parse a plain decimal float (no inf/nan, no exponent) or raise :class:`ParseError`."""
    whole, _, frac = value.partition(".")
    if whole[:1] == "-":
        whole = whole[1:]
    if not whole or not (whole + frac).isascii() or not (whole + frac).isdigit():
        raise ParseError(kind, f"bad {what} {show(value)}", line)
    return float(value)


def kb_value(kind: str, key: str, value: str, line: int) -> int | None:
    """``'  1234 kB'`` -> bytes; a bare number -> ``None`` (the caller decides); other units fail."""
    parts = value.split()
    if len(parts) == 2:
        if parts[1] != "kB":
            raise ParseError(kind, f"{key}: unit {show(parts[1])} is not kB", line)
        return to_int(kind, parts[0], line, f"{key} value") * KIB
    if len(parts) == 1:
        return None
    raise ParseError(kind, f"{key}: bad value {show(value)}", line)
