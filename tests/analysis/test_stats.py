"""Theil-Sen, Mann-Kendall and the rise/decline decision on plain number series."""

from __future__ import annotations

import random
import time

from fleet.analysis.stats import detect_decline, detect_rise, kendall_s, one_sided_p, theil_sen

MiB = 1024 * 1024


def irregular_times(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    t = [0.0]
    for _ in range(n - 1):
        t.append(t[-1] + rng.uniform(60, 900))
    return t


def test_theil_sen_uses_real_timestamps_and_ignores_an_outlier() -> None:
    ts = irregular_times(20)
    ys = [3.0 * t + 7 for t in ts]
    ys[5] += 1e9
    assert abs(theil_sen(ts, ys) - 3.0) < 1e-9


def test_mann_kendall_needs_more_than_three_points_to_be_significant() -> None:
    s, var, _ = kendall_s([1, 2, 3])
    assert one_sided_p(s, var) > 0.1
    s, var, _ = kendall_s(list(range(10)))
    assert one_sided_p(s, var) < 0.001


def test_ties_are_corrected() -> None:
    _s, var, _ = kendall_s([1, 1, 1, 2, 2, 2, 3, 3, 3])
    assert var < 9 * 8 * 23 / 18


def test_noise_of_a_few_pages_is_not_a_rise() -> None:
    rng = random.Random(1)
    ts = irregular_times(30)
    ys = [50 * MiB + rng.gauss(0, 16 * 1024) for _ in ts]
    assert detect_rise([(ts, ys)], 512 * 1024, 0.02) is None


def test_steady_growth_is_high_and_slope_is_per_second() -> None:
    rng = random.Random(2)
    ts = irregular_times(30)
    ys = [20 * MiB + 400.0 * t + rng.gauss(0, 8192) for t in ts]
    trend = detect_rise([(ts, ys)], 512 * 1024, 0.02)
    assert trend is not None
    assert trend.severity == "high"
    assert abs(trend.slope - 400.0) / 400.0 < 0.05
    assert trend.slope_lo <= trend.slope <= trend.slope_hi
    assert trend.tau > 0.8


def test_three_samples_are_a_watch_at_most() -> None:
    trend = detect_rise([([0.0, 300.0, 600.0], [1 * MiB, 50 * MiB, 100 * MiB])], 512 * 1024)
    assert trend is not None and trend.severity == "low"


def test_warm_up_plateau_is_rejected() -> None:
    rng = random.Random(3)
    ts = [i * 300.0 for i in range(30)]
    ys = [10 * MiB + min(i, 8) * 2 * MiB + rng.gauss(0, 8192) for i in range(30)]
    assert detect_rise([(ts, ys)], 512 * 1024, 0.02) is None


def test_sawtooth_flat_minima_is_not_a_leak_rising_minima_is() -> None:
    ts = [i * 300.0 for i in range(40)]
    flat = [10 * MiB + (i % 5) * 4 * MiB for i in range(40)]
    rising = [10 * MiB + (i % 5) * 4 * MiB + i * 1 * MiB for i in range(40)]
    assert detect_rise([(ts, flat)], 512 * 1024, 0.02) is None
    trend = detect_rise([(ts, rising)], 512 * 1024, 0.02)
    assert trend is not None and trend.sawtooth
    assert trend.severity in ("medium", "high")
    assert abs(trend.per_hour - 12 * MiB) / (12 * MiB) < 0.1


def test_restart_masked_leak_pools_segments() -> None:
    segments = []
    for k in range(5):
        ts = [(k * 6 + i) * 300.0 for i in range(6)]
        segments.append((ts, [10 * MiB + i * MiB for i in range(6)]))
    trend = detect_rise(segments, 512 * 1024, 0.02)
    assert trend is not None
    assert trend.segments == 5
    assert abs(trend.slope - MiB / 300.0) < 1e-6
    assert trend.severity == "high"


def test_restarts_with_flat_segments_are_not_a_leak() -> None:
    segments = []
    for k in range(5):
        ts = [(k * 6 + i) * 300.0 for i in range(6)]
        segments.append((ts, [10 * MiB + (MiB if i else 0) for i in range(6)]))
    assert detect_rise(segments, 512 * 1024, 0.02) is None


def test_decline_mirrors_rise() -> None:
    ts = [i * 600.0 for i in range(12)]
    ys = [200 * MiB - 1000.0 * t for t in ts]
    trend = detect_decline([(ts, ys)], 4 * MiB)
    assert trend is not None
    assert abs(trend.slope + 1000.0) < 1e-6
    assert trend.slope_lo <= trend.slope <= trend.slope_hi
    assert abs(trend.level - ys[-1]) < 1


def test_long_series_stays_fast() -> None:
    rng = random.Random(4)
    ts = [i * 60.0 for i in range(1000)]
    ys = [MiB * 20 + 50.0 * t + rng.gauss(0, 8192) for t in ts]
    start = time.perf_counter()
    trend = detect_rise([(ts, ys)], 512 * 1024, 0.02)
    assert time.perf_counter() - start < 0.5
    assert trend is not None and abs(trend.slope - 50.0) / 50.0 < 0.05
