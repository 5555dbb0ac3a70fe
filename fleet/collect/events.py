"""What a collection tells about itself while it runs: events, for whoever shows progress.

The collector only emits these (on the event loop, after each step); it knows nothing of terminals
or log formats. fleet.cli.progress turns them into a live display, plain lines or JSON. A "round"
is every device's k-th sample: devices run on their own clocks, so a round's samples overlap the
next round's when the fleet is larger than the devices connected at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunStarted:
    """The run is set up (store open, devices registered); nothing contacted yet."""

    devices: int
    samples: int  # per device; 0: until stopped (or until ``until``)
    interval: float  # seconds between one device's samples
    until: float | None  # epoch seconds: no sample starts at or after it


@dataclass(frozen=True, slots=True)
class SampleStarted:
    """A device's sample ``round`` (from 1) begins: connect if need be, then capture. Rounds a
    failing device overran are skipped, so ``round`` may jump."""

    device: str
    round: int


@dataclass(frozen=True, slots=True)
class SampleDone:
    """A device's sample ``round`` ended with ``status`` (fleet.ssh.outcomes); ``stored`` when a
    sample went into the store (a cut-short capture is stored with status capture_error)."""

    device: str
    round: int
    status: str
    stored: bool


@dataclass(frozen=True, slots=True)
class DeviceFinished:
    """A device takes no more samples in this run (all taken, ``until`` passed, or a bug)."""

    device: str
    status: str


ProgressEvent = RunStarted | SampleStarted | SampleDone | DeviceFinished
Progress = Callable[[ProgressEvent], None]
