"""The whole fleet as rank and report see it: store rows + analysis + the evidence worth showing.

Built once per command from the store; ``fleet rank`` prints it, ``fleet report`` renders it. The
extra evidence (slab caches that grew, thread names that kept being created, the maps change of each
suspect process between its first and last sample) is read here so the renderers stay dumb.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleet.analysis import (
    DeviceAssessment,
    FirmwareRegression,
    FleetFinding,
    ProcessAssessment,
    analyse_device,
    firmware_regressions,
    fleet_findings,
)
from fleet.analysis.history import condense
from fleet.analysis.model import SEVERITY_ORDER, Finding
from fleet.capture.methodlog import split_method_log
from fleet.capture.split import CaptureFormatError, split_capture
from fleet.inventory.patterns import select
from fleet.metrics.limits import MAX_ANALYSED_BYTES
from fleet.metrics.model import DeviceMetrics, Past, PastInstance, ProcessMetrics
from fleet.procfs import ParseError
from fleet.procfs.maps import parse_maps
from fleet.ssh.outcomes import OK
from fleet.store.parse import METHOD_LOG
from fleet.store.schema import DeviceRow, RawSample
from fleet.store.store import Store, database_errors
from fleet.text import decode, visible
from fleet.view.maps import maps_diff_report

DETAIL_PROCESSES = 3  # suspect processes per device that get maps and thread-name evidence


@dataclass(frozen=True)
class SweepChanges:
    since: str  # when the previous sweep's view was made (ISO 8601, UTC)
    new_suspects: tuple[str, ...]  # suspects now, not then; highest score first
    cleared: tuple[str, ...]  # suspects then, still in the view and no longer suspected
    newly_failed: tuple[tuple[str, str], ...]  # (device, status): failing now, not then
    recovered: tuple[str, ...]  # failing then, reached now
    # (time, suspects, failing) of each earlier sweep with a summary, oldest first
    history: tuple[tuple[float, int, int], ...] = ()

    @property
    def newly_failed_text(self) -> list[str]:
        return [f"{name} ({status})" for name, status in self.newly_failed]

    @property
    def any(self) -> bool:
        return bool(self.new_suspects or self.cleared or self.newly_failed or self.recovered)


@dataclass(frozen=True)
class ProcessEvidence:
    """What changed in one suspect process between its first and last sample."""

    name: str
    pid: int
    maps_change: dict[str, Any] | None  # maps_diff_report shape, or None when maps were not captured
    thread_names: tuple[tuple[str, int, int], ...]  # (name, first count, last count), growing first
    added_paths: tuple[tuple[str, int], ...] = ()  # named mappings that appeared: (path, how many more)


@dataclass(frozen=True)
class DeviceView:
    row: DeviceRow
    assessment: DeviceAssessment | None  # None: no parsed sample yet, or its analysis failed
    slab_growth: tuple[tuple[str, int, int], ...] = ()  # (cache, first bytes, last bytes)
    evidence: tuple[ProcessEvidence, ...] = ()
    analysis_error: str | None = None  # why this device's analysis failed (the others' did not)

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def score(self) -> float:
        return self.assessment.score if self.assessment else 0.0

    @property
    def suspect(self) -> bool:
        return self.assessment is not None and self.assessment.suspect

    @property
    def firmware(self) -> str | None:
        """The firmware it ran at its latest sample that named one; None: unknown."""
        return self.assessment.firmware if self.assessment else None

    @property
    def suspects(self) -> list[ProcessAssessment]:
        if not self.assessment:
            return []
        return [p for p in self.assessment.processes if p.suspect]


@dataclass(frozen=True)
class FleetView:
    generated_at: float
    devices: tuple[DeviceView, ...]  # highest score first
    fleet_findings: tuple[FleetFinding, ...] = ()
    store: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    only: tuple[str, ...] = ()  # the devices are those these host patterns (--only) select
    changes: SweepChanges | None = None  # since the last sweep (fleet.changes), for its report
    fleet_findings_error: str | None = None  # why there are none, when finding them failed
    # fleet findings on a firmware version and on none of the devices running its predecessor
    firmware_regressions: tuple[FirmwareRegression, ...] = ()

    @property
    def reachable(self) -> int:
        return sum(1 for d in self.devices if d.row.status == OK)

    @property
    def suspects(self) -> list[DeviceView]:
        return [d for d in self.devices if d.suspect]

    @property
    def failed(self) -> list[DeviceView]:
        return [d for d in self.devices if d.row.status not in (OK, None)]

    @property
    def analysis_failed(self) -> list[DeviceView]:
        return [d for d in self.devices if d.analysis_error]

    def findings(self) -> Iterator[Finding]:
        """Every finding of every analysed device: its own, then its processes'."""
        for d in self.devices:
            if d.assessment is not None:
                yield from d.assessment.all_findings

    def worst_forecast(self) -> DeviceView | None:
        """The suspect device whose memory runs out first, if any is forecast to. A forecast on a
        device that is no suspect (a low-severity decline, e.g. three samples of one night) stays
        in its details and in rank --json, out of the headline: a first nightly sweep of 2,000
        devices would otherwise headline whichever device's MemAvailable fell three times running."""
        due = [
            (d.assessment.memory_exhausted_in_s, d.name, d)
            for d in self.suspects
            if d.assessment and d.assessment.memory_exhausted_in_s is not None
        ]
        return min(due)[2] if due else None


def build_view(
    store: Store,
    *,
    details: bool = True,
    now: float | None = None,
    only: Sequence[str] | None = None,
    rows: Sequence[DeviceRow] | None = None,
) -> FleetView:
    """Analyse every device in the store, or those ``only``'s host patterns select by name, group
    or tag (one product line of a big fleet; fleet.inventory.patterns); ``details`` also reads the
    evidence a report shows. ``rows``: those devices, already selected by the caller (who read
    them to say which patterns matched nothing), instead of reading and selecting them again."""
    if rows is None:
        rows = select(only, store.devices()).devices
    views = [_isolated(store, row, details) for row in rows]
    views.sort(key=lambda v: (-v.score, v.row.status != OK, v.name))
    groups = {v.name: v.row.groups for v in views}
    assessments = [v.assessment for v in views if v.assessment]
    found: tuple[FleetFinding, ...] = ()
    regressions: tuple[FirmwareRegression, ...] = ()
    error = None
    try:
        found = tuple(fleet_findings(assessments, groups))
        regressions = tuple(firmware_regressions(found, assessments))
    except Exception as exc:  # as for one device: the report goes out without them
        error = _why(exc)
    return FleetView(
        generated_at=time.time() if now is None else now,
        devices=tuple(views),
        fleet_findings=found,
        store=str(store.location),
        only=tuple(only or ()),
        fleet_findings_error=error,
        firmware_regressions=regressions,
    )


def _isolated(store: Store, row: DeviceRow, details: bool) -> DeviceView:
    """:func:`_device_view`, or the device with its analysis error: whatever one device's data
    makes the analysis do, the others are analysed and the fleet's report goes out. The store's
    own failures (a lost database connection) still stop the command: they are no device's."""
    try:
        return _device_view(store, row, details)
    except database_errors():
        raise
    except Exception as exc:
        return DeviceView(row, None, analysis_error=_why(exc))


def _why(exc: Exception) -> str:
    return visible(f"{type(exc).__name__}: {exc}"[:300])


def _device_view(store: Store, row: DeviceRow, details: bool) -> DeviceView:
    read, past = store.analysed_history(row.name, MAX_ANALYSED_BYTES)
    series = condense(read)
    if past is not None and len(series) != len(read):
        # samples not rolled up for days, condensed here into the past's buckets: with records
        series, past = condense(store.history(row.name, MAX_ANALYSED_BYTES)), None
    if not series:
        return DeviceView(row, None)
    assessment = analyse_device(row.name, series, past)
    if not details:
        return DeviceView(row, assessment)
    return DeviceView(
        row,
        assessment,
        slab_growth=_slab_growth([m for _, m in series if m.slab]),
        evidence=_process_evidence(store, row.name, assessment, series, past),
    )


def _slab_growth(read: list[DeviceMetrics], top: int = 5) -> tuple[tuple[str, int, int], ...]:
    """The caches that grew most between the first and the last sample that read slabinfo
    (``--maps-every`` samples leave it out)."""
    if not read:
        return ()
    first, last = read[0], read[-1]
    grown = [
        (name, first.slab.get(name, 0), b) for name, b in last.slab.items() if b > first.slab.get(name, 0)
    ]
    grown.sort(key=lambda g: g[1] - g[2])
    return tuple(grown[:top])


def _process_evidence(
    store: Store,
    device: str,
    assessment: DeviceAssessment,
    series: list[tuple[float, DeviceMetrics]],
    past: Past | None = None,
) -> tuple[ProcessEvidence, ...]:
    out = []
    suspects = [p for p in assessment.processes if p.suspect]
    for proc in suspects[:DETAIL_PROCESSES]:
        seen = _first_and_last(proc.name, series, past)
        if seen is None:
            continue
        (t_first, p_first), (t_last, p_last) = seen
        names = sorted(
            {
                (n, p_first.thread_names.get(n, 0), p_last.thread_names.get(n, 0))
                for n in set(p_first.thread_names) | set(p_last.thread_names)
            },
            key=lambda x: (x[1] - x[2], x[0]),
        )
        change: dict[str, Any] | None = None
        paths: tuple[tuple[str, int], ...] = ()
        if t_first != t_last:
            old = _maps_text(store.raw_at(device, t_first), p_first.pid)
            new = _maps_text(store.raw_at(device, t_last), p_last.pid)
            if old is not None and new is not None:
                try:
                    change = maps_diff_report(old, new)
                    paths = _added_paths(old, new)
                except ParseError:
                    change = None
        grown = tuple(n for n in names if n[2] != n[1])
        out.append(ProcessEvidence(proc.name, proc.pid, change, grown, paths))
    return tuple(out)


def _first_and_last(
    name: str, series: list[tuple[float, DeviceMetrics]], past: Past | None
) -> tuple[tuple[float, ProcessMetrics], tuple[float, ProcessMetrics]] | None:
    """The first and the last record of a program in ``series`` (the past's processes beside it),
    each with its own time: a condensed record's is one of its real samples', so raw_at finds
    its capture."""
    seen = [
        ((n, slot), p.at or t, p)
        for n, (t, m) in enumerate(series)
        for slot, p in enumerate(m.processes)
        if p.name == name
    ]
    if past is not None:
        at = past.places(series)
        for inst in past.instances:
            named = [k for k, i in enumerate(inst.points) if i >= past.dropped and _name(inst, k) == name]
            for k in {*named[:1], *named[-1:]}:
                i = inst.points[k] - past.dropped
                rec = inst.record(k)
                seen.append(((at[i], inst.slots[k]), rec.at or past.points[i][0], rec))
    if not seen:
        return None
    (_, t_first, first), (_, t_last, last) = min(seen, key=_place), max(seen, key=_place)
    return (t_first, first), (t_last, last)


def _place(seen: tuple[tuple[int, int], float, ProcessMetrics]) -> tuple[int, int]:
    return seen[0]


def _name(inst: PastInstance, k: int) -> str:
    change = inst.changes[k] if inst.changes is not None else None
    return str(change["name"]) if change and "name" in change else str(inst.fields["name"])


def _added_paths(old: str, new: str, top: int = 5) -> tuple[tuple[str, int], ...]:
    """Which named mappings (files, [stack], ...) there are more of: the "what" behind a class count."""
    before = Counter(v.path for v in parse_maps(old).vmas if v.path)
    after = Counter(v.path for v in parse_maps(new).vmas if v.path)
    grown = [(path, n - before.get(path, 0)) for path, n in after.items() if n > before.get(path, 0)]
    grown.sort(key=lambda g: (-g[1], g[0]))
    return tuple(grown[:top])


def _maps_text(sample: RawSample | None, pid: int) -> str | None:
    """The maps dump of ``pid`` inside a stored capture (or an imported method-log round)."""
    if sample is None or not sample.raw:
        return None
    if sample.source == METHOD_LOG:
        blocks, _ = split_method_log(decode(sample.raw))
        return blocks[0].maps if blocks and blocks[0].maps else None
    if sample.token is None:
        return None
    try:
        proc = split_capture(sample.raw, sample.token).processes.get(pid)
    except CaptureFormatError:
        return None
    return proc.files.get("maps") if proc else None


def worst_severity(view: FleetView) -> str | None:
    """The most severe finding anywhere in the view (device, process or fleet level)."""
    worst: str | None = None
    for f in view.findings():
        if worst is None or SEVERITY_ORDER[f.severity] > SEVERITY_ORDER[worst]:
            worst = f.severity
    return worst


def fails(view: FleetView, fail_on: str | None) -> bool:
    """``--fail-on high|medium``: is there a finding at least that severe?"""
    if fail_on is None:
        return False
    worst = worst_severity(view)
    return worst is not None and SEVERITY_ORDER[worst] >= SEVERITY_ORDER[fail_on]
