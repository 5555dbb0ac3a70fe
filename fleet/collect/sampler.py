"""One device's samples in a run: connect, capture, judge and store each capture, wait for the next.

A device's failures are data: its outcome says what happened (DeviceOutcome) and every attempt is
recorded in the store, so a dead, hanging or hostile device costs only its own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from fleet.capture.script import capture_script, end_marker, new_token
from fleet.collect.options import KEEP_CONNECTION_MAX_INTERVAL, CollectOptions
from fleet.collect.writer import StoreWriter
from fleet.inventory.model import Device
from fleet.ssh.outcomes import (
    CAPTURE_ERROR,
    OK,
    TIMEOUT,
    CommandResult,
    DeviceError,
    Session,
    Transport,
)
from fleet.text import decode, visible


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


def status_counts(outcomes: Sequence[DeviceOutcome]) -> dict[str, int]:
    """How many devices ended in each status (for summaries)."""
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    return counts


class DeviceSampler:
    """Every sample of one device, ``opts.interval`` apart from when it starts, one attempt at a time:
    next_sample waits for its turn, sample connects (if need be), captures, stores and records it,
    close ends the session. Between samples it holds no capture, only the state below.

    Captures run in one kept shell when another sample follows on the session (Session.capture),
    until one times out: behind a login wrapper that buffers output, a kept shell's end marker only
    comes when the shell exits, so this device gets one-shot shells for the rest of the run. When a
    one-shot capture then answers, the store remembers it and later runs start that way (for
    options.ONE_SHOT_SHELL_DAYS).
    """

    __slots__ = (
        "device",
        "in_kept_shell",
        "keep",
        "kept_shell_timed_out",
        "opts",
        "outcome",
        "samples_begun",
        "session",
        "shell_ok",
        "steady",
        "t0",
        "transport",
        "writer",
    )

    def __init__(
        self, device: Device, transport: Transport, writer: StoreWriter, opts: CollectOptions
    ) -> None:
        self.device, self.transport, self.writer, self.opts = device, transport, writer, opts
        self.outcome = DeviceOutcome(device.name)
        self.t0 = time.monotonic()  # sample k (from 0) is due at t0 + k x interval
        self.samples_begun = 0
        self.keep = opts.interval <= KEEP_CONNECTION_MAX_INTERVAL  # the session lives on between samples
        self.session: Session | None = None
        self.steady: frozenset[int] = frozenset()  # pids whose maps the next sample on this session may skip
        self.shell_ok = device.name not in writer.one_shot  # captures may run in a kept shell
        self.kept_shell_timed_out = False  # in this run, and not yet remembered in the store
        self.in_kept_shell = False  # the capture under way runs in the kept shell

    async def next_sample(self) -> bool:
        """Wait until the next sample is due; False when there is none (all taken, or ``until`` passed)."""
        opts = self.opts
        if opts.samples != 0 and self.samples_begun >= opts.samples:
            return False
        delay = self.t0 + self.samples_begun * opts.interval - time.monotonic()
        if opts.until is not None and time.time() + max(delay, 0.0) >= opts.until:
            return False
        if delay > 0:
            await asyncio.sleep(delay)
        self.samples_begun += 1
        return True

    async def sample(self) -> bool:
        """One attempt: connect if need be, capture, store, record; whether its status is ok."""
        started = time.monotonic()
        status: str
        error: str | None = None
        stored = False
        capture: _Capture | None = None
        self.in_kept_shell = False
        try:
            async with asyncio.timeout(self.device.timeout):
                capture = await self.capture(await self.connect())
        except TimeoutError:
            status, error = TIMEOUT, f"no answer within {self.device.timeout:g} s (connect + capture)"
            self.kept_shell_timed_out = self.kept_shell_timed_out or self.in_kept_shell
            self.shell_ok = False
        except DeviceError as exc:
            status, error = exc.status, str(exc)
        if capture is not None:  # stored outside the timeout: a busy writer is not the device's fault
            status, error, stored = await self.store(capture, started)
            capture = None  # done with: never hold raw bytes longer than needed
            if status == OK:
                await self.remember_one_shot_shell()
        if status != OK or not self.keep:
            await self.close()
        await self.record(status, error, stored, started)
        return status == OK

    async def connect(self) -> Session:
        """The kept session, or a new one (whose first capture reads every process in full)."""
        if self.session is None:
            self.session, self.steady = await self.transport.connect(self.device), frozenset()
        return self.session

    async def capture(self, session: Session) -> _Capture:
        """Run the capture script: light (--maps-every: the steady pids' maps and slabinfo left out)
        on all but one sample in ``maps_every`` of a kept session, in the kept shell when another
        sample follows on the session and this device's kept shell answers."""
        opts, k = self.opts, self.samples_begun
        light = self.keep and (k - 1) % opts.maps_every != 0
        skip = self.steady if light else frozenset()
        more = opts.samples == 0 or k < opts.samples
        self.in_kept_shell = self.keep and more and self.shell_ok
        return await _capture(session, opts, skip, not light, self.in_kept_shell, self.device.firmware_files)

    async def store(self, capture: _Capture, started: float) -> tuple[str, str | None, bool]:
        """Judge and store the capture: its status, error, and whether a sample was stored."""
        sampled = await _keep(capture, self.device, self.writer, self.opts, started)
        self.outcome.problems, self.steady = sampled.problems, sampled.steady
        return sampled.status, sampled.error, sampled.stored

    async def remember_one_shot_shell(self) -> None:
        """A capture answered after a kept shell timed out: later runs start on one-shot shells."""
        if self.kept_shell_timed_out:
            await self.writer.one_shot_shell(self.device)
            self.kept_shell_timed_out = False

    async def record(self, status: str, error: str | None, stored: bool, started: float) -> None:
        """The attempt in the outcome, and in the store unless it was recorded with its sample."""
        seconds = time.monotonic() - started
        outcome = self.outcome
        outcome.attempts += 1
        outcome.seconds += seconds
        outcome.status, outcome.error = status, error
        if stored:
            outcome.samples += 1
        else:
            await self.writer.attempt(self.device, status, error, seconds)

    def skip_missed_rounds(self) -> None:
        """After a failed attempt: skip the rounds it overran, so a hanging device adds at most one
        timeout to the run instead of one per sample."""
        if self.opts.interval > 0:
            overran = math.ceil((time.monotonic() - self.t0) / self.opts.interval)
            self.samples_begun = max(self.samples_begun, overran)

    async def failed(self, exc: Exception) -> None:
        """A bug met while sampling: this device's outcome and last attempt say so."""
        error = f"internal error: {type(exc).__name__}: {exc}"
        self.outcome.status, self.outcome.error = CAPTURE_ERROR, error
        with contextlib.suppress(Exception):
            await self.writer.attempt(self.device, CAPTURE_ERROR, error, 0.0)

    async def close(self) -> None:
        """End the session, if any (quietly: a failing close changes no outcome)."""
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.close()
        self.session = None


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
    session: Session,
    opts: CollectOptions,
    skip: frozenset[int],
    slabinfo: bool,
    keep_shell: bool,
    firmware_files: tuple[str, ...],
) -> _Capture:
    token = new_token()
    at = time.time()
    began = time.monotonic()
    script = capture_script(token, skip, slabinfo=slabinfo, firmware_files=firmware_files).encode()
    result = await session.capture(script, end_marker(token), opts.max_capture_bytes, keep=keep_shell)
    return _Capture(token, at, time.monotonic() - began, result)


async def _keep(
    capture: _Capture, device: Device, writer: StoreWriter, opts: CollectOptions, started: float
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
