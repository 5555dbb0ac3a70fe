"""Issue 24: slow leaks over nightly sweeps, staircases of stacks on short windows, and findings
that say how much history they rest on. The multi-night evaluation's small variant runs here; the
full one is ``python benchmarks/eval_analysis.py --nights 365`` (and the slow test below)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from analysis_builder import MiB, device, proc

from fleet.analysis import analyse_device, series, stats
from fleet.analysis.history import condense
from tests.support.synthetic import NIGHT_NON_LEAKS, night_history

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import eval_analysis

STACK = 8 * MiB


def staircase(minutes: int, every: int, bits: int) -> list:  # type: ignore[type-arg]
    """One new thread every ``every`` minutes, sampled every 5 minutes."""
    rows = []
    for i in range(minutes // 5 + 1):
        n = 10 + (i * 5 + 11) // every
        rows.append([proc(412, "AiApp", threads=n, stack_count=n - 1, stack_bytes=(n - 1) * STACK,
                          stack_size=STACK, thread_names={"AiApp": 1, "worker": n - 1},
                          vm_size=2200 * MiB + (n - 1) * STACK, address_bits=bits)])  # fmt: skip
    return rows


@pytest.mark.parametrize("bits", [32, 64])
def test_staircase_of_stacks_is_a_thread_leak(bits: int) -> None:
    """+1 thread every 12 minutes for 45 minutes (flat for the last 10): 4 steps, no fall."""
    p = analyse_device("cam", device(staircase(45, 12, bits))).processes[0]
    f = next(f for f in p.findings if f.kind == "thread_leak")
    assert f.severity in ("medium", "high") and p.leaking
    if bits == 32:  # named as the stack leak, the address space its consequence
        assert p.findings[0].kind == "thread_leak"
        assert "32-bit" in f.summary and "(from 45 min of samples)" in f.summary
        assert f.evidence["short_window"] == "yes" and int(f.evidence["exhausted_in_s"] or 0) > 0
    else:
        assert "exhausted_in_s" not in f.evidence


def test_two_steps_are_not_a_staircase() -> None:
    assert not analyse_device("cam", device(staircase(15, 12, 64))).processes[0].findings


def test_findings_say_how_many_nights_they_rest_on() -> None:
    samples, _ = night_history("heap_leak", 30, 2, 2 * MiB)
    p = next(p for p in analyse_device("cam", condense(samples)).processes if p.name == "target")
    f = next(f for f in p.findings if f.kind == "heap_growth")
    nights = f.evidence["nights"]
    assert isinstance(nights, int) and 2 <= nights <= 30 and f"over {nights} nights" in f.summary
    short = analyse_device("cam", device(staircase(45, 12, 64))).processes[0].findings[0]
    assert short.evidence["nights"] is None and "nights" not in short.summary


def test_night_histories_are_seeded() -> None:
    a, ta = night_history("weekly_log", 40, 3)
    b, tb = night_history("weekly_log", 40, 3)
    assert a == b and ta == tb and len(a) == 120
    assert len({dm.boot_id for _, dm in a}) == len(ta.reboots) + 1


KIB = 1024
DAY = 86400.0
T0 = 1_767_225_600.0 + 2 * 3600  # a Thursday, 02:00


def nightly(values: list[float], start: float = T0) -> tuple[list[float], list[float]]:
    """One look a night at ~02:00 (the sweep's start wanders by up to 20 minutes)."""
    return [start + k * DAY + (k * 7919 % 2400) - 1200 for k in range(len(values))], values


def weekly_buffer(nights: int, per_day: float, leak: float = 0.0, first_sunday: int = 3) -> list[float]:
    """A log buffer cleared every Sunday (night ``first_sunday`` and every 7th after), a leak beside it."""
    return [
        40 * MiB + per_day * ((k - first_sunday) % 7) + leak * k + (k * 37 % 5) * 64 * KIB
        for k in range(nights)
    ]


def test_week_apart_pairs_are_a_whole_number_of_weeks_apart() -> None:
    ts, _ = nightly([0.0] * 16)
    assert stats.weekday_pairs(ts) == [(0, 7), (0, 14), (1, 8), (1, 15), *((k, k + 7) for k in range(2, 9))]


@pytest.mark.parametrize("nights", [10, 14, 21, 60])
def test_a_buffer_cleared_every_sunday_is_no_leak_and_a_leak_beside_it_is(nights: int) -> None:
    flat = stats.detect_rise([nightly(weekly_buffer(nights, 3 * MiB))], 512 * KIB, 0.02)
    assert flat is None or flat.severity == "low"
    # The cycle's own spread counts as noise against the leak: three weeks of it here.
    if nights >= 21:
        leak = stats.detect_rise([nightly(weekly_buffer(nights, 3 * MiB, leak=2 * MiB))], 512 * KIB, 0.02)
        assert leak is not None and leak.severity in ("medium", "high")
        assert 1.5 * MiB < leak.slope * DAY < 2.5 * MiB  # the week-apart pairs see the leak, not the cycle


def test_a_warm_up_after_a_boot_is_no_leak() -> None:
    """+20 MiB over the first two nights of each boot, then level: week-apart pairs from those two
    nights rise, the settled ones do not."""
    boots = []
    for b in range(3):
        ys = [30 * MiB + 20 * MiB * (1 - 0.15**k) + (k * 53 % 7) * 48 * KIB for k in range(15)]
        boots.append(nightly(ys, T0 + b * 15 * DAY))
    for n in range(8, 16):
        t = stats.detect_rise([(ts[:n], ys[:n]) for ts, ys in boots], 512 * KIB, 0.02)
        assert t is None or t.severity == "low", n


def test_a_daemon_restarted_every_few_nights_leaks_in_every_instance() -> None:
    """Five nights an instance, +2 MiB a night from the same base: no week-apart pair in any
    instance, the pooled instances tell. The same with a warm-up instead of the leak does not."""
    leak, warm = [], []
    for i in range(8):
        ts, _ = nightly([0.0] * 5, T0 + i * 5 * DAY)
        noise = [((i * 5 + k) * 7919 % 9 - 4) * 256 * KIB for k in range(5)]
        leak.append((ts, [20 * MiB + 2 * MiB * k + e for k, e in enumerate(noise)]))
        warm.append((ts, [20 * MiB + 12 * MiB * (1 - 0.1**k) + e for k, e in enumerate(noise)]))
    found = stats.detect_rise(leak, 512 * KIB, 0.02, restarts=7)
    assert found is not None and found.severity in ("medium", "high")
    flat = stats.detect_rise(warm, 512 * KIB, 0.02, restarts=7)
    assert flat is None or flat.severity == "low"


def test_a_warm_up_tail_and_busy_nights_in_every_instance_are_no_leak() -> None:
    """A daemon restarted every week (generated histories, seeds 18 and 38 of the evaluation's
    15-54) whose warm-up still adds a little on its second and third day and whose instances often
    end on a busy night: pooled over its instances that rise is significant, but the median
    instance gains about a MiB past its warm-up, what each restart gives back (stats.RENEWED_GAIN).
    The same over reboots. A leak of 2 MiB a day restarted every 5-10 nights gains 4-16 times the
    least growth that counts."""
    samples, truth = night_history("watchdog", 365, 108_000)
    assert truth.restarts[:4] == (7, 14, 21, 28)
    night_35 = condense(samples[: 3 * 35])  # the night the evaluation found medium before
    target = next(p for p in analyse_device("d", night_35).processes if p.name == "target")
    assert not [f for f in target.findings if f.severity in ("medium", "high")]
    # Seed 38: four busy nights ending a 12-night instance, more ending others; every pair of looks
    # of each instance rises from its warm-up look (the test for a cycle that is not weekly).
    samples, truth = night_history("watchdog", 365, 128_000)
    target = next(
        p for p in analyse_device("d", condense(samples[: 3 * 228])).processes if p.name == "target"
    )
    assert not [f for f in target.findings if f.severity in ("medium", "high")]
    # Over reboots too: a steady daemon's looks rose by chance in the first week of a 12-night boot
    # (seed 24 of restart_heap_leak's; the leak is in another process).
    samples, truth = night_history("restart_heap_leak", 365, 114_001)
    daemon = next(
        p for p in analyse_device("d", condense(samples[: 3 * 28])).processes if p.name == "daemon1"
    )
    assert not [f for f in daemon.findings if f.severity in ("medium", "high")]
    samples, truth = night_history("restart_heap_leak", 45, 91_009)
    assert len(truth.restarts) == 4
    target = next(p for p in analyse_device("d", condense(samples)).processes if p.name == "target")
    assert [f.kind for f in target.findings if f.severity in ("medium", "high")] == ["heap_growth"]


def test_condensed_instances_of_a_restarted_daemon_count_past_their_warm_up() -> None:
    """Two instances seen night by night are too few to tell; six older ones condensed to two looks
    (weekly points) each, told how far into their life each look is (``starts``), join with their
    looks past the warm-up. Old instances whose first look is in the warm-up add nothing: their
    one settled look makes no pair."""
    recent, starts = [], []
    for i in range(2):
        ts, _ = nightly([0.0] * 5, T0 + (60 + i * 5) * DAY)
        noise = [(k * 7919 % 9 - 4) * 256 * KIB for k in range(5)]
        recent.append((ts, [20 * MiB + 2 * MiB * k + e for k, e in enumerate(noise)]))
        starts.append(ts[0] - 0.3 * DAY)
    old, old_warm, old_starts = [], [], []
    for i in range(6):
        start = T0 + i * 9 * DAY - 0.5 * DAY
        ts = [start + 2 * DAY, start + 6 * DAY]  # condensed: the medians of days 1-3 and 5-7
        old.append((ts, [20 * MiB + 2 * MiB * 2 + i * 64 * KIB, 20 * MiB + 2 * MiB * 6]))
        warm_ts = [start + 0.5 * DAY, start + 4 * DAY]  # the first look in the warm-up
        old_warm.append((warm_ts, [20 * MiB, 32 * MiB]))
        old_starts.append(start)
    alone = stats.detect_rise(recent, 512 * KIB, 0.02, restarts=1, starts=starts)
    assert alone is None or alone.severity == "low"
    found = stats.detect_rise(old + recent, 512 * KIB, 0.02, restarts=7, starts=old_starts + starts)
    assert found is not None and found.severity == "medium"
    assert 1.5 * MiB < found.slope * DAY < 2.5 * MiB
    # Without their starts the condensed instances are left out, as their warm-ups are.
    unknown = stats.detect_rise(old + recent, 512 * KIB, 0.02, restarts=7)
    assert unknown is None or unknown.severity == "low"
    warm = stats.detect_rise(old_warm + recent, 512 * KIB, 0.02, restarts=7, starts=old_starts + starts)
    assert warm is None or warm.severity == "low"


def test_an_instance_knows_when_it_started_from_uptime_and_start_time() -> None:
    """A condensed point's age in its instance: the boot (time - uptime) plus start_time ticks."""
    first, later = proc(7, "d", start_time=500 * 100), proc(8, "d", start_time=0)
    rows = [[first], [first], [later]]
    samples = device(rows, [T0, T0 + DAY, T0 + 2 * DAY], uptimes=[3600.0, 3600.0 + DAY, 3600.0 + 2 * DAY])
    samples[2] = (samples[2][0], replace(samples[2][1], uptime=None))  # a device that gave no uptime
    insts = series.instances(samples, series.boot_runs(samples))
    assert [i.pid for i in insts] == [7, 8]
    assert insts[0].started == pytest.approx(T0 - 3600.0 + 500.0)
    assert insts[1].started is None


def test_a_boot_whose_size_only_falls_in_steps_is_analysed() -> None:
    """Threads ending one by one over the last boot: the address space only falls, by a stack a
    step. The test for an alloc/free cycle of a few nights found its drops and no ramp, and took the
    median of no steps: the device's whole analysis failed (seen in a generated 'pool' history)."""
    earlier = nightly([79 * MiB, 87 * MiB, 86 * MiB, 95 * MiB, 86 * MiB, 94 * MiB, 78 * MiB, 86 * MiB])
    last = nightly([94 * MiB, 94 * MiB, 86 * MiB, 78 * MiB, 78 * MiB, 70 * MiB], T0 + 10 * DAY)
    assert stats._cycle_rise([earlier, last], 4 * MiB, 79 * MiB, 70 * MiB, 14) is None
    assert stats._cycle_rise([last], 4 * MiB, 94 * MiB, 70 * MiB, 6) is None
    samples, _ = night_history("pool", 365, 128_000)  # its boot of nights 68-73 is such a one
    assessment = analyse_device("dev", eval_analysis.prepare(samples[: 3 * 74]))
    assert not any(f.severity in ("medium", "high") for p in assessment.processes for f in p.findings)


def test_looks_that_happen_to_sit_near_their_line_do_not_make_the_noise_small() -> None:
    """A steady daemon's first 12 nights (+-0.5 MiB from night to night) that happen to drift up
    0.8 MiB: its five week-apart pairs all rise, and eight of its looks sit within 0.06 MiB of
    their line, so that scatter said the noise was 0.08 MiB and the drift was "medium" (seen in a
    generated history, seed 148011). The steps from night to night say 0.25 MiB: at most a watch
    item. The same looks with a leak of 2 MiB a day on top are still found."""
    ys = [31.5, 31.88, 31.75, 31.4, 31.85, 31.77, 31.41, 32.03, 31.96, 32.2, 32.27, 32.32]
    ts, values = nightly([y * MiB for y in ys])
    slope = stats.theil_sen(ts, values)
    assert (
        stats._scatter([(ts, values)], slope)
        < 0.1 * MiB
        < 0.2 * MiB
        < stats._step_scatter([(ts, values)], slope)
    )
    trend = stats.detect_rise([(ts, values)], 512 * 1024, 0.02)
    assert trend is None or trend.severity == "low"
    leak = stats.detect_rise([(ts, [y + 2 * MiB * k for k, y in enumerate(values)])], 512 * 1024, 0.02)
    assert leak is not None and leak.severity in ("medium", "high")


def test_the_looks_of_a_warm_up_are_no_alloc_free_cycle() -> None:
    """Steady daemons (+-0.5 MiB) whose first look after a start is still warming up: that look
    and four minima of noise rose in order, read as the rising minima of a cycle of a few nights
    (seen in generated histories: a watchdog's device, seed 158005, night 59; a warm-up's, 134002,
    night 200, ending on busy nights). Past their first day and a half they are noise."""
    for pattern, seed, night, name in (
        ("watchdog", 158_005, 59, "daemon1"),
        ("warmup", 134_002, 200, "target"),
    ):
        samples, _ = night_history(pattern, 365, seed)
        dev = analyse_device("dev", eval_analysis.prepare(samples[: 3 * night]))
        [proc] = [p for p in dev.processes if p.name == name]
        assert not [f for f in proc.findings if f.severity in ("medium", "high")], (pattern, proc.findings)
    started = T0 - 3600.0
    ramps = [40 * MiB + 3 * MiB * (k % 5) + 256 * 1024 * k for k in range(30)]  # a cycle of 5 nights, rising
    trend = stats._cycle_rise([nightly(ramps)], 512 * 1024, ramps[0], ramps[-1], 30, [started])
    assert trend is not None and trend.sawtooth


def test_a_decline_whose_forecast_is_less_certain_than_itself_is_a_watch_item() -> None:
    """MemAvailable over a history's first 13 nights (a device that leaks nothing: its log buffer
    started mid-week, busy nights its load average does not tell): it fell, but "0 in 70 days,
    give or take 456" says nothing yet. A watch item (low), with its forecast; a decline the data
    pin down stays medium."""
    samples, _ = night_history("noisy", 365, 145_001)
    samples = [(t, replace(dm, load1=None)) for t, dm in samples]  # busy nights not known as such
    dev = analyse_device("dev", eval_analysis.prepare(samples[: 3 * 13]))
    [f] = [f for f in dev.findings if f.kind == "mem_available_decline"]
    assert f.severity == "low" and f.evidence["uncertainty_s"] > f.evidence["exhausted_in_s"]
    assert "reaches 0 in about" in f.summary
    samples, _ = night_history("warmup", 365, 160_002)  # 83 days, give or take 43
    blind = [(t, replace(dm, load1=None)) for t, dm in samples]
    dev = analyse_device("dev", eval_analysis.prepare(blind[: 3 * 15]))
    [f] = [f for f in dev.findings if f.kind == "mem_available_decline"]
    assert f.severity == "medium" and f.evidence["uncertainty_s"] < f.evidence["exhausted_in_s"]
    # This device leaks nothing either: with its busy nights known (and left out) it is no verdict.
    dev = analyse_device("dev", eval_analysis.prepare(samples[: 3 * 15]))
    assert all(f.severity in ("info", "low") for f in dev.findings if f.kind == "mem_available_decline")


def test_a_weekly_buffer_in_a_daemon_restarted_every_few_nights_is_no_leak() -> None:
    """Every instance fills its buffer from its restart: each rises anew like a leak. The one whose
    Sunday came late gives back all it gained in one night, which a leak never does."""
    days = [(0, 5), (6, 11), (12, 17), (18, 23), (24, 29), (30, 38)]  # the last one sees Sunday, night 36
    segments = []
    for a, b in days:
        ts, _ = nightly([0.0] * (b - a + 1), T0 + a * DAY)
        ys = [20 * MiB + 3 * MiB * (k if a + k < 36 else a + k - 36) for k in range(b - a + 1)]
        segments.append((ts, [y + (i * 7919 % 9 - 4) * 64 * KIB for i, y in enumerate(ys)]))
    t = stats.detect_rise(segments, 512 * KIB, 0.02, restarts=5)
    assert t is None or t.severity == "low"
    # Without that Sunday it is what a restarted leaking daemon looks like.
    found = stats.detect_rise(segments[:-1], 512 * KIB, 0.02, restarts=4)
    assert found is not None and found.severity == "medium"


def test_a_thread_leak_restarted_by_early_reboots_is_found_on_its_boots_pooled() -> None:
    """One thread every two days, reboots on nights 5 and 9: no boot holds three settled
    week-apart pairs by night 19, the boots pooled do. The same boots with a weekly cycle of threads
    (a pool grown all week, shrunk on Sunday) are no leak."""
    bounds = [(0, 5), (5, 9), (9, 19)]

    def boots(value: Callable[[int, int], float]) -> list[tuple[list[float], list[float]]]:
        out = []
        for a, b in bounds:
            ts, _ = nightly([0.0] * (b - a), T0 + a * DAY)
            out.append((ts, [value(a + k, k) for k in range(b - a)]))
        return out

    leak = boots(lambda night, age: 12 + age // 2 + (night * 7919 % 5 == 0))
    found = stats.detect_rise(leak, 3, 0.0, stair=3)
    assert found is not None and found.severity in ("medium", "high")
    assert 0.3 < found.slope * DAY < 0.8
    assert stats.detect_rise(leak, 3, 0.0) is None or stats.detect_rise(leak, 3, 0.0).severity == "low"
    weekly = boots(lambda night, age: 12 + (night - 3) % 7 + (night * 7919 % 5 == 0))  # Sunday: night 3
    flat = stats.detect_rise(weekly, 3, 0.0, stair=3)
    assert flat is None or flat.severity == "low"


def test_a_count_that_rose_for_one_night_only_is_a_busy_night_left_out() -> None:
    """One thread every two days, and on night 9 six more for that night only: a usage peak whose
    load the sweep did not see (seed 142010 of the evaluation). Left out, the staircase is a leak
    by night 15; kept, its week-apart pairs disagree. Memory keeps such a look (there it may be
    noise); a pool grown all week and emptied on Sunday keeps its Saturdays."""
    ys = [8 + k // 2 + (6 if k == 9 else 0) for k in range(15)]
    found = stats.detect_rise([nightly(ys)], 3, 0.05, stair=3)
    assert found is not None and found.severity == "medium" and found.busy_nights == 1
    fds = stats.detect_rise([nightly(ys)], 3, 0.05, counts=True)
    assert fds is not None and fds.busy_nights == 1
    kept = stats.detect_rise([nightly(ys)], 3, 0.05)
    assert kept is not None and kept.busy_nights == 0 and kept.severity == "low"

    weekly = [12 + 3 * ((k - 3) % 7) for k in range(28)]  # Sunday: night 3
    ts, _ = nightly(weekly)
    assert stats._without_spikes(ts, weekly, 3) == (ts, weekly)
    weekly[15] += 15  # a Wednesday peak, its neighbours 6 apart on the ramp
    assert stats._without_spikes(ts, weekly, 3)[1] == weekly[:15] + weekly[16:]
    assert stats.detect_rise([nightly(weekly)], 3, 0.0, stair=3) is None


def test_address_space_beside_a_stack_leak_is_its_consequence() -> None:
    samples, _ = night_history("thread_leak_32", 60, 2, 1.0)
    p = next(p for p in analyse_device("cam", condense(samples)).processes if p.name == "target")
    leak = p.findings[0]
    assert leak.kind == "thread_leak"
    space = next(f for f in p.findings if f.kind == "address_space_exhaustion")
    assert ORDER.index(space.severity) <= ORDER.index(leak.severity) and space.score < leak.score
    assert "a consequence of the rtsp_worker stack leak" in space.summary
    assert space.evidence["consequence_of"] == "thread_leak"


ORDER = ["info", "low", "medium", "high"]


def test_small_multi_night_evaluation_holds_its_measured_quality() -> None:
    """Every pattern at every rate, 2 seeds x 42 nights, through condense (what users get). The
    year-long evaluation (benchmarks/README.md) is what meets or misses the issue's targets; this
    small one guards against a change that makes it worse: 42 nights of a device rebooted about
    every four weeks, busy nights left out, leave two of its 26 leaks unfound."""
    rows = eval_analysis.evaluate_nights(42, range(2))
    tot = eval_analysis.night_totals(rows)
    assert tot["precision"] >= 0.95 and tot["recall"] >= 0.9 and tot["right_kind"] >= 0.95, tot
    assert tot["false_alarm_histories"] == 0 and tot["other_loud"] == 0, [e for r in rows for e in r.examples]
    by = {(r.pattern, r.rate): r for r in rows}
    # Nights of the boot (or instance) the leak was found in, a reboot starting a leak anew, and
    # from the first night: the heap target (14) is not reached in one of the two (16 and 17).
    heap = by[("heap_leak", 2 * MiB)]
    assert all(d is not None for d in heap.detect) and max(heap.into_boot) <= 16, heap.into_boot
    assert max(d or 99 for d in heap.detect) <= 20, heap.detect
    for rate in (1.0, 2.0):
        thread = by[("thread_leak", rate)]
        assert max(d or 99 for d in thread.detect) <= 21, thread.detect
    assert by[("thread_leak", 0.5)].detect[0] == 16  # the other: not within 42 nights (reboots on 8, 32)


@pytest.mark.slow
def test_a_year_of_non_leaking_patterns_has_no_medium_or_high_finding() -> None:
    rows = eval_analysis.evaluate_nights(365, range(3), NIGHT_NON_LEAKS)
    assert sum(r.false_alarms for r in rows) == 0, [e for r in rows for e in r.examples]
    assert sum(r.other_loud for r in rows) == 0, [e for r in rows for e in r.examples]


def test_a_weekly_buffer_in_short_boots_is_no_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """logd of a generated history (seed 85 of the evaluation's 55-94, its first 28 nights: boots of
    12, 11 and 4 nights, a watchdog restarting the target every 5): each boot's buffer starts
    empty, so every pair of its looks rises and so do the week-apart pairs of its first days. It
    falls on Sundays only: a weekly cycle (stats._weekly_falls), not a cycle of some other length;
    and each boot's first Sunday ends its warm-up (stats._first_clears). Either rule suffices, and
    so does reading its short boots' noise without their medians' zero deviations (stats._scatter)."""
    samples, _ = night_history("watchdog", 365, 175_005)

    def logd() -> list[tuple[str, str]]:
        dev = analyse_device("cam", condense(samples[: 3 * 28]))
        p = next(p for p in dev.processes if p.name == "logd")
        return [(f.kind, f.severity) for f in p.findings if f.severity in ("medium", "high")]

    assert logd() == []
    with monkeypatch.context() as m:
        m.setattr(stats, "_first_clears", lambda used, _: [None] * len(used))
        assert logd() == []
    monkeypatch.setattr(stats, "_weekly_falls", lambda *_: False)
    assert logd() == []


def test_falls_on_one_weekday_are_a_weekly_cycle_and_falls_on_any_day_are_not() -> None:
    ts, _ = nightly([0.0] * 21)
    sundays = [30 * MiB + 2 * MiB * ((k - 3) % 7) + (k * 37 % 5) * 64 * KIB for k in range(21)]
    assert stats._weekly_falls([(ts, sundays)], 0.5 * MiB / DAY, 512 * KIB)
    every_third = [30 * MiB + 2 * MiB * (k % 3) + 0.5 * MiB * k for k in range(21)]
    assert not stats._weekly_falls([(ts, every_third)], 0.5 * MiB / DAY, 512 * KIB)
    rising = [30 * MiB + 2 * MiB * k for k in range(21)]
    assert not stats._weekly_falls([(ts, rising)], 2 * MiB / DAY, 512 * KIB)  # no fall at all


def test_a_boot_seen_in_one_sweep_is_one_look_not_a_trend() -> None:
    """A device rebooted after its first night (generated history, seed 122 of the evaluation's
    95-134): that night's three samples, a minute apart, climbed 5 -> 7 -> 8 threads on a busy
    night. One sweep is one look, and a boot seen once has no night-to-night change: no staircase
    of ~78 threads an hour."""
    times = [T0 + 60.0 * j for j in range(3)] + [T0 + k * DAY + 60.0 * j for k in (1, 2) for j in range(3)]
    threads = [5, 7, 8, 2, 2, 2, 7, 5, 5]
    rows = [[proc(351, "daemon1", threads=n, thread_names={"daemon1": 1, "worker": n - 1})] for n in threads]
    boots = ["boot-a"] * 3 + ["boot-b"] * 6
    uptimes = [3600.0 + t - times[0] for t in times[:3]] + [600.0 + t - times[3] for t in times[3:]]
    p = analyse_device("cam", device(rows, times, boot_ids=boots, uptimes=uptimes)).processes[0]
    assert not [f for f in p.findings if f.severity in ("medium", "high")], p.findings


@pytest.mark.parametrize(
    ("pattern", "seed", "night", "name", "rule", "off"),
    [
        # A pool's thread count drawn each night rose in three short boots by chance (p = 0.06):
        # their scatter was read too small (the middle one of three looks deviates by zero).
        ("pool", 172_004, 24, "target", None, None),
        # A log buffer whose two Sunday looks were busy (left out): its fall came on a Tuesday.
        ("watchdog", 221_005, 14, "logd", "_first_clears", lambda used, _: [None] * len(used)),
        # A steady daemon (+-0.5 MiB a night) whose dozen week-apart pairs agree by chance.
        ("pool", 116_004, 19, "daemon0", None, None),
        # A watchdog restarting the target every three nights: each instance's looks past its
        # first rise a little with the warm-up's tail, their noise read as a third smaller.
        ("watchdog", 224_005, 137, "target", None, None),
        # The target's log buffer in a daemon restarted in its first weeks, the Sunday looks that
        # show its clears busy (left out): each clear shows only as days that barely rose.
        ("weekly_log", 248_003, 17, "target", None, None),
        ("weekly_log", 260_003, 15, "target", None, None),
        # ... and one whose first instance started mid-week: its first clear took back three days.
        ("weekly_log", 135_003, 14, "target", "FALL_GAIN", 0.5),
    ],
)
def test_rises_by_chance_found_in_the_year_long_evaluation_are_no_leak(
    monkeypatch: pytest.MonkeyPatch,
    pattern: str,
    seed: int,
    night: int,
    name: str,
    rule: str | None,
    off: object,
) -> None:
    """Generated non-leaking histories (benchmarks/README.md) that had a medium finding."""
    samples, _ = night_history(pattern, 365, seed)

    def loud() -> list[tuple[str, str]]:
        dev = analyse_device("cam", condense(samples[: 3 * night]))
        p = next(p for p in dev.processes if p.name == name)
        return [(f.kind, f.severity) for f in p.findings if f.severity in ("medium", "high")]

    assert loud() == []
    if rule is not None:
        monkeypatch.setattr(stats, rule, off)
        assert loud() != []  # what the rule prevents
