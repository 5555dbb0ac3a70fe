"""Keeping each device's condensed past in the store, so rank and report read a bounded number of
rows however long the history (issue 24).

After every collect, sweep, import and prune, :func:`roll_up` condenses the samples that have left
the full-resolution window (``fleet.analysis.history``: older than the newest 3 days) into the
device's stored rollups: the rollups and those samples are condensed together and the device's
past (one row, ``fleet.store.codec.past_to_json``) replaced by the result, in one transaction per
device. Each night that is a night's samples merged into ~45 points; the first time on a store
made before rollups, its whole history once (the backfill). Until then, and for samples no
rollup holds yet, the analysis condenses what it reads (``Store.history``), with the same result.
"""

from __future__ import annotations

import logging

from fleet.analysis.history import FULL_DAYS, bucket, bucket_span, condense_before, day
from fleet.analysis.history import ORIGIN as DAY_ORIGIN
from fleet.analysis.series import boot_runs
from fleet.metrics.model import DeviceMetrics
from fleet.store.schema import Rollup
from fleet.store.store import Store, database_errors

log = logging.getLogger("fleet.store")


def full_since(newest: float) -> float:
    """The start of the full-resolution window of a device whose newest sample is at ``newest``."""
    return DAY_ORIGIN + (day(newest) - FULL_DAYS + 1) * 86400.0


def roll_up(store: Store) -> int:
    """Condense every device's samples that left the full-resolution window into its rollups;
    the number of samples rolled up."""
    rolled = 0
    for device_id, oldest, newest, again in store.rollup_candidates():
        if not (again or (newest is not None and oldest < full_since(newest))):
            continue
        try:
            rolled += roll_up_device(store, device_id)
        except database_errors():
            raise  # the store's own failure: the command's
        except Exception as exc:  # one device's data (a sample no fleet can read): the others go on
            log.warning(
                "device %d: its samples are not rolled up (read whole instead): %s: %s",
                device_id,
                type(exc).__name__,
                str(exc)[:200],
                extra={"event": "roll_up_failed", "fields": {"device_id": device_id}},
            )
    if rolled:
        log.info("rolled up %d samples", rolled, extra={"event": "rolled_up", "fields": {"samples": rolled}})
    return rolled


def roll_up_device(store: Store, device_id: int) -> int:
    """:func:`roll_up` for one device, in one transaction."""
    with store.transaction():
        newest = store.begin_rollup(device_id)
        if newest is None:
            return 0
        newest_day = day(newest)
        points = _past(store, device_id)
        rolled: list[int] = []
        for chunk in store.unrolled(device_id, full_since(newest)):
            rolled.extend(sid for sid, _, _ in chunk)
            merged = sorted([*points, *((t, m) for _, t, m in chunk)], key=lambda p: p[0])
            points = condense_before(merged, newest_day, boot_runs(merged))
        if not rolled:
            return 0
        stored = []
        for t, m in points:
            b = bucket(t, newest_day)
            assert b is not None  # every point is older than the full-resolution window
            start, end = bucket_span(b)
            stored.append(Rollup(t, start, end, m))
        store.replace_rollups(device_id, stored, rolled)
    return len(rolled)


def _past(store: Store, device_id: int) -> list[tuple[float, DeviceMetrics]]:
    """The device's condensed past; none when it cannot be read (a damaged store): then it is
    rebuilt from the samples kept, and rank reads the device again."""
    try:
        return [(r.captured_at, r.metrics) for r in store.rollups(device_id)]
    except database_errors():
        raise
    except Exception as exc:
        log.warning(
            "device %d: its condensed past could not be read (%s: %s): rebuilt from its samples",
            device_id,
            type(exc).__name__,
            str(exc)[:200],
            extra={"event": "past_rebuilt", "fields": {"device_id": device_id}},
        )
        store.restart_rollups(device_id)
        return []
