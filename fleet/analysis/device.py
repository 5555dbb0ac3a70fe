"""Analyse one device: its processes, MemAvailable with a forecast, slab caches, reboots and
firmware changes."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fleet import text
from fleet.analysis.busy import busy_sweeps
from fleet.analysis.history import first_of, samples_of
from fleet.analysis.model import DeviceAssessment, Evidence, Finding
from fleet.analysis.process import KiB, MiB, analyse_lineage, over, short_window, trend_evidence
from fleet.analysis.score import combine, finding_score
from fleet.analysis.series import Boundaries, boundaries, instances, lineages
from fleet.analysis.stats import Segment, Trend, detect_decline, detect_rise
from fleet.metrics.model import DeviceMetrics, Past

MEM_AVAILABLE_MIN = (4 * MiB, 0.03)  # page cache alone moves MemAvailable by a few MiB
SLAB_MIN = (512 * KiB, 0.10)
MAX_SLAB_FINDINGS = 3
# Dentry/inode caches and page-cache metadata grow whenever files are read (reading /proc for the
# capture itself fills proc_inode_cache) and the kernel reclaims them under memory pressure: such
# growth is worth a note, not an alarm. sock_inode_cache is excluded: it tracks open sockets.
RECLAIMABLE_SLABS = re.compile(r"^(dentry|buffer_head|radix_tree_node|(?!sock_)\w*inode_cache)$")
TOP_PROCESSES = 3  # a device scores from its worst few processes, not from the sum of all
SAID_CHANGES = 3  # firmware changes a firmware_change finding names


def _run_segments(
    samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int], values: Sequence[float | None]
) -> list[Segment]:
    """Split a device series at reboots, dropping unknown values."""
    out: list[Segment] = []
    cur_run = -1
    ts: list[float] = []
    ys: list[float] = []
    for (t, _), run, v in zip(samples, runs, values, strict=True):
        if run != cur_run:
            if ts:
                out.append((ts, ys))
            ts, ys, cur_run = [], [], run
        if v is not None:
            ts.append(t)
            ys.append(v)
    if ts:
        out.append((ts, ys))
    return out


def forecast(trend: Trend) -> tuple[float, float | None, float, float | None]:
    """Seconds until a declining series reaches 0: (estimate, uncertainty, earliest, latest).

    The uncertainty is the larger distance from the estimate to the times the slope's 95 %
    interval gives; None when the gentle end of that interval is not declining (unbounded).
    """
    level = max(0.0, trend.level)
    eta = level / -trend.slope
    earliest = level / -trend.slope_lo
    latest = level / -trend.slope_hi if trend.slope_hi < 0 else None
    spread = None if latest is None else max(eta - earliest, latest - eta)
    return eta, spread, earliest, latest


def _mem_available_finding(
    name: str, samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int], busy: frozenset[float]
) -> tuple[Finding | None, float | None, float | None]:
    segs = _run_segments(samples, runs, [dm.mem_available for _, dm in samples])
    trend = detect_decline(segs, *MEM_AVAILABLE_MIN, busy=busy)
    if trend is None:
        return None, None, None
    eta, spread, earliest, latest = forecast(trend)
    estimated = any(dm.mem_available_estimated for _, dm in samples)
    what = "MemAvailable (estimated as MemFree+Buffers+Cached: old kernel)" if estimated else "MemAvailable"
    plus_minus = (
        f" (± {text.duration(spread)})" if spread is not None else " (or much later: the rate is uncertain)"
    )
    summary = (
        f"{name}: {what} fell from {text.size(trend.first)} to {text.size(trend.last)} in "
        f"{text.duration(trend.window_s)}{over(trend)} ({text.rate(trend.per_hour, 'bytes')}); "
        f"at this rate it reaches 0 in about {text.duration(eta)}{plus_minus}{short_window(eta, trend)}."
    )
    ev = trend_evidence(trend, "mem_available")
    ev.update(
        exhausted_in_s=round(eta),
        uncertainty_s=None if spread is None else round(spread),
        exhausted_earliest_s=round(earliest),
        exhausted_latest_s=None if latest is None else round(latest),
        estimated="yes" if estimated else "no",
        short_window="yes" if short_window(eta, trend) else "no",
    )
    ratio = -trend.growth / trend.threshold
    severity = trend.severity
    if severity == "medium" and (spread is None or spread > eta):
        severity = "low"  # a forecast less certain than itself: a decline to watch, not yet a verdict
    f = Finding("mem_available_decline", severity, summary, ev, finding_score(severity, trend.tau, ratio))
    return f, eta, spread


def _slab_findings(
    name: str, samples: Sequence[tuple[float, DeviceMetrics]], runs: Sequence[int], busy: frozenset[float]
) -> list[Finding]:
    caches: set[str] = set()
    for _, dm in samples:
        caches.update(dm.slab)
    out: list[Finding] = []
    for cache in sorted(caches):
        segs = _run_segments(samples, runs, [dm.slab.get(cache) for _, dm in samples])
        trend = detect_rise(segs, *SLAB_MIN, busy=busy)
        if trend is None:
            continue
        grew = (
            f"{name}: kernel slab cache {cache} grew from {text.size(trend.first)} to "
            f"{text.size(trend.last)} in {text.duration(trend.window_s)}{over(trend)} "
            f"({text.rate(trend.per_hour, 'bytes')})"
        )
        severity = trend.severity
        if RECLAIMABLE_SLABS.match(cache):
            severity = "info" if severity in ("low", "info") else "low"
            summary = f"{grew}; reclaimable file-system cache that the kernel frees under memory pressure."
        else:
            summary = f"{grew}; a kernel object leaks, see /sys/kernel/slab/{cache}/alloc_calls."
        ev = trend_evidence(trend, "slab")
        ev["cache"] = cache
        ev["reclaimable"] = "yes" if RECLAIMABLE_SLABS.match(cache) else "no"
        score = finding_score(severity, trend.tau, trend.growth / trend.threshold)
        out.append(Finding("slab_growth", severity, summary, ev, score))
    out.sort(key=lambda f: -f.score)
    return out[:MAX_SLAB_FINDINGS]


def _reboot_finding(
    name: str, samples: Sequence[tuple[float, DeviceMetrics]], reboots: int
) -> Finding | None:
    if reboots == 0:
        return None
    window = samples[-1][0] - (first_of(samples) or samples[0][0])
    by = "new boot_id" if all(dm.boot_id for _, dm in samples) else "uptime went back"
    sev = "info"  # context for the trends, not leak evidence
    summary = (
        f"{name} rebooted {text.plural(reboots, 'time')} in {text.duration(window)} ({by}); trends were "
        f"analysed per boot, not read as memory recovering."
    )
    ev: Evidence = {
        "reboots": reboots,
        "detected_by": by,
        "samples": samples_of(samples),
        "window_s": round(window, 1),
    }
    return Finding("reboot", sev, summary, ev, finding_score(sev, 1.0, float(reboots)))


def _firmware_finding(name: str, found: Boundaries) -> Finding | None:
    """ "firmware 2.3.0 -> 2.3.1 on 2026-12-01": each change, dated by its first sample (UTC)."""
    changes = found.firmware_changes
    if not changes:
        return None
    latest = changes[-SAID_CHANGES:]
    said = ", ".join(f"{old} -> {new} on {(text.iso(t) or '')[:10]}" for t, old, new in latest)
    if len(changes) > SAID_CHANGES:  # the latest are said; a device flashed nightly stays one sentence
        said = f"changed {len(changes)} times, latest {said}"
    summary = (
        f"{name}: firmware {said}; each firmware is a new baseline, its trends never joined to the "
        f"previous one's."
    )
    sev = "info"
    ev: Evidence = {
        "changes": len(changes),
        "from": changes[0][1],
        "to": changes[-1][2],
        "changed_at": text.iso(changes[-1][0]),
    }
    return Finding("firmware_change", sev, summary, ev, finding_score(sev, 1.0, float(len(changes))))


def _firmware_history(samples: Sequence[tuple[float, DeviceMetrics]]) -> tuple[tuple[float, str], ...]:
    """(first sample, version) of each firmware the device ran in the window, oldest first."""
    out: list[tuple[float, str]] = []
    for t, dm in samples:
        if dm.firmware is not None and (not out or out[-1][1] != dm.firmware):
            out.append((t, dm.firmware))
    return tuple(out)


def analyse_device(
    name: str, samples: Sequence[tuple[float, DeviceMetrics]], past: Past | None = None
) -> DeviceAssessment:
    """Rank one device's processes and find device-level trends over a time-ordered window.

    ``samples`` are ``(captured_at_unix_seconds, DeviceMetrics)``; they are sorted by time here
    in case the store hands them over otherwise. They may be a condensed history
    (``fleet.analysis.history``): the counts and the first sample are those of the samples behind it.
    ``past``: the processes of its condensed points, read column by column
    (``Store.analysed_history``); the same findings as with a record in every point.
    """
    ordered = sorted(samples, key=lambda s: s[0])
    found = boundaries(ordered)
    runs = found.runs
    busy = busy_sweeps(ordered)
    procs = [analyse_lineage(lin, busy) for lin in lineages(instances(ordered, runs, past))]
    procs.sort(key=lambda p: (-p.score, p.name, p.pid))

    findings: list[Finding] = []
    mem, eta, spread = _mem_available_finding(name, ordered, runs, busy)
    if mem:
        findings.append(mem)
    findings.extend(_slab_findings(name, ordered, runs, busy))
    reboot = _reboot_finding(name, ordered, found.reboots)
    if reboot:
        findings.append(reboot)
    firmware = _firmware_finding(name, found)
    if firmware:
        findings.append(firmware)
    findings.sort(key=lambda f: -f.score)

    scores = [p.score for p in procs[:TOP_PROCESSES]] + [f.score for f in findings]
    mem_series = tuple((t, dm.mem_available) for t, dm in ordered if dm.mem_available is not None)
    return DeviceAssessment(
        name=name,
        score=combine(scores),
        memory_exhausted_in_s=eta,
        forecast_uncertainty_s=spread,
        findings=tuple(findings),
        processes=tuple(procs),
        samples=samples_of(ordered),
        first_sample=first_of(ordered),
        last_sample=ordered[-1][0] if ordered else None,
        boots=found.reboots + 1 if runs else 0,
        mem_available=mem_series,
        firmware_history=_firmware_history(ordered),
    )
