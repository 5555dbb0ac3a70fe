"""Progress from collector events, without a lab: the tracker counts devices (not attempts) per
round, and the plain and JSON lines come at their cadence. The events are the ones the collector
emits (fleet.collect.events); the clock is a list the test advances, so rates and ETAs are exact."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from fleet.cli.progress import ProgressView, RunTracker
from fleet.collect.events import DeviceFinished, RunStarted, SampleDone, SampleStarted


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def attempt(t: RunTracker, device: str, k: int, status: str = "ok") -> None:
    t(SampleStarted(device, k))
    t(SampleDone(device, k, status, stored=status == "ok"))


def test_failing_devices_are_counted_once_and_leave_when_they_recover() -> None:
    """The issue's 50 failing devices shown as 150: a device failing three rounds is one failing
    device; one that answers again is no longer failing."""
    t = RunTracker(0)
    t(RunStarted(devices=3, samples=3, interval=1.0, until=None))
    for k in (1, 2, 3):
        attempt(t, "dead", k, "unreachable")
        attempt(t, "flaky", k, "timeout" if k == 1 else "ok")
        attempt(t, "good", k)
        snap = t.snapshot()
        assert snap.failing == ({"timeout": 1, "unreachable": 1} if k == 1 else {"unreachable": 1})
        assert (snap.round, snap.done, snap.rounds) == (k, 3, 3)
    assert snap.attempts == 9 and snap.samples == 5 and snap.failing_devices == 1  # good 3, flaky 2
    assert "1 failing device (unreachable 1)" in snap.line()


def test_rate_eta_and_the_next_round() -> None:
    clock = Clock()
    t = RunTracker(0, clock=clock)
    t(RunStarted(devices=10, samples=2, interval=60.0, until=None))
    for i in range(10):
        t(SampleStarted(f"d{i}", 1))
    clock.now += 2.0
    for i in range(4):
        t(SampleDone(f"d{i}", 1, "ok", stored=True))
    snap = t.snapshot()
    assert (snap.round, snap.done, snap.in_flight) == (1, 4, 6)
    assert snap.rate == pytest.approx(2.0) and snap.eta_s == pytest.approx(3.0)
    assert snap.line().startswith("round 1/2: 4/10 devices (40 %), 2.0/s, ETA 3 s; no failing devices;")
    clock.now += 3.0
    for i in range(4, 10):
        t(SampleDone(f"d{i}", 1, "ok", stored=True))
    clock.now += 10.0  # between rounds: round 1 is shown done, at its own rate, and when round 2 is due
    snap = t.snapshot()
    assert (snap.round, snap.done, snap.rate) == (1, 10, pytest.approx(2.0))
    assert snap.next_round_in_s == pytest.approx(45.0)
    assert "; next round in 45 s;" in snap.line()
    clock.now += 45.0
    t(SampleStarted("d0", 2))
    snap = t.snapshot()
    assert (snap.round, snap.done, snap.next_round_in_s) == (2, 0, None)
    assert snap.fields()["elapsed_s"] == 60.0


def test_skipped_rounds_and_finished_devices_count_as_done() -> None:
    """A hanging device overruns rounds 2 and 3 (the sampler skips them) and then has no sample
    left: the rounds it skipped are done for it, and the run is finished when every device is."""
    t = RunTracker(0)
    t(RunStarted(devices=2, samples=4, interval=1.0, until=None))
    attempt(t, "slow", 1, "timeout")
    attempt(t, "fast", 1)
    attempt(t, "fast", 2)
    t(SampleStarted("slow", 4))
    assert (t.snapshot().round, t.snapshot().done) == (3, 1)  # slow is past round 3, fast is not
    attempt(t, "fast", 3)
    t(SampleDone("slow", 4, "timeout", stored=False))
    t(DeviceFinished("slow", "timeout"))
    snap = t.snapshot()
    assert (snap.round, snap.done, snap.finished) == (4, 1, False)
    attempt(t, "fast", 4)
    t(DeviceFinished("fast", "ok"))
    snap = t.snapshot()
    assert (snap.round, snap.done, snap.finished, snap.failing) == (4, 2, True, {"timeout": 1})


def test_a_soak_run_shows_its_round_samples_and_end() -> None:
    t = RunTracker(0)
    t(RunStarted(devices=1, samples=0, interval=1.0, until=None))
    for k in range(1, 6):
        attempt(t, "cam", k)
    snap = t.snapshot()
    assert (snap.round, snap.rounds, snap.samples) == (5, None, 5)
    assert snap.line().startswith("round 5 (until stopped): 1/1 devices (100 %)")
    t(RunStarted(devices=1, samples=0, interval=1.0, until=1796688000.0))
    assert t.snapshot().round_text() == "round 5 (until 2026-12-08T00:00:00Z)"


def run_lines(mode: str, monkeypatch: pytest.MonkeyPatch, devices: int = 20) -> list[str]:
    monkeypatch.setenv("FLEET_PROGRESS_SECONDS", "3600")  # only the 10 % steps, no time-based lines
    out = io.StringIO()
    view = ProgressView(mode, 0, stream=out)
    view(RunStarted(devices=devices, samples=2, interval=0.0, until=None))
    for k in (1, 2):
        for i in range(devices):
            view(SampleStarted(f"d{i}", k))
            view(SampleDone(f"d{i}", k, "unreachable" if i == 0 else "ok", stored=i != 0))
    for i in range(devices):
        view(DeviceFinished(f"d{i}", "unreachable" if i == 0 else "ok"))
    view.finish()
    return out.getvalue().splitlines()


def test_plain_lines_come_each_ten_percent_of_a_round(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = run_lines("plain", monkeypatch)
    assert all(line.startswith("fleet: round ") for line in lines)
    done = [line.split(": ")[2].split(" devices")[0] for line in lines]
    # per round: the first device (0 %), then every 2 of 20; nothing after the run finished
    assert done == ["1/20", *[f"{n}/20" for n in range(2, 21, 2)]] * 2, lines
    assert all("1 failing device (unreachable 1)" in line for line in lines)


def test_json_lines_are_progress_events(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [json.loads(line) for line in run_lines("json", monkeypatch)]
    assert {e["event"] for e in events} == {"progress"} and len(events) == 22
    last = events[-1]
    assert (last["round"], last["rounds"], last["done"], last["devices"]) == (2, 2, 20, 20)
    assert last["failing"] == {"unreachable": 1} and last["failing_devices"] == 1
    assert last["samples"] == 38 and last["attempts"] == 40
    assert last["ts"].endswith("Z") and last["level"] == "info" and last["message"].startswith("round 2/2")


def test_nothing_is_written_without_a_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_lines("", monkeypatch) == []


def test_a_failing_progress_display_costs_no_device(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A display that raises (a bug; here on purpose, a fault no real display produces on demand)
    is warned about once and dropped: the devices keep their own outcomes, not an internal error."""
    import asyncio
    import socket

    from fleet.collect.collector import collect
    from fleet.collect.options import CollectOptions
    from fleet.inventory.model import Device
    from fleet.store.store import Store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed: every attempt is refused
    devices = [Device(name=f"cam-{i}", host="127.0.0.1", port=port, timeout=5) for i in range(3)]
    calls: list[object] = []

    def broken(event: object) -> None:
        calls.append(event)
        if isinstance(event, SampleDone):
            raise RuntimeError("display bug")

    fleet_log = logging.getLogger("fleet")  # it may not propagate (fleet.cli.logs.setup_logging)
    fleet_log.addHandler(caplog.handler)
    try:
        with Store(tmp_path / "store") as st:
            opts = CollectOptions(samples=2, interval=0.1)
            outcomes = asyncio.run(collect(devices, st, opts, progress=broken))
    finally:
        fleet_log.removeHandler(caplog.handler)
    assert [o.status for o in outcomes] == ["unreachable"] * 3
    assert [o.attempts for o in outcomes] == [2, 2, 2]
    assert sum(isinstance(c, SampleDone) for c in calls) == 1  # dropped after its first failure
    once = {id(r): r.getMessage() for r in caplog.records}  # a propagated record is seen twice
    assert list(once.values()) == ["progress no longer shown: RuntimeError: display bug"]


@pytest.mark.parametrize(("term", "mode"), [("xterm", "live"), ("dumb", "plain"), ("unknown", "plain")])
def test_a_terminal_that_cannot_redraw_gets_plain_lines(
    term: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr on a real pseudo-terminal: the live display only where rich can draw it (it draws
    nothing with TERM=dumb, so such a terminal would otherwise show no progress at all)."""
    import os
    import pty
    import sys

    from fleet.cli.progress import progress_view

    main, sub = pty.openpty()
    try:
        with os.fdopen(os.dup(sub), "w") as tty:
            monkeypatch.setattr(sys, "stderr", tty)
            monkeypatch.setenv("TERM", term)
            assert progress_view(3, json_lines=False, lines=True).mode == mode
            assert progress_view(3, json_lines=True, lines=True).mode == "json"
    finally:
        os.close(main)
        os.close(sub)
