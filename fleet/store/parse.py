"""Parse stored samples (captures, imported log rounds) into metrics: after their raw bytes are committed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

from fleet.capture.methodlog import split_method_log
from fleet.capture.split import CaptureFormatError, CaptureLimitError, split_capture
from fleet.metrics.from_capture import metrics_from_capture
from fleet.metrics.from_methodlog import metrics_from_block
from fleet.metrics.limits import MAX_METRICS_BYTES, MAX_PROCESSES, bounded
from fleet.metrics.model import DeviceMetrics
from fleet.store.codec import metrics_to_json
from fleet.store.store import Store, value_errors
from fleet.text import decode

SSH = "ssh"  # a capture made by fleet's own script
METHOD_LOG = "method-log"  # a round of the method's `cat ... >> mem_log.txt` loop, imported
KEPT = "raw capture kept"


class Parsed(NamedTuple):
    """What parsing one stored sample gave."""

    problems: list[str]
    metrics: DeviceMetrics | None  # as stored; None when the sample is unreadable or refused
    refused: str | None = None  # over a cap of fleet.metrics.limits, or not storable: why (a capture_error)


def parse_sample(store: Store, sample_id: int, raw: bytes, token: str | None) -> list[str]:
    """Parse one stored capture into metrics; returns its problems (empty when clean).

    Never raises for bad device data: an unreadable capture is marked as such and kept raw.
    """
    return parse_sample_metrics(store, sample_id, raw, token).problems


def parse_sample_metrics(
    store: Store,
    sample_id: int,
    raw: bytes,
    token: str | None,
    previous: DeviceMetrics | None = None,
    *,
    previous_read: bool = False,
) -> Parsed:
    """:func:`parse_sample`, also returning the metrics stored and why a sample was refused.

    ``previous_read``: the caller already read the device's previous parsed sample (``previous``,
    None when there is none), so the store is not asked again.
    """
    if token is None:
        return _unusable(store, sample_id, "no capture token recorded")
    try:
        capture = split_capture(raw, token, max_processes=MAX_PROCESSES)
        if not previous_read:
            previous = store.previous_metrics(sample_id)
        metrics = metrics_from_capture(capture, previous)
    except CaptureLimitError as exc:
        why = f"{exc} (a camera runs 50-300): refused, {KEPT}"
        return _unusable(store, sample_id, why, refused=True)
    except CaptureFormatError as exc:
        return _unusable(store, sample_id, str(exc))
    except Exception as exc:  # a parser bug: the raw capture is already stored, a fix re-reads it
        return _unusable(store, sample_id, _bug(exc))
    if not capture.complete:
        metrics = replace(metrics, problems=(*metrics.problems, "capture was cut before its end marker"))
    return store_metrics(store, sample_id, metrics)


def store_metrics(store: Store, sample_id: int, metrics: DeviceMetrics) -> Parsed:
    """Store a sample's metrics with every number in range (fleet.metrics.limits.bounded), or mark the
    sample refused when they are over MAX_METRICS_BYTES or the database cannot hold a value:
    either way the raw capture stays, and no later pass reads the sample again."""
    metrics = bounded(metrics)
    size = len(metrics_to_json(metrics))
    if size > MAX_METRICS_BYTES:
        why = f"parsed metrics of {size} bytes, more than the {MAX_METRICS_BYTES} fleet keeps per sample"
        return _unusable(store, sample_id, f"{why}: refused, {KEPT}", refused=True)
    try:
        store.set_metrics(sample_id, metrics)
    except value_errors() as exc:  # a value the database cannot hold: this sample's fault only
        why = f"cannot be stored ({type(exc).__name__}: {str(exc)[:200]}): refused, {KEPT}"
        return _unusable(store, sample_id, why, refused=True)
    return Parsed(list(metrics.problems), metrics)


def _unusable(store: Store, sample_id: int, why: str, *, refused: bool = False) -> Parsed:
    store.mark_unparsable(sample_id, why)
    return Parsed([why], None, why if refused else None)


def _bug(exc: Exception) -> str:
    return f"parser bug, {KEPT} for a re-parse: {type(exc).__name__}: {str(exc)[:200]}"


def method_log_metrics(raw: bytes, meta: dict[str, Any]) -> DeviceMetrics:
    """Metrics of one imported round, read with the options it was imported with."""
    blocks, _ = split_method_log(decode(raw))
    if not blocks:
        return DeviceMetrics(problems=("no meminfo, maps or slabinfo in this round",))
    return metrics_from_block(blocks[0], pid=int(meta.get("pid", 0)), name=meta.get("name"))


def parse_method_log(store: Store, sample_id: int, raw: bytes, meta: dict[str, Any]) -> Parsed:
    """One imported round into metrics, like :func:`parse_sample_metrics` for a capture."""
    try:
        metrics = method_log_metrics(raw, meta)
    except Exception as exc:  # a parser bug, as above
        return _unusable(store, sample_id, _bug(exc))
    return store_metrics(store, sample_id, metrics)


def parse_pending(store: Store) -> int:
    """Parse samples whose raw capture landed but whose parse did not (a killed collector).

    Every sample ends parsed or marked with its reason, so no later pass meets it again."""
    count = 0
    for sample in store.raw_samples(only_unparsed=True):
        if sample.source == METHOD_LOG:
            parse_method_log(store, sample.id, sample.raw, sample.meta)
        else:
            parse_sample(store, sample.id, sample.raw, sample.token)
        count += 1
    return count
