"""``fleet rank``: the fleet view in the JSON shape of interface.md, and as a text table."""

from __future__ import annotations

from typing import Any

from fleet.analysis.model import SEVERITY_ORDER
from fleet.ssh.outcomes import OK
from fleet.text import duration, iso, visible
from fleet.view.fleet import DeviceView, FleetView


def _device_entry(view: DeviceView) -> dict[str, Any]:
    row, a = view.row, view.assessment
    entry: dict[str, Any] = {
        "name": row.name,
        "host": row.host,
        "groups": list(row.groups),
        "tags": list(row.tags),
        "status": row.status or "unknown",
        "error": row.error,
        "samples": row.samples,
        "first_sample": iso(row.first_sample),
        "last_sample": iso(row.last_sample),
        "last_attempt": iso(row.last_attempt),
        "flags": list(row.flags),  # legacy_algorithms, algorithm_overrides, host_key_checking_off
        "collector": row.collector,  # which collector made that attempt (many sites, one store)
        "analysis_error": view.analysis_error,  # why this device was not analysed (the others were)
        "firmware": view.firmware,  # device text: escape it wherever it is shown
        "score": 0.0,
        "memory_exhausted_in_s": None,
        "forecast_uncertainty_s": None,
        "findings": [],
        "processes": [],
    }
    if a is not None:
        doc = a.to_json()
        for key in ("score", "memory_exhausted_in_s", "forecast_uncertainty_s", "findings", "processes"):
            entry[key] = doc[key]
    return entry


def rank_json(view: FleetView) -> dict[str, Any]:
    """Every device, highest leak suspicion first (interface.md)."""
    return {
        "generated_at": iso(view.generated_at),
        "devices": [_device_entry(d) for d in view.devices],
        "fleet_findings": [f.to_json() for f in view.fleet_findings],
        "firmware_regressions": [
            {"firmware": r.version, "predecessor": r.predecessor, "summary": r.summary}
            for r in view.firmware_regressions
        ],
    }


def top_finding(d: dict[str, Any]) -> str:
    """The one line that says most about a device entry of :func:`rank_json`."""
    if d["analysis_error"]:
        return f"analysis error: {d['analysis_error']}"
    if d["status"] not in (OK, "unknown") and d["error"]:
        return str(d["error"])
    candidates = [*d["findings"], *(f for p in d["processes"][:1] for f in p["findings"])]
    candidates.sort(key=lambda f: -SEVERITY_ORDER.get(f["severity"], -1))  # most severe first
    return str(candidates[0]["summary"]) if candidates else ""


def evidence_text(evidence: dict[str, Any]) -> list[tuple[str, str]]:
    """Finding evidence as (key, readable value): floats to 3 significant digits, unknowns dropped."""
    out = []
    for key, value in evidence.items():
        if value is None:
            continue
        if isinstance(value, float):
            text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        else:
            text = str(value)
        out.append((str(key), text))
    return out


def rank_text(doc: dict[str, Any]) -> str:
    """A readable ranked table for a terminal."""
    header = ("#", "device", "score", "status", "samples", "memory out in", "top finding / error")
    rows = [
        (
            str(i),
            d["name"],
            f"{d['score']:.2f}",
            d["status"],
            str(d["samples"]),
            duration(d["memory_exhausted_in_s"], fixed=True),
            top_finding(d),
        )
        for i, d in enumerate(doc["devices"], 1)
    ]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for f in doc["fleet_findings"]:
        lines.append(f"fleet: {f['summary']}")
    for r in doc.get("firmware_regressions", ()):
        lines.append(f"fleet: {r['summary']}")
    return "\n".join(visible(line) for line in lines)  # names and summaries come from devices


def device_text(d: dict[str, Any]) -> str:
    """One device entry of :func:`rank_json` in full for a terminal (``fleet show``): every finding
    with its evidence, device-level first, then each process that has findings, most suspect first."""
    when = f"{d['first_sample']} .. {d['last_sample']}" if d["first_sample"] else "no sample"
    host = f" ({d['host']})" if d["host"] else ""  # an imported log has no address
    lines = [
        f"{d['name']}{host}  score {d['score']:.2f}  status {d['status']}  {d['samples']} samples  {when}",
    ]
    if d["error"]:
        lines.append(f"  last error: {d['error']}")
    if d["analysis_error"]:
        lines.append(f"  analysis error: {d['analysis_error']} (its samples are kept, not analysed)")
    if d["groups"] or d["tags"]:
        lines.append(f"  groups: {', '.join(d['groups']) or '-'}  tags: {', '.join(d['tags']) or '-'}")
    if d.get("firmware") is not None:  # changes are its firmware_change finding, below
        lines.append(f"  firmware: {d['firmware']}")
    if d["memory_exhausted_in_s"] is not None:
        lines.append(f"  memory runs out in ~{duration(d['memory_exhausted_in_s'], fixed=True)}")

    def findings(items: list[dict[str, Any]], indent: str) -> None:
        for f in items:
            lines.append(f"{indent}{f['severity']:<7}{f['kind']}: {f['summary']}")
            evidence = "  ".join(f"{k} {v}" for k, v in evidence_text(f["evidence"]))
            if evidence:
                lines.append(f"{indent}       {evidence}")

    if d["findings"]:
        lines.append("device:")
        findings(d["findings"], "  ")
    suspects = [p for p in d["processes"] if p["findings"]]
    for p in suspects:
        command = p["cmdline"] or p["exe"] or ""
        lines.append(f"{p['name']} (pid {p['pid']})  score {p['score']:.2f}  {command}".rstrip())
        findings(p["findings"], "  ")
    quiet = len(d["processes"]) - len(suspects)
    if d["samples"] and not d["findings"] and not suspects and not d["analysis_error"]:
        lines.append("no finding: nothing grows in this window")
    if quiet:
        lines.append(f"{quiet} more processes without a finding")
    return "\n".join(visible(line) for line in lines)  # names, paths and summaries come from devices
