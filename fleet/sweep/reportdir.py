"""The report directory: dated reports, the summaries beside them, and their retention.

A sweep writes ``fleet-report-<UTC time>.html`` and, once its email is out, the summary the next
sweep of the same store compares with (fleet.changes); it deletes dated files past their days.
Nothing else in the directory is read or touched: it may hold the user's own files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fleet.view.changes import SUMMARY_SUFFIX, changes_since, read_summary, summary_doc
from fleet.view.fleet import FleetView

log = logging.getLogger("fleet.reportdir")
# fleet-report-<time>[-N].html and .summary.json (dated_report_path), the only files a sweep
# reads back or deletes in its report directory
_DATED = re.compile(
    r"fleet-report-(\d{4}-\d\d-\d\dT\d{6}Z)(?:-(\d{1,6}))?(\.html|" + re.escape(SUMMARY_SUFFIX) + ")"
)
_STAMP = "%Y-%m-%dT%H%M%SZ"
HISTORY = 60  # sweeps whose suspects the report charts
SUMMARIES_SKIPPED = 40  # files read beyond those, for another store's or broken ones


def write_atomically(path: Path, text: str | Iterable[str]) -> None:
    """A reader (or a mail attachment, or node_exporter's textfile collector) never sees half a
    file: ``text`` (a string, or pieces streamed one at a time) goes to a temporary file beside
    ``path`` that then replaces it; on a failure the temporary file is removed.

    The file gets the mode any new file would (0666 less the umask), not mkstemp's 0600: a report
    directory is often served by a web server or read by a team's group.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fleet-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            if isinstance(text, str):
                f.write(text)
            else:
                f.writelines(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put back at once)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def dated_report_path(report_dir: Path, now: float) -> Path:
    """``fleet-report-<UTC time>.html``; never an existing file, so no sweep overwrites another's."""
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime(_STAMP)
    path = report_dir / f"fleet-report-{stamp}.html"
    n = 1
    while path.exists():
        n += 1
        path = report_dir / f"fleet-report-{stamp}-{n}.html"
    return path


def prune_reports(report_dir: Path, before: float) -> int:
    """Delete the dated reports (and their summaries) made before ``before``, by the time in
    their names; nothing else in the directory is touched. Returns how many files went."""
    gone = 0
    for path in report_dir.glob("fleet-report-*"):
        m = _DATED.fullmatch(path.name)
        if m is None:
            continue
        try:
            made = dt.datetime.strptime(m.group(1), _STAMP).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:  # the shape of a stamp but no date (month 13): not one of ours
            continue
        if made < before:
            try:
                path.unlink()
                gone += 1
            except OSError as exc:
                log.warning("%s: cannot delete: %s", path, exc.strerror, extra={"event": "report_prune"})
    return gone


def store_identity(location: str) -> str:
    """The same string for one store however it was named (``.lab/store``, ``/srv/x/.lab/store``);
    a PostgreSQL URL (already without its password) as it is."""
    return location if "://" in location else str(Path(location).resolve())


def with_changes(view: FleetView, report_dir: Path) -> FleetView:
    """``view`` with what changed since the latest sweep of its store that left a summary in
    ``report_dir``, and the suspects of the sweeps before; as it is when there is none."""
    docs = summaries(report_dir, store_identity(view.store), HISTORY)
    return view if not docs else replace(view, changes=changes_since(docs[0], view, docs[1:]))


def summary_path(report: Path) -> Path:
    """The summary the next sweep compares with, beside its report."""
    return report.with_name(report.stem + SUMMARY_SUFFIX)


def last_summary(report_dir: Path, store: str) -> dict[str, Any] | None:
    """The latest readable summary in ``report_dir`` of a sweep of ``store`` (store_identity)."""
    docs = summaries(report_dir, store, 1)
    return docs[0] if docs else None


def summaries(report_dir: Path, store: str, most: int) -> list[dict[str, Any]]:
    """Up to ``most`` readable summaries of sweeps of ``store`` in ``report_dir``, newest first.
    An unreadable one is skipped with a warning (the sweep goes on without it); one of another
    store sharing the directory is passed over."""
    dated = []
    for path in report_dir.glob("fleet-report-*" + SUMMARY_SUFFIX):
        m = _DATED.fullmatch(path.name)
        if m is not None and m.group(3) == SUMMARY_SUFFIX:
            dated.append((m.group(1), int(m.group(2) or 1), path))
    found: list[dict[str, Any]] = []
    for *_, path in sorted(dated, reverse=True)[: most + SUMMARIES_SKIPPED]:
        try:
            doc = read_summary(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:  # [[[[... too
            doc, why = None, str(exc) or type(exc).__name__
        else:
            why = "not a fleet sweep summary"
        if doc is None:
            log.warning("%s: %s; skipped", path, why, extra={"event": "summary_unreadable"})
        elif doc["store"] == store:
            found.append(doc)
            if len(found) == most:
                break
    return found


def write_summary(report: Path, view: FleetView) -> None:
    """The summary of ``view`` beside ``report``. A failure (disk full) is a warning: the report
    is out, only the next comparison suffers."""
    doc = summary_doc(view, report.name, store_identity(view.store))
    try:
        write_atomically(summary_path(report), json.dumps(doc, indent=1) + "\n")
    except OSError as exc:
        log.warning("cannot write the sweep summary: %s", exc, extra={"event": "summary_failed"})
