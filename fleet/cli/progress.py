"""What a collect (or sweep) shows while it runs, and the summary a collect prints at the end.

The collector emits events (fleet.collect.events); :class:`RunTracker` folds them into where the
run is, counting devices, not attempts: a device failing three times is one failing device, and a
device that answers again leaves the count. :class:`ProgressView` shows that on stderr: a live
display (rich) on a terminal; elsewhere, when asked, one plain line (or one JSON object, with
``--log-json``) every ``FLEET_PROGRESS_SECONDS`` (10 s) or each 10 % of a round, whichever comes first.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from fleet.cli.logs import json_line
from fleet.collect.events import DeviceFinished, ProgressEvent, RunStarted, SampleDone, SampleStarted
from fleet.ssh.outcomes import OK
from fleet.text import duration, iso, plural, visible

if TYPE_CHECKING:  # rich loads only when a terminal shows the live display
    from rich.console import RenderableType

    from fleet.collect.sampler import DeviceOutcome

# Plain and JSON progress lines: at most this many seconds apart while the run moves (tests set it lower).
PROGRESS_SECONDS_ENV = "FLEET_PROGRESS_SECONDS"
DEFAULT_PROGRESS_SECONDS = 10.0
_ALL_ROUNDS = sys.maxsize  # a finished device is done with every round


@dataclass(frozen=True)
class Snapshot:
    """Where the run is now: ``round`` is the earliest round some device has still to do, or
    between rounds the one just done."""

    devices: int
    round: int
    rounds: int | None  # None: until stopped (--samples 0)
    done: int  # devices done with ``round`` (sampled, failed or past it)
    rate: float | None  # devices per second through ``round``
    eta_s: float | None  # until ``round`` is done at that rate
    next_round_in_s: float | None  # ``round`` is done: when the next one's first sample is due
    failing: dict[str, int]  # devices whose latest attempt failed, by status
    samples: int  # stored by this run
    attempts: int
    in_flight: int  # samples under way
    elapsed_s: float
    until: float | None  # epoch seconds
    finished: bool

    @property
    def failing_devices(self) -> int:
        return sum(self.failing.values())

    def round_text(self) -> str:
        if self.rounds is not None:
            return f"round {self.round}/{self.rounds}"
        until = f"until {iso(self.until)}" if self.until is not None else "until stopped"
        return f"round {self.round} ({until})"

    def failing_text(self) -> str:
        if not self.failing:
            return "no failing devices"
        kinds = ", ".join(f"{status} {n}" for status, n in self.failing.items())
        return f"{plural(self.failing_devices, 'failing device')} ({kinds})"

    def line(self) -> str:
        """One line for a log: ``round 2/3: 640/1000 devices (64 %), 52.1/s, ETA 7 s; ...``."""
        head = f"{self.round_text()}: {self.done}/{self.devices} devices ({self.percent()} %)"
        if self.rate is not None:
            head += f", {self.rate:.1f}/s"
        if self.eta_s is not None and self.done < self.devices:
            head += f", ETA {duration(self.eta_s)}"
        if self.next_round_in_s is not None:
            head += f"; next round in {duration(self.next_round_in_s)}"
        return (
            f"{head}; {self.failing_text()};"
            f" {self.samples} samples stored, {duration(self.elapsed_s)} elapsed"
        )

    def percent(self) -> int:
        return self.done * 100 // self.devices if self.devices else 100

    def fields(self) -> dict[str, Any]:
        """The snapshot as the fields of a JSON ``progress`` event (docs/interface.md)."""
        return {
            "round": self.round,
            "rounds": self.rounds,
            "done": self.done,
            "devices": self.devices,
            "rate": None if self.rate is None else round(self.rate, 2),
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "next_round_in_s": None if self.next_round_in_s is None else round(self.next_round_in_s, 1),
            "failing": dict(self.failing),
            "failing_devices": self.failing_devices,
            "samples": self.samples,
            "attempts": self.attempts,
            "elapsed_s": round(self.elapsed_s, 1),
        }


@dataclass
class RunTracker:
    """Collector events in, :class:`Snapshot` out. Events come from the event loop, snapshots may be
    asked for from a display thread: both hold the lock."""

    devices: int
    samples: int = 1
    interval: float = 0.0
    until: float | None = None
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)
    lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    covered: dict[str, int] = field(init=False, default_factory=dict)  # device -> last round done
    done_at: Counter[int] = field(init=False, default_factory=Counter)  # last round done -> devices
    began: dict[int, float] = field(init=False, default_factory=dict)  # round -> its first start
    last_done: dict[int, float] = field(init=False, default_factory=dict)  # round -> its latest end
    latest: int = field(init=False, default=0)  # the latest round begun (a soak run has thousands)
    status: dict[str, str] = field(init=False, default_factory=dict)  # device -> latest status
    failing: Counter[str] = field(init=False, default_factory=Counter)  # status -> devices
    stored: int = field(init=False, default=0)
    attempts: int = field(init=False, default=0)
    in_flight: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def __call__(self, event: ProgressEvent) -> None:
        with self.lock:
            if isinstance(event, SampleStarted):
                self.began.setdefault(event.round, self.clock())
                self.latest = max(self.latest, event.round)
                self.in_flight += 1
                self._cover(event.device, event.round - 1)  # rounds it skipped are behind it
            elif isinstance(event, SampleDone):
                self.in_flight -= 1
                self.attempts += 1
                self.stored += event.stored
                self.last_done[event.round] = self.clock()
                self._cover(event.device, event.round)
                self._set_status(event.device, event.status)
            elif isinstance(event, DeviceFinished):
                self._cover(event.device, _ALL_ROUNDS)
                if event.status != "pending":  # a device never tried (until passed) has no status
                    self._set_status(event.device, event.status)
            elif isinstance(event, RunStarted):
                self.devices, self.samples = event.devices, event.samples
                self.interval, self.until = event.interval, event.until
                self.started = self.clock()

    def _cover(self, device: str, round_: int) -> None:
        before = self.covered.get(device, 0)
        if round_ > before:
            self.covered[device] = round_
            if before:
                self.done_at[before] -= 1
                if not self.done_at[before]:
                    del self.done_at[before]
            self.done_at[round_] += 1

    def _set_status(self, device: str, status: str) -> None:
        before = self.status.get(device)
        if before == status:
            return
        self.status[device] = status
        if before is not None and before != OK:
            self.failing[before] -= 1
            if not self.failing[before]:
                del self.failing[before]
        if status != OK:
            self.failing[status] += 1

    def _done(self, round_: int) -> int:
        return sum(n for last, n in self.done_at.items() if last >= round_)

    def snapshot(self) -> Snapshot:
        with self.lock:
            now = self.clock()
            rounds = self.samples or None
            lowest = min((k for k, n in self.done_at.items() if n), default=0)
            if len(self.covered) < self.devices:
                lowest = 0
            open_ = None if lowest in (_ALL_ROUNDS, rounds) else lowest + 1
            if open_ is not None and (open_ == 1 or self.latest >= open_):
                round_ = open_  # under way (or the first, not begun yet)
            elif open_ is not None:
                round_ = open_ - 1  # between rounds: the last one is complete
            else:
                round_ = rounds or max(self.latest, 1)  # every device is done
            done = min(self._done(round_), self.devices)
            began = self.began.get(round_)
            end = self.last_done.get(round_, now) if done >= self.devices else now
            rate = done / (end - began) if began is not None and done and end > began else None
            next_in = None
            if open_ is not None and open_ != round_ and 1 in self.began:
                next_in = max(
                    0.0, self.began[1] + (open_ - 1) * self.interval - now
                )  # k-th: interval x (k-1) on
            return Snapshot(
                devices=self.devices,
                round=round_,
                rounds=rounds,
                done=done,
                rate=rate,
                eta_s=(self.devices - done) / rate if rate else None,
                next_round_in_s=next_in,
                failing=dict(sorted(self.failing.items())),
                samples=self.stored,
                attempts=self.attempts,
                in_flight=self.in_flight,
                elapsed_s=now - self.started,
                until=self.until,
                finished=open_ is None and lowest == _ALL_ROUNDS,
            )


class ProgressView:
    """The tracker plus how it is shown: ``"live"`` (rich, on a terminal), ``"plain"`` or
    ``"json"`` lines, or nothing. Call it with events; ``finish`` once the run ends or stops."""

    def __init__(self, mode: str | None, devices: int, stream: TextIO | None = None) -> None:
        self.mode, self.stream = mode, stream or sys.stderr
        self.tracker = RunTracker(devices)
        self.every = progress_seconds()
        self.last_line = (0, -1)  # (round, tenth of it) of the last line written
        self.last_at = self.tracker.clock()
        self.last_attempts = -1
        self.write_lock = threading.Lock()
        self.stop = threading.Event()
        self.live: Any = None
        self.ticker: threading.Thread | None = None
        if mode == "live":
            self.live = _start_live(self.tracker, self.stream)
        elif mode in ("plain", "json"):  # a line every ``every`` s also while devices hang
            self.ticker = threading.Thread(target=self._tick, name="fleet-progress", daemon=True)
            self.ticker.start()

    def __call__(self, event: ProgressEvent) -> None:
        self.tracker(event)
        if self.mode in ("plain", "json") and isinstance(event, SampleDone | DeviceFinished):
            self._maybe_line(self.tracker.snapshot())

    def _tick(self) -> None:
        while not self.stop.wait(min(1.0, self.every)):
            self._maybe_line(self.tracker.snapshot())

    def _maybe_line(self, snap: Snapshot) -> None:
        """A line each 10 % of a round, or when ``every`` seconds passed and the run moved (or has
        samples under way): between rounds of a long interval nothing changes, so nothing is said."""
        with self.write_lock:
            step = (snap.round, snap.percent() // 10)
            now = self.tracker.clock()
            moved = not snap.finished and (snap.attempts != self.last_attempts or snap.in_flight > 0)
            if not (step > self.last_line or (now - self.last_at >= self.every and moved)):
                return
            self.last_line, self.last_at, self.last_attempts = max(step, self.last_line), now, snap.attempts
            if self.mode == "json":
                text = json_line("info", "progress", snap.line(), snap.fields(), time.time())
            else:
                text = f"fleet: {snap.line()}"
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # stderr closed (a pipe's reader gone): the run goes on
                self.mode = None

    def finish(self) -> None:
        """Stop drawing (the live display is cleared: the summary follows) and stop the ticker."""
        self.stop.set()
        if self.ticker is not None:
            self.ticker.join()
            self.ticker = None
        if self.live is not None:
            self.live.stop()
            self.live = None


DUMB_TERMINALS = ("dumb", "unknown")  # rich's Console.is_dumb_terminal


def progress_view(devices: int, *, json_lines: bool, lines: bool, live: bool = True) -> ProgressView:
    """How a run shows its progress on stderr: a live display on a terminal when ``live`` (never
    with ``--log-json``); else, when ``lines``, plain lines or JSON ``progress`` events; else
    nothing (and nothing for a run without devices: ``sweep --no-collect``). A terminal that says
    it cannot move the cursor (TERM=dumb or unknown, as rich reads it) gets the plain lines: rich
    would draw nothing there."""
    if not devices:
        return ProgressView(None, devices)
    if json_lines:
        return ProgressView("json" if lines else None, devices)
    if sys.stderr.isatty() and os.environ.get("TERM", "").lower() not in DUMB_TERMINALS:
        return ProgressView("live" if live else None, devices)
    return ProgressView("plain" if lines else None, devices)


def progress_seconds() -> float:
    """``FLEET_PROGRESS_SECONDS``: the most seconds between two progress lines (default 10; the
    tests use a fraction of a second)."""
    try:
        seconds = float(os.environ.get(PROGRESS_SECONDS_ENV, DEFAULT_PROGRESS_SECONDS))
    except ValueError:
        return DEFAULT_PROGRESS_SECONDS
    return seconds if 0 < seconds < float("inf") else DEFAULT_PROGRESS_SECONDS


class _Display:
    """The live display's content, drawn afresh on every refresh (elapsed time and ETA tick
    between events): round and bar, failing devices by status, samples and elapsed time."""

    def __init__(self, tracker: RunTracker) -> None:
        self.tracker = tracker

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        snap = self.tracker.snapshot()
        speed = f"{snap.rate:.1f} devices/s" if snap.rate is not None else ""
        eta = f"ETA {duration(snap.eta_s)}" if snap.eta_s is not None and snap.done < snap.devices else ""
        if snap.next_round_in_s is not None:
            eta = f"next round in {duration(snap.next_round_in_s)}"
        top = Table.grid(padding=(0, 1))
        top.add_row(
            Text(snap.round_text(), style="bold"),
            ProgressBar(total=max(snap.devices, 1), completed=snap.done, width=30),
            Text(f"{snap.done}/{snap.devices} devices"),
            Text(speed),
            Text(eta),
        )
        failing = Text(visible(snap.failing_text()), style="red" if snap.failing else "green")
        stored = Text(f"{snap.samples} samples stored, {duration(snap.elapsed_s)} elapsed", style="dim")
        return Group(top, failing, stored)


def _start_live(tracker: RunTracker, stream: TextIO) -> Any:
    from rich.console import Console
    from rich.live import Live

    console = Console(file=stream, highlight=False, soft_wrap=False)
    live = Live(
        _Display(tracker),
        console=console,
        refresh_per_second=4,
        transient=True,  # the summary follows on stdout
        redirect_stdout=False,  # the summary comes after the display is gone
        redirect_stderr=True,  # log lines (a warning) print above the display, not through it
    )
    live.start()
    return live


# Failed (or partial) devices named per status in the summary; a site down must not bury the one
# wrong key under 300 "unreachable" lines, and `fleet rank` lists every device with its error.
SHOWN_PER_STATUS = 10


def summarize(outcomes: list[DeviceOutcome], seconds: float) -> str:
    """The end-of-run summary: counts by status, then a line per failed or partial device, at most
    SHOWN_PER_STATUS of each status, and how many more."""
    from fleet.collect.sampler import status_counts

    by_status = status_counts(outcomes)
    samples = sum(o.samples for o in outcomes)
    ok = by_status.get(OK, 0)
    counts = ", ".join(f"{s} {n}" for s, n in sorted(by_status.items()) if s != OK)
    lines = [
        f"collected {ok}/{len(outcomes)} devices, {samples} samples in {seconds:.1f} s"
        + (f" ({counts})" if counts else "")
    ]
    seen: Counter[str] = Counter()
    for o in outcomes:
        if o.status != OK:
            kind, line = o.status, f"  {o.name}: {o.status}: {o.error}"
        elif o.problems:
            kind, line = "partial sample", f"  {o.name}: partial sample: {'; '.join(o.problems[:3])}"
        else:
            continue
        seen[kind] += 1
        if seen[kind] <= SHOWN_PER_STATUS:
            lines.append(line)
    for kind, n in sorted(seen.items()):
        if n > SHOWN_PER_STATUS:
            lines.append(f"  ... and {n - SHOWN_PER_STATUS} more {kind} (fleet rank lists every device)")
    return "\n".join(visible(line) for line in lines)  # device text cannot drive the terminal
