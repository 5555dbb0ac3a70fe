"""What changed since the last sweep: new suspects, cleared ones, devices newly failing or back.

A nightly email of a 2,000-device fleet lists the same long-known suspects every night; the line
that matters at 2 a.m. is what is new. Each sweep leaves a small summary beside its dated report
(``fleet-report-<time>.summary.json``); the next sweep compares its view with the latest one.
Pure: fleet.reportdir reads and writes the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fleet.text import iso, parse_time
from fleet.view.fleet import FleetView, SweepChanges

SUMMARY_FORMAT = 1
SUMMARY_SUFFIX = ".summary.json"


def summary_doc(view: FleetView, report_name: str, store: str) -> dict[str, Any]:
    """What the next sweep needs to know of this one; ``store`` names the store it analysed (a
    summary of another store's fleet is not compared with)."""
    return {
        "format": SUMMARY_FORMAT,
        "generated_at": iso(view.generated_at),
        "store": store,
        "report": report_name,
        "suspects": [d.name for d in view.suspects],
        "failed": {d.name: str(d.row.status) for d in view.failed},
    }


def read_summary(doc: Any) -> dict[str, Any] | None:
    """``doc`` (parsed JSON) if it is a summary of a known format, else None: a hand-edited or
    truncated file must not stop a sweep, it only loses the comparison."""
    if not isinstance(doc, dict) or doc.get("format") != SUMMARY_FORMAT:
        return None
    suspects, failed = doc.get("suspects"), doc.get("failed")
    if not isinstance(doc.get("generated_at"), str) or not isinstance(doc.get("store"), str):
        return None
    if not isinstance(failed, dict):
        return None
    if not isinstance(suspects, list) or not all(isinstance(n, str) for n in suspects):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in failed.items()):
        return None
    return doc


def changes_since(
    previous: dict[str, Any], view: FleetView, earlier: Sequence[dict[str, Any]] = ()
) -> SweepChanges:
    """``view`` against a previous sweep's :func:`summary_doc` (checked by :func:`read_summary`);
    ``earlier``: the summaries of the sweeps before, any order, for the history."""
    was_suspect = set(previous["suspects"])
    was_failed: dict[str, str] = previous["failed"]
    names = {d.name for d in view.devices}
    suspects = [d.name for d in view.suspects]
    failed = {d.name: str(d.row.status) for d in view.failed}
    return SweepChanges(
        since=previous["generated_at"],
        new_suspects=tuple(n for n in suspects if n not in was_suspect),
        cleared=tuple(sorted(n for n in was_suspect - set(suspects) if n in names)),
        newly_failed=tuple((d.name, failed[d.name]) for d in view.failed if d.name not in was_failed),
        recovered=tuple(sorted(n for n in was_failed if n in names and n not in failed)),
        history=history((previous, *earlier)),
    )


def history(docs: Iterable[dict[str, Any]]) -> tuple[tuple[float, int, int], ...]:
    """(time, suspects, failing) per summary, oldest first; one without a readable time is left out."""
    points = []
    for d in docs:
        try:
            at = parse_time(d["generated_at"])
        except ValueError:
            continue
        points.append((at, len(d["suspects"]), len(d["failed"])))
    return tuple(sorted(points))
