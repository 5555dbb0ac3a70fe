"""``fleet rank``: the store's devices in the JSON shape of interface.md, and its text table."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fleet.store import DeviceRow, Store


def iso(ts: float | None) -> str | None:
    """Unix seconds as an ISO 8601 UTC string (what scripts parse)."""
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _device_entry(row: DeviceRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "host": row.host,
        "groups": list(row.groups),
        "tags": list(row.tags),
        "status": row.status or "unknown",
        "error": row.error,
        "samples": row.samples,
        "first_sample": iso(row.first_sample),
        "last_sample": iso(row.last_sample),
        "score": 0.0,
        "memory_exhausted_in_s": None,
        "findings": [],
        "processes": [],
    }


def rank_json(store: Store, now: float | None = None) -> dict[str, Any]:
    """Every device in the store, highest leak suspicion first."""
    devices = [_device_entry(row) for row in store.devices()]
    devices.sort(key=lambda d: (-d["score"], d["name"]))
    return {
        "generated_at": iso(now if now is not None else dt.datetime.now(dt.UTC).timestamp()),
        "devices": devices,
        "fleet_findings": [],
    }


def rank_text(doc: dict[str, Any]) -> str:
    """A readable ranked table for a terminal."""
    header = ("#", "device", "score", "status", "samples", "last sample", "top finding / error")
    rows = []
    for i, d in enumerate(doc["devices"], 1):
        top = d["findings"][0]["summary"] if d["findings"] else ""
        if not top and d["processes"] and d["processes"][0]["findings"]:
            top = d["processes"][0]["findings"][0]["summary"]
        if d["status"] != "ok" and d["error"]:
            top = d["error"]
        rows.append(
            (
                str(i),
                d["name"],
                f"{d['score']:.2f}",
                d["status"],
                str(d["samples"]),
                d["last_sample"] or "-",
                top,
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for f in doc["fleet_findings"]:
        lines.append(f"fleet: {f['summary']}")
    return "\n".join(lines)
