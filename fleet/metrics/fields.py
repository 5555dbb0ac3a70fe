"""Parsed /proc records to metrics fields: the one mapping that captures (``from_capture``) and
method logs (``from_methodlog``) share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fleet.procfs import MapsClassification, Meminfo, ParseError

T = TypeVar("T")


def try_parse(parse: Callable[[str], T], text: str | None, problems: list[str], prefix: str) -> T | None:
    """Parse ``text`` when present; on ParseError record "<prefix><error>" and return None."""
    if text is None:
        return None
    try:
        return parse(text)
    except ParseError as exc:
        problems.append(f"{prefix}{exc}")
        return None


def memory_fields(meminfo: Meminfo | None) -> dict[str, Any]:
    """The DeviceMetrics fields that come from /proc/meminfo (none: they stay unknown)."""
    if meminfo is None:
        return {}
    return {
        "mem_total": meminfo.mem_total,
        "mem_free": meminfo.mem_free,
        "mem_available": meminfo.mem_available,
        "mem_available_estimated": meminfo.mem_available_estimated,
    }


def maps_fields(cls: MapsClassification | None) -> dict[str, Any]:
    """The ProcessMetrics fields that come from maps (``MAPS_FIELDS``)."""
    if cls is None:
        return {}
    return {
        "exe": cls.exe,
        "stack_count": cls.total("thread_stack").count,
        "stack_bytes": cls.total("thread_stack").bytes,
        "stack_size": cls.stack_size,
        # SYSV attachments only, as the shm_leak finding means; POSIX shm/memfd/ashmem are in class_*.
        "shm_count": cls.sysv_count,
        "shm_bytes": cls.sysv_bytes,
        "class_counts": {k: v.count for k, v in cls.totals.items()},
        "class_bytes": {k: v.bytes for k, v in cls.totals.items()},
        "address_bits": cls.address_bits,
    }
