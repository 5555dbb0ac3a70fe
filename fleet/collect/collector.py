"""The orchestrator: sample every device over SSH with bounded concurrency, store as it goes.

Every device outcome is data. Each device runs in its own coroutine (a DeviceSampler, from
fleet.collect.sampler) that catches its own errors, so a dead, hanging or hostile device costs only
its own timeout and never cancels the others. Store writes (raw capture first, then its parse) run
on one writer thread (fleet.collect.writer), so parsing never stalls the event loop and SQLite sees
a single writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import resource
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence

from fleet.collect.events import (
    DeviceFinished,
    Progress,
    ProgressEvent,
    RunStarted,
    SampleDone,
    SampleStarted,
)
from fleet.collect.options import KEEP_CONNECTION_MAX_INTERVAL, CollectOptions
from fleet.collect.sampler import DeviceOutcome, DeviceSampler
from fleet.collect.writer import StoreWriter
from fleet.inventory.model import Device
from fleet.ssh.asyncssh_transport import AsyncsshTransport
from fleet.ssh.outcomes import Transport
from fleet.store.store import Store
from fleet.text import parse_time

# File descriptors kept for the collector itself (SQLite, its WAL, pipes, the event loop, logs),
# at most half the limit; each connected device needs one socket, counted twice for a margin.
FD_RESERVE = 256

log = logging.getLogger("fleet")


async def _run_device(
    device: Device,
    transport: Transport,
    writer: StoreWriter,
    sem: asyncio.Semaphore,
    opts: CollectOptions,
    tell: Progress,
) -> DeviceOutcome:
    """Every sample of one device, at most ``concurrency`` attempts at once across the run; each
    step told to ``tell`` (fleet.collect.events)."""
    sampler = DeviceSampler(device, transport, writer, opts)
    outcome = sampler.outcome
    try:
        while await sampler.next_sample():
            k, stored = sampler.samples_begun, outcome.samples
            async with sem:
                tell(SampleStarted(device.name, k))
                ok = await sampler.sample()
            tell(SampleDone(device.name, k, outcome.status, outcome.samples > stored))
            if not ok:
                sampler.skip_missed_rounds()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug must cost one device, never the run
        await sampler.failed(exc)
    finally:
        await sampler.close()
    tell(DeviceFinished(device.name, outcome.status))
    return outcome


class _Told:
    """Events to ``progress``, whose failure (a bug, a closed stderr) is warned about once and
    then ignored: showing the run must never cost a device its samples."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def __call__(self, event: ProgressEvent) -> None:
        if self.progress is None:
            return
        try:
            self.progress(event)
        except Exception as exc:
            self.progress = None
            with contextlib.suppress(Exception):
                log.warning("progress no longer shown: %s: %s", type(exc).__name__, exc)


async def _in_turn(
    devices: Sequence[Device], run: Callable[[Device], Awaitable[DeviceOutcome]], workers: int
) -> list[DeviceOutcome]:
    """Every device's samples, by ``workers`` tasks taking the next device in turn: the collector
    holds no task (~2 KB each while waiting) nor connection for the devices not yet started or
    done with, so its memory does not grow with the fleet. Outcomes come back in the devices' order."""
    outcomes: list[DeviceOutcome | None] = [None] * len(devices)
    todo = iter(enumerate(devices))

    async def worker() -> None:
        for i, device in todo:
            outcomes[i] = await run(device)

    await asyncio.gather(*(worker() for _ in range(min(workers, len(devices)))))
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(devices)  # every worker ran to the end, or gather raised
    return done


async def collect(
    devices: Sequence[Device],
    store: Store,
    opts: CollectOptions,
    *,
    transports: Mapping[str, Transport] | None = None,
    inventory: str | None = None,
    progress: Progress | None = None,
) -> list[DeviceOutcome]:
    """Sample every device ``opts.samples`` times; returns one outcome per device, in order.

    One sample each: ``concurrency`` workers take the devices in turn. Several samples on kept
    connections: at most ``max_connected`` devices (fewer if the fd limit says so) run their
    samples at once, the next device starting when one is done, so a nightly sweep of 10,000
    devices holds 2,000 connections, not 10,000. Soak runs (``samples`` 0, ``until``) and
    intervals beyond KEEP_CONNECTION_MAX_INTERVAL sample every device side by side throughout.
    """
    in_turn, at_once = _devices_at_once(len(devices), opts)
    run_id = store.begin_run(inventory)
    writer = StoreWriter(store, run_id)
    sem = asyncio.Semaphore(max(1, opts.concurrency))
    transports = transports or make_transports({d.transport for d in devices})
    try:
        await writer.register(devices)
        tell = _Told(progress)
        tell(RunStarted(len(devices), opts.samples, opts.interval, opts.until))

        def run(d: Device) -> Coroutine[None, None, DeviceOutcome]:
            return _run_device(d, transports[d.transport], writer, sem, opts, tell)

        if in_turn:
            return await _in_turn(devices, run, at_once)
        return list(await asyncio.gather(*(run(d) for d in devices)))
    finally:
        for transport in transports.values():  # shared jump-host connections
            close = getattr(transport, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        await writer.end_run()


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_until(text: str, now: float) -> float:
    """``--until``: an ISO 8601 time (UTC unless it says otherwise) or a duration from ``now``
    such as ``8h``, ``90m``, ``1h30m``, ``2d``; returns epoch seconds. Raises ValueError."""
    spec = text.strip().lower()
    if spec and _DURATION.sub("", spec) == "":
        return now + sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(spec))
    return parse_time(text)


def make_transports(kinds: set[str]) -> dict[str, Transport]:
    """One shared transport object per kind in use (they cache keys across devices)."""
    out: dict[str, Transport] = {}
    for kind in kinds:
        if kind == "paramiko":
            from fleet.ssh.paramiko_transport import ParamikoTransport

            out[kind] = ParamikoTransport()
        else:
            out[kind] = AsyncsshTransport()
    return out


def _devices_at_once(devices: int, opts: CollectOptions) -> tuple[bool, int]:
    """Whether the devices take their samples in turn (else all side by side throughout the run),
    and how many at once: ``concurrency`` for one sample each, ``max_connected`` for several on kept
    connections, fewer if the open-file limit (raised as far as it goes) leaves room for fewer."""
    series = opts.samples > 1 and opts.until is None and opts.interval <= KEEP_CONNECTION_MAX_INTERVAL
    in_turn = opts.samples == 1 or series  # else every device is sampled throughout the run
    wanted = devices
    if in_turn:
        wanted = opts.concurrency if opts.samples == 1 else opts.max_connected
    at_once = min(devices, max(1, wanted))
    allowed = _raise_fd_limit(at_once)
    if allowed < at_once:
        log.warning(
            "the open-file limit allows ~%d connections at once, not %d: %s;"
            " raise it (ulimit -n, LimitNOFILE=) or split the inventory (--shard)",
            allowed,
            at_once,
            "the run takes longer" if in_turn else "some devices may fail with 'Too many open files'",
        )
        if in_turn:
            at_once = allowed
    return in_turn, at_once


def _raise_fd_limit(devices: int) -> int:
    """Kept sessions need a socket each: lift the soft fd limit towards the hard one; returns how
    many devices may hold a connection at once under the limit then in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = devices * 2 + FD_RESERVE
    if hard != resource.RLIM_INFINITY:
        want = min(hard, want)
    if want > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return devices
    return max(1, (soft - min(FD_RESERVE, soft // 2)) // 2)
