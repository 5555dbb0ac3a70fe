"""Turn stored raw captures into parsed metrics. Runs after the raw bytes are safely committed."""

from __future__ import annotations

from dataclasses import replace

from fleet.capture import CaptureFormatError, split_capture
from fleet.extract import metrics_from_capture
from fleet.store import Store


def parse_sample(store: Store, sample_id: int, raw: bytes, token: str | None) -> list[str]:
    """Parse one stored capture into metrics; returns its problems (empty when clean).

    Never raises for bad device data: an unreadable capture is marked as such and kept raw.
    """
    if token is None:
        store.mark_unparsable(sample_id, "no capture token recorded")
        return ["no capture token recorded"]
    try:
        capture = split_capture(raw, token)
    except CaptureFormatError as exc:
        store.mark_unparsable(sample_id, str(exc))
        return [str(exc)]
    metrics = metrics_from_capture(capture)
    if not capture.complete:
        metrics = replace(metrics, problems=(*metrics.problems, "capture was cut before its end marker"))
    store.set_metrics(sample_id, metrics)
    return list(metrics.problems)


def parse_pending(store: Store) -> int:
    """Parse samples whose raw capture landed but whose parse did not (a killed collector)."""
    count = 0
    for sample in store.raw_samples(only_unparsed=True):
        if sample.source == "ssh":
            parse_sample(store, sample.id, sample.raw, sample.token)
            count += 1
    return count
