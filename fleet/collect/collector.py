"""The orchestrator: sample every device over SSH with bounded concurrency, store as it goes.

Every device outcome is data. Each device runs in its own coroutine that catches its own errors,
so a dead, hanging or hostile device costs only its own timeout and never cancels the others. Store
writes (raw capture first, then its parse) run on one writer thread, so parsing never stalls the
event loop and SQLite sees a single writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import re
import resource
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from fleet.capture.script import capture_script, end_marker, new_token
from fleet.inventory.native import Device
from fleet.metrics.from_capture import steady_maps
from fleet.ssh.asyncssh_transport import AsyncsshTransport
from fleet.ssh.outcomes import (
    CAPTURE_ERROR,
    OK,
    TIMEOUT,
    CommandResult,
    DeviceError,
    Session,
    Transport,
    device_flags,
)
from fleet.store.ingest import parse_sample_metrics
from fleet.store.store import Store
from fleet.text import decode, visible

# Far above any real capture (32,000 leaked threads print ~8 MiB); a device printing more is broken.
# The collector holds at most concurrency x this much capture data at once.
MAX_CAPTURE_BYTES = 16 * 1024 * 1024
KEEP_CONNECTION_MAX_INTERVAL = 300.0  # reconnect per sample beyond this: idle sessions die in NATs
# A device whose kept shell did not answer gets a shell per capture in later runs for this long,
# then its kept shell is tried again (a firmware update may have fixed its login wrapper).
ONE_SHOT_SHELL_DAYS = 30.0
# Devices holding a kept connection at once in a multi-sample run (~35 KiB and one socket each);
# further devices start their samples as earlier ones finish theirs.
MAX_CONNECTED = 2000
# File descriptors kept for the collector itself (SQLite, its WAL, pipes, the event loop, logs),
# at most half the limit; each connected device needs one socket, counted twice for a margin.
FD_RESERVE = 256


@dataclass
class DeviceOutcome:
    """What happened to one device during a run: its last status and how many samples landed."""

    name: str
    status: str = "pending"
    error: str | None = None
    samples: int = 0
    attempts: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


Progress = Callable[[DeviceOutcome], None]


def status_counts(outcomes: Sequence[DeviceOutcome]) -> dict[str, int]:
    """How many devices ended in each status (for summaries)."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


_T = TypeVar("_T")
log = logging.getLogger("fleet")


@dataclass(frozen=True)
class CollectOptions:
    samples: int = 1  # 0: until stopped (soak mode)
    interval: float = 60.0
    until: float | None = None  # wall-clock time (epoch s): no sample starts at or after it
    concurrency: int = 64
    # On a kept connection, read every process's maps, cmdline and thread names, and slabinfo, on
    # one sample in N only; the others read them for new processes and for those whose VmSize or
    # thread count changed between the two samples before, and copy the rest from the sample before
    # (fleet.extract.steady_maps); slabinfo is not read on those (slab caches grow slowly).
    maps_every: int = 1
    max_capture_bytes: int = MAX_CAPTURE_BYTES
    max_connected: int = MAX_CONNECTED


class _Writer:
    """Serialises store access on one thread; the store never sees two writers from one collector."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-store")
        self.ids: dict[str, int] = {}
        self.one_shot: set[str] = set()  # devices that start on a shell per capture (_run_device)

    async def call(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    async def register(self, devices: Sequence[Device]) -> None:
        """Every device's row in one transaction (one commit, not one per device), in name order:
        two collectors registering the same devices take their row locks in the same order."""

        def write() -> tuple[dict[str, int], set[int]]:
            ids: dict[str, int] = {}
            with self.store.transaction():
                for device in sorted(devices, key=lambda d: d.name):
                    device_id = self.store.device_id(device.name, device.host, device.groups, device.tags)
                    self.store.set_device_flags(device_id, device_flags(device))
                    ids[device.name] = device_id
            return ids, self.store.one_shot_shell_devices(time.time() - ONE_SHOT_SHELL_DAYS * 86400)

        ids, one_shot = await self.call(write)
        self.ids.update(ids)
        self.one_shot.update(name for name, device_id in ids.items() if device_id in one_shot)

    async def sample(
        self,
        device: Device,
        at: float,
        raw: bytes,
        token: str,
        seconds: float,
        complete: bool,
        attempt: tuple[str, str | None, float],
    ) -> tuple[list[str], str | None, frozenset[int]]:
        """Store and parse one capture, then record the attempt (status, error, seconds) in the
        same trip to the writer thread: its problems, why it was refused (over a cap of
        fleet.limits: the attempt is then a capture_error saying so), and the pids whose maps the
        next capture may skip (unchanged since the device's previous sample, fleet.extract.steady_maps)."""

        def write() -> tuple[list[str], str | None, frozenset[int]]:
            device_id = self.ids[device.name]
            sid = self.store.add_raw_sample(
                device_id, self.run_id, at, raw, token=token, duration=seconds, complete=complete
            )
            previous = self.store.previous_metrics(sid)
            problems, metrics, refused = parse_sample_metrics(
                self.store, sid, raw, token, previous, previous_read=True
            )
            status, error, took = attempt
            if refused is not None:
                status, error = CAPTURE_ERROR, refused
            self.store.record_attempt(device_id, self.run_id, status, error, took)
            if previous is None or metrics is None or not complete:
                return problems, refused, frozenset()
            return problems, refused, steady_maps(previous, metrics)

        return await self.call(write)

    async def one_shot_shell(self, device: Device) -> None:
        device_id = self.ids[device.name]
        await self.call(lambda: self.store.set_one_shot_shell(device_id, time.time()))

    async def attempt(self, device: Device, status: str, error: str | None, seconds: float) -> None:
        await self.call(
            lambda: self.store.record_attempt(self.ids[device.name], self.run_id, status, error, seconds)
        )


class _Sampled(NamedTuple):
    status: str
    error: str | None
    problems: list[str]
    stored: bool  # a sample was stored, and the attempt recorded with it
    steady: frozenset[int]  # pids whose maps the next sample on this session may skip (if complete)


class _Capture(NamedTuple):
    token: str
    at: float  # epoch seconds when the capture began
    seconds: float  # how long the device took to answer
    result: CommandResult


async def _capture(
    session: Session, opts: CollectOptions, skip: frozenset[int], slabinfo: bool, keep_shell: bool
) -> _Capture:
    token = new_token()
    at = time.time()
    began = time.monotonic()
    script = capture_script(token, skip, slabinfo=slabinfo).encode()
    result = await session.capture(script, end_marker(token), opts.max_capture_bytes, keep=keep_shell)
    return _Capture(token, at, time.monotonic() - began, result)


async def _keep(
    capture: _Capture, device: Device, writer: _Writer, opts: CollectOptions, started: float
) -> _Sampled:
    """Judge and store one capture (``started``: when the attempt began, connect included).

    A capture is stored whenever its header arrived, even cut short (its raw bytes are evidence);
    output over the cap or without any capture header (binary garbage) is refused, not stored.
    """
    token, result = capture.token, capture.result
    if result.truncated:
        why = f"output larger than {opts.max_capture_bytes} bytes: capture stopped"
        return _Sampled(CAPTURE_ERROR, why, [], False, frozenset())
    if (token + " v ").encode() not in result.stdout:
        head = visible(decode(result.stdout[:60]))
        why = f"no capture in {len(result.stdout)} bytes of output ({_exit(result)})"
        return _Sampled(CAPTURE_ERROR, why + (f", starting '{head}'" if head else ""), [], False, frozenset())
    complete = (token + " end").encode() in result.stdout[-200:]
    status, error = OK, None
    if not complete:
        status, error = CAPTURE_ERROR, f"capture did not finish ({_exit(result)})"
    attempt = (status, error, time.monotonic() - started)
    problems, refused, steady = await writer.sample(
        device, capture.at, result.stdout, token, capture.seconds, complete, attempt
    )
    if refused is not None:
        status, error = CAPTURE_ERROR, refused
    return _Sampled(status, error, problems, True, steady)


def _exit(result: CommandResult) -> str:
    """Why a device printed no (whole) capture: its exit status and the end of its stderr."""
    err = visible(decode(result.stderr).strip()[-300:])
    return f"exit status {result.exit_status}" + (f": {err}" if err else "")


async def _run_device(
    device: Device,
    transport: Transport,
    writer: _Writer,
    sem: asyncio.Semaphore,
    opts: CollectOptions,
    progress: Progress | None,
) -> DeviceOutcome:
    """Every sample of one device, ``opts.interval`` apart from when it starts."""
    outcome = DeviceOutcome(device.name)
    t0 = time.monotonic()
    keep = opts.interval <= KEEP_CONNECTION_MAX_INTERVAL
    session: Session | None = None
    steady: frozenset[int] = frozenset()  # pids whose maps the next sample on this session may skip
    # Captures run in one kept shell when another sample follows on the session (Session.capture),
    # until one times out: behind a login wrapper that buffers output, a kept shell's end marker
    # only comes when the shell exits, so this device gets one-shot shells for the rest of the run.
    # When a one-shot capture then answers, the store remembers it and later runs start that way.
    shell_ok = device.name not in writer.one_shot
    kept_shell_timed_out = False
    k = 0
    try:
        while opts.samples == 0 or k < opts.samples:
            delay = t0 + k * opts.interval - time.monotonic()
            if opts.until is not None and time.time() + max(delay, 0.0) >= opts.until:
                break
            if delay > 0:
                await asyncio.sleep(delay)
            k += 1
            async with sem:
                started = time.monotonic()
                status: str
                error: str | None = None
                stored = False
                capture: _Capture | None = None
                kept_shell = False
                try:
                    async with asyncio.timeout(device.timeout):
                        if session is None:
                            session, steady = await transport.connect(device), frozenset()
                        light = keep and (k - 1) % opts.maps_every != 0
                        skip = steady if light else frozenset()
                        more = opts.samples == 0 or k < opts.samples
                        kept_shell = keep and more and shell_ok
                        capture = await _capture(session, opts, skip, not light, kept_shell)
                except TimeoutError:
                    status, error = TIMEOUT, f"no answer within {device.timeout:g} s (connect + capture)"
                    kept_shell_timed_out = kept_shell_timed_out or kept_shell
                    shell_ok = False
                except DeviceError as exc:
                    status, error = exc.status, str(exc)
                if capture is not None:  # stored outside the timeout: a busy writer is not the device's fault
                    status, error, outcome.problems, stored, steady = await _keep(
                        capture, device, writer, opts, started
                    )
                    capture = None  # done with: never hold raw bytes while this task sleeps
                    if status == OK and kept_shell_timed_out:
                        await writer.one_shot_shell(device)
                        kept_shell_timed_out = False
                if status != OK or not keep:
                    if session is not None:
                        await _close_quietly(session)
                    session = None
                seconds = time.monotonic() - started
                outcome.attempts += 1
                outcome.seconds += seconds
                outcome.status, outcome.error = status, error
                if stored:
                    outcome.samples += 1
                else:
                    await writer.attempt(device, status, error, seconds)
            if status != OK and opts.interval > 0:
                # A failing device skips the rounds its failure overran, so a hanging device adds
                # at most one timeout to the run instead of one per sample.
                k = max(k, math.ceil((time.monotonic() - t0) / opts.interval))
            if progress is not None:
                progress(outcome)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug must cost one device, never the run
        outcome.status, outcome.error = CAPTURE_ERROR, f"internal error: {type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            await writer.attempt(device, outcome.status, outcome.error, 0.0)
    finally:
        if session is not None:
            await _close_quietly(session)
    return outcome


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


async def _close_quietly(session: Session) -> None:
    with contextlib.suppress(Exception):
        await session.close()


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
    series = opts.samples > 1 and opts.until is None and opts.interval <= KEEP_CONNECTION_MAX_INTERVAL
    in_turn = opts.samples == 1 or series  # else every device is sampled throughout the run
    wanted = len(devices)
    if in_turn:
        wanted = opts.concurrency if opts.samples == 1 else opts.max_connected
    at_once = min(len(devices), max(1, wanted))
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
    run_id = store.begin_run(inventory)
    writer = _Writer(store, run_id)
    sem = asyncio.Semaphore(max(1, opts.concurrency))
    transports = transports or make_transports({d.transport for d in devices})
    try:
        await writer.register(devices)

        def run(d: Device) -> Coroutine[None, None, DeviceOutcome]:
            return _run_device(d, transports[d.transport], writer, sem, opts, progress)

        if in_turn:
            return await _in_turn(devices, run, at_once)
        return list(await asyncio.gather(*(run(d) for d in devices)))
    finally:
        for transport in transports.values():  # shared jump-host connections
            close = getattr(transport, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        await writer.call(lambda: store.end_run(run_id))
        writer.pool.shutdown(wait=True)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_until(text: str, now: float) -> float:
    """``--until``: an ISO 8601 time (UTC unless it says otherwise) or a duration from ``now``
    such as ``8h``, ``90m``, ``1h30m``, ``2d``; returns epoch seconds. Raises ValueError."""
    spec = text.strip().lower()
    if spec and _DURATION.sub("", spec) == "":
        return now + sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(spec))
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


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
