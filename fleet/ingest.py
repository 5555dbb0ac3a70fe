"""Turn stored raw captures into parsed metrics. Runs after the raw bytes are safely committed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fleet.capture import CaptureFormatError, decode, split_capture
from fleet.extract import metrics_from_capture
from fleet.methodlog import metrics_from_block, split_method_log
from fleet.metrics import DeviceMetrics
from fleet.store import Store

SSH = "ssh"  # a capture made by fleet's own script
METHOD_LOG = "method-log"  # a round of the method's `cat ... >> mem_log.txt` loop, imported


def parse_sample(store: Store, sample_id: int, raw: bytes, token: str | None) -> list[str]:
    """Parse one stored capture into metrics; returns its problems (empty when clean).

    Never raises for bad device data: an unreadable capture is marked as such and kept raw.
    """
    return parse_sample_metrics(store, sample_id, raw, token)[0]


def parse_sample_metrics(
    store: Store,
    sample_id: int,
    raw: bytes,
    token: str | None,
    previous: DeviceMetrics | None = None,
    *,
    previous_read: bool = False,
) -> tuple[list[str], DeviceMetrics | None]:
    """:func:`parse_sample`, also returning the metrics stored (None when the capture is unreadable).

    ``previous_read``: the caller already read the device's previous parsed sample (``previous``,
    None when there is none), so the store is not asked again.
    """
    if token is None:
        store.mark_unparsable(sample_id, "no capture token recorded")
        return ["no capture token recorded"], None
    try:
        capture = split_capture(raw, token)
        if not previous_read:
            previous = store.previous_metrics(sample_id)
        metrics = metrics_from_capture(capture, previous)
    except CaptureFormatError as exc:
        store.mark_unparsable(sample_id, str(exc))
        return [str(exc)], None
    except Exception as exc:  # a parser bug: the raw capture is already stored, a fix re-reads it
        why = f"parser bug, raw capture kept for a re-parse: {type(exc).__name__}: {exc}"
        store.mark_unparsable(sample_id, why)
        return [why], None
    if not capture.complete:
        metrics = replace(metrics, problems=(*metrics.problems, "capture was cut before its end marker"))
    store.set_metrics(sample_id, metrics)
    return list(metrics.problems), metrics


def method_log_metrics(raw: bytes, meta: dict[str, Any]) -> DeviceMetrics:
    """Metrics of one imported round, read with the options it was imported with."""
    blocks, _ = split_method_log(decode(raw))
    if not blocks:
        return DeviceMetrics(problems=("no meminfo, maps or slabinfo in this round",))
    return metrics_from_block(blocks[0], pid=int(meta.get("pid", 0)), name=meta.get("name"))


def parse_pending(store: Store) -> int:
    """Parse samples whose raw capture landed but whose parse did not (a killed collector)."""
    count = 0
    for sample in store.raw_samples(only_unparsed=True):
        if sample.source == METHOD_LOG:
            store.set_metrics(sample.id, method_log_metrics(sample.raw, sample.meta))
        else:
            parse_sample(store, sample.id, sample.raw, sample.token)
        count += 1
    return count
