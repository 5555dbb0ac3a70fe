"""Robust trend statistics: Theil-Sen slope, Mann-Kendall test, and the leak/no-leak decision.

Everything works on *segments*: pieces of one series that belong to one process instance (or one
boot of a device). Pairs are only ever formed inside a segment, so a restart or a reboot, which
drops memory back to its start, is never read as "memory recovering"; and a leak that a watchdog
keeps hiding still shows, because every segment regrows at the same slope. Pooling pairwise slopes
and Kendall scores over segments is the "seasonal Kendall" idea of Hirsch, Slack & Smith (1982).

Pure Python: series are short (3 to ~1,000 points); above ``MAX_POINTS`` they are thinned by a
stride before the O(n^2) pair loops, which keeps a 1,000-point series at a few milliseconds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

# A segment: parallel tuples of timestamps (seconds) and values.
Segment = tuple[Sequence[float], Sequence[float]]

MAX_POINTS = 200  # above this many points a series is thinned before the pairwise statistics
# One sweep's samples (three a minute apart, by default) are one look at the device: a leak of a few
# MiB a day shows only from night to night, through noise no minute-apart repeat can average out.
BURST_GAP = 3600.0  # samples closer than this belong to one sweep
MAX_BURST = 6  # a longer run of samples is a session of its own, judged sample by sample
SPARSE_GAP = 6 * 3600.0  # looks this far apart (typically) are nightly
# A log buffer cleared every Sunday or a warm-up after a boot rises for days: on nightly looks only
# pairs about a week apart or more count (6.5 days: a sweep's start time wanders by an hour or so).
WEEK_LAG = 6.5 * 86400.0
SPARSE_P = 0.1  # nightly trends are read again every night for a year: p-values 10x stricter
WEEK_P = 0.05
NOISE_FACTOR = 2.0
SPARSE_NOISE = 2.0  # growth must exceed this many standard deviations of the scatter around the line


@dataclass(frozen=True)
class Trend:
    """A rising trend that passed every test, with the numbers that justify it."""

    slope: float  # units per second, pooled Theil-Sen over within-segment pairs
    slope_lo: float  # ~95 % confidence interval of the slope (Sen 1968)
    slope_hi: float
    tau: float  # Kendall tau over within-segment pairs, -1..1
    p_value: float  # one-sided Mann-Kendall p-value for "rising"
    samples: int  # points the test used (cycle minima for a sawtooth)
    segments: int  # process instances / boots the points came from
    window_s: float  # seconds covered by the segments (gaps between them excluded)
    first: float  # first value of the first segment
    last: float  # last value of the last segment
    level: float  # fitted value at the end of the last segment
    growth: float  # slope * window_s: what the trend added over the window
    threshold: float  # minimum growth that counted as "not noise"
    recent_slope: float  # slope of the recent part of the last segment
    sawtooth: bool  # True when the test ran on cycle minima
    severity: str  # "high" | "medium" | "low"
    nights: int = 0  # nights (days) the trend spans when it rests on several sweeps; 0 within one session
    noise: float = 0.0  # robust standard deviation of the points around the fitted line

    @property
    def per_hour(self) -> float:
        """Slope per hour, the unit the summaries speak."""
        return self.slope * 3600.0


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def thin(ts: Sequence[float], ys: Sequence[float], limit: int) -> Segment:
    """Keep every k-th point (and the last) so at most ~``limit`` points remain."""
    n = len(ts)
    if n <= limit:
        return ts, ys
    step = math.ceil(n / limit)
    idx = list(range(0, n, step))
    if idx[-1] != n - 1:
        idx.append(n - 1)
    return [ts[i] for i in idx], [ys[i] for i in idx]


def looks(ts: Sequence[float], ys: Sequence[float]) -> Segment:
    """One point per sweep (the median time and value of its samples) when a series is made of
    several short sweeps; unchanged otherwise. Runs longer than ``MAX_BURST`` keep every sample."""
    n = len(ts)
    if n < 2 or ts[-1] - ts[0] <= BURST_GAP:
        return ts, ys
    out_t: list[float] = []
    out_y: list[float] = []
    a = 0
    for i in range(1, n + 1):
        if i == n or ts[i] - ts[i - 1] > BURST_GAP:
            if i - a <= MAX_BURST:
                out_t.append(median(ts[a:i]))
                out_y.append(median(ys[a:i]))
            else:
                out_t.extend(ts[a:i])
                out_y.extend(ys[a:i])
            a = i
    return out_t, out_y


def sweeps(ts: Sequence[float]) -> int:
    """How many separate sweeps (runs of samples less than ``BURST_GAP`` apart) ``ts`` holds."""
    return sum(1 for i in range(len(ts)) if i == 0 or ts[i] - ts[i - 1] > BURST_GAP)


def pair_slopes(ts: Sequence[float], ys: Sequence[float], lag: float = 0.0) -> list[float]:
    """All pairwise slopes (y_j - y_i) / (t_j - t_i) for i < j, t_j - t_i > 0 and >= ``lag``."""
    out: list[float] = []
    n = len(ts)
    for i in range(n - 1):
        ti, yi = ts[i], ys[i]
        for j in range(i + 1, n):
            dt = ts[j] - ti
            if dt > 0 and dt >= lag:
                out.append((ys[j] - yi) / dt)
    return out


def theil_sen(ts: Sequence[float], ys: Sequence[float], lag: float = 0.0, default: float = 0.0) -> float:
    """Theil-Sen slope of one segment over pairs at least ``lag`` apart (``default`` without any)."""
    slopes = pair_slopes(*thin(ts, ys, MAX_POINTS), lag)
    return median(slopes) if slopes else default


def kendall_s(ys: Sequence[float]) -> tuple[int, float, int]:
    """Mann-Kendall S, its variance under "no trend" (tie-corrected), and the number of pairs."""
    n = len(ys)
    s = 0
    for i in range(n - 1):
        yi = ys[i]
        for j in range(i + 1, n):
            d = ys[j] - yi
            if d > 0:
                s += 1
            elif d < 0:
                s -= 1
    # Integer series (threads, fds) have many ties; without the correction the test is too strict.
    counts: dict[float, int] = {}
    for y in ys:
        counts[y] = counts.get(y, 0) + 1
    ties = sum(c * (c - 1) * (2 * c + 5) for c in counts.values() if c > 1)
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    return s, var, n * (n - 1) // 2


def kendall_lagged(ts: Sequence[float], ys: Sequence[float], lag: float) -> tuple[int, float, int]:
    """Mann-Kendall S over the pairs at least ``lag`` apart, its variance under "no trend", pairs.

    The variance is exact for any set of pairs (no ties): each pair's sign has variance 1, two
    pairs sharing their earlier or their later point covary by +1/3, two sharing a point that is
    the earlier of one and the later of the other by -1/3. With every pair this is the usual
    n(n-1)(2n+5)/18.
    """
    n = len(ts)
    s = 0
    first = [0] * n  # pairs in which point i is the earlier one
    second = [0] * n  # ... the later one
    for i in range(n - 1):
        yi = ys[i]
        for j in range(i + 1, n):
            if ts[j] - ts[i] < lag:
                continue
            first[i] += 1
            second[j] += 1
            d = ys[j] - yi
            s += (d > 0) - (d < 0)
    m = sum(first)
    shared = sum(a * (a - 1) + b * (b - 1) - 2 * a * b for a, b in zip(first, second, strict=True))
    return s, m + shared / 3.0, m


def one_sided_p(s: int, var: float) -> float:
    """P(S >= s) under "no trend", normal approximation with continuity correction."""
    if var <= 0 or s <= 0:
        return 1.0
    z = (s - 1) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def cycle_minima(ts: Sequence[float], ys: Sequence[float], drop: float) -> Segment | None:
    """Split an alloc/free sawtooth at its big drops and return each cycle's minimum.

    Returns None when the segment has no drop larger than ``drop`` (not a sawtooth). A sawtooth
    whose minima rise is a leak; one whose minima stay flat is a working set breathing. The first
    cycle is dropped when it is shorter than every complete cycle (we joined mid-cycle, so its
    "minimum" is just wherever the window started).
    """
    starts = [0]
    for i in range(1, len(ys)):
        if ys[i - 1] - ys[i] > drop:
            starts.append(i)
    if len(starts) == 1:
        return None
    bounds = [*starts, len(ys)]
    cycles = [(bounds[k], bounds[k + 1]) for k in range(len(starts))]
    if len(cycles) >= 3 and cycles[0][1] - cycles[0][0] < min(b - a for a, b in cycles[1:-1]):
        cycles = cycles[1:]
    mt: list[float] = []
    my: list[float] = []
    for a, b in cycles:
        k = min(range(a, b), key=lambda i: ys[i])
        mt.append(ts[k])
        my.append(ys[k])
    return mt, my


def _severity(
    n: int,
    p: float,
    tau: float,
    growth: float,
    threshold: float,
    persistent: bool,
    sawtooth: bool,
    strict: float = 1.0,
) -> str | None:
    """Map evidence to a severity; more points, a smaller p and more growth never lower it.

    Three samples can reach "low" (a watch item) at best: Mann-Kendall cannot be significant there.
    "high" needs eight points and a trend present in both halves of the window (persistence).
    A sawtooth is judged on its cycle minima, one point per cycle, so fewer points suffice: four
    rising minima are already a clear leak, where four raw samples are not.
    """
    if sawtooth:
        if n >= 6 and p < 0.01 and tau >= 0.6 and growth >= 2 * threshold and persistent:
            return "high"
        if n >= 4 and p < 0.05 and tau >= 0.6:
            return "medium"
        if n >= 3 and p < 0.2 and tau >= 0.5:
            return "low"
        return None
    if n >= 8 and p < 0.001 * strict and tau >= 0.6 and growth >= 2 * threshold and persistent:
        return "high"
    if n >= 5 and p < 0.01 * strict and tau >= 0.45:
        return "medium"
    if n >= 3 and p < 0.2 and tau >= 0.5:
        return "low"
    return None


def detect_rise(
    segments: Sequence[Segment],
    min_abs: float,
    min_rel: float = 0.0,
    recent_ratio: float = 0.3,
    stair: int = 0,
) -> Trend | None:
    """Decide whether a (possibly restarted) series keeps rising; None when it does not.

    ``min_abs`` and ``min_rel`` (fraction of the current level) set the least growth over the
    window that counts, so a few pages of noise are never a finding. A plateau is rejected by
    requiring the recent part of the last segment to rise at ``recent_ratio`` of the overall slope.
    With ``stair`` (counts: threads, stacks, fds), a series that never fell and climbed at least
    that many steps, its last flat run no longer than its longest earlier one plus a sample, is a
    rise (at least medium from five samples): one new thread every few samples is a staircase whose
    recent third is often flat.

    Nightly histories (sweeps hours apart) are read one point per sweep, and only from pairs of
    nights at least ``WEEK_LAG`` apart: a log buffer cleared every Sunday, usage that differs by the
    day of the week and a warm-up after a boot cancel out in such pairs, and a leak adds up in them.
    """
    segs = [(ts, ys) for ts, ys in segments if len(ts) >= 2]
    if not segs or sum(len(ts) for ts, _ in segs) < 3:
        return None
    last_ys = segs[-1][1]
    threshold = max(min_abs, min_rel * abs(last_ys[-1]))
    # Cheap gate first (O(n)): most series on a healthy device barely move.
    if sum(max(ys) - min(ys) for _, ys in segs) < threshold:
        return None
    nights = sum(sweeps(ts) for ts, _ in segs)
    lag = 0.0
    if nights >= 2:
        segs = [looks(ts, ys) for ts, ys in segs]
        segs = [(ts, ys) for ts, ys in segs if len(ts) >= 2]
        gaps = [b - a for ts, _ in segs for a, b in itertools.pairwise(ts)]
        if not gaps:
            return None
        if median(gaps) >= SPARSE_GAP:
            lag = WEEK_LAG

    used: list[Segment] = []
    sawtooth = False
    for ts, ys in segs:
        ts, ys = thin(ts, ys, MAX_POINTS)
        # A drop of several typical ramp steps (and more than min_abs) is a free: an alloc/free
        # sawtooth. Noise alone rarely drops by twice its own typical rise. Nightly looks land at
        # any phase of such a cycle: there the week-apart pairs deal with it.
        steps = [b - a for a, b in itertools.pairwise(ys) if b > a]
        step = median(steps) if steps else 0.0
        minima = cycle_minima(ts, ys, max(min_abs, 2.0 * step)) if len(ts) >= 4 and not lag else None
        if minima is not None:
            sawtooth = True
            # A sampled minimum lands anywhere within one ramp step of the true one (aliasing), so
            # minima must rise by more than a typical step before they mean anything.
            threshold = max(threshold, 1.5 * step)
            ts, ys = minima
        if len(ts) >= 2:
            used.append((ts, ys))
    n = sum(len(ts) for ts, _ in used)
    if n < 3:
        return None

    slopes: list[float] = []
    s_total, var_total, pairs = 0, 0.0, 0
    for ts, ys in used:
        seg_slopes = pair_slopes(ts, ys)
        # Every segment long enough to judge must itself rise: a leak regrows after each restart.
        if len(ts) >= 4 and seg_slopes and median(seg_slopes) <= 0:
            return None
        slopes.extend(seg_slopes)
        s, var, npairs = kendall_s(ys)
        s_total += s
        var_total += var
        pairs += npairs
    if not slopes or pairs == 0:
        return None
    slopes.sort()
    slope = median(slopes)
    if slope <= 0:
        return None
    tau = s_total / pairs
    p = one_sided_p(s_total, var_total)

    window = sum(ts[-1] - ts[0] for ts, _ in used)
    growth = slope * window
    climbing = bool(stair) and not lag and _staircase(used, stair)
    if climbing:
        growth = max(growth, sum(ys[-1] - ys[0] for _, ys in used))
    noise = _scatter(used, slope)
    threshold = max(threshold, (SPARSE_NOISE if lag else NOISE_FACTOR) * noise)
    if growth < threshold:
        return None

    # Plateau check, in two parts. The recent third (at least three points) of the last segment
    # long enough to judge must still rise; and the later half of every segment must by itself add
    # at least half the growth threshold, so a warm-up repeated after each restart is not a leak.
    # Three nights after a reboot say little through a night's noise: judge the last boot that has six.
    judge = 6 if lag else 3
    lt, ly = next(((ts, ys) for ts, ys in reversed(used) if len(ts) >= judge), used[-1])
    k = max(3, math.ceil(len(lt) / 3))
    recent = theil_sen(lt[-k:], ly[-k:]) if len(lt) >= 3 else slope
    late: list[float] = []
    late_window = 0.0
    for ts, ys in used:
        if len(ts) >= 4:
            h = len(ts) // 2
            late.extend(pair_slopes(ts[h:], ys[h:]))
            late_window += ts[-1] - ts[h]
    if recent < recent_ratio * slope and not climbing:
        return None
    if late and median(late) * late_window < 0.5 * threshold and not climbing:
        return None
    # Persistence: the first half of the last segment rose too (not a single step).
    half = max(2, len(lt) // 2)
    early = theil_sen(lt[:half], ly[:half]) if len(lt) >= 4 else slope
    persistent = early > 0 and recent > 0

    severity = _severity(n, p, tau, growth, threshold, persistent, sawtooth, SPARSE_P if lag else 1.0)
    if climbing and n >= 5 and severity in (None, "low"):
        severity = "medium"
    if severity is None:
        return None
    if lag and severity != "low" and not _week_apart_rise(used, lag):
        severity = "low"

    # Sen's confidence interval for the slope: ranks offset by z * sqrt(Var S) around the median.
    c = 1.96 * math.sqrt(max(var_total, 0.0))
    m = len(slopes)
    lo_i = max(0, min(m - 1, math.floor((m - c) / 2.0)))
    hi_i = max(0, min(m - 1, math.ceil((m + c) / 2.0)))
    intercept = median([y - slope * t for t, y in zip(lt, ly, strict=True)])
    return Trend(
        slope=slope,
        slope_lo=slopes[lo_i],
        slope_hi=slopes[hi_i],
        tau=tau,
        p_value=p,
        samples=n,
        segments=len(used),
        window_s=window,
        first=float(segs[0][1][0]),
        last=float(last_ys[-1]),
        level=intercept + slope * lt[-1],
        growth=growth,
        threshold=threshold,
        recent_slope=recent,
        sawtooth=sawtooth,
        severity=severity,
        nights=round((used[-1][0][-1] - used[0][0][0]) / 86400.0) + 1 if nights >= 2 else 0,
        noise=noise,
    )


def _staircase(used: Sequence[Segment], steps: int) -> bool:
    """Never falls, climbs at least ``steps`` times, and its last flat run is not the longest."""
    ups = 0
    for _, ys in used:
        runs = [1]
        for a, b in itertools.pairwise(ys):
            if b < a:
                return False
            if b > a:
                ups += 1
                runs.append(1)
            else:
                runs[-1] += 1
        if len(runs) > 1 and runs[-1] > max(runs[:-1]) + 1:
            return False
    return ups >= steps


def _week_apart_rise(used: Sequence[Segment], lag: float) -> bool:
    """Nights at least ``lag`` apart rise too (Mann-Kendall over those pairs alone, p < 0.05).

    A weekly cycle adds nothing from one week to the next and a warm-up only to the pairs that
    start in it; a leak adds up in every such pair. Without such pairs a week-long rise may be the
    week's own cycle (False), unless it rose anew in three or more process instances or boots
    each shorter than a week: a calendar cycle does not start over when a program restarts.
    """
    s_total, var_total, pairs = 0, 0.0, 0
    for ts, ys in used:
        s, var, m = kendall_lagged(ts, ys, lag)
        s_total, var_total, pairs = s_total + s, var_total + var, pairs + m
    if pairs == 0:
        return len(used) >= 3
    return one_sided_p(s_total, var_total) < WEEK_P


def _scatter(used: Sequence[Segment], slope: float) -> float:
    """Robust standard deviation (1.4826 x MAD) of the points around each segment's own line."""
    resid: list[float] = []
    for ts, ys in used:
        if len(ts) < 3:
            continue
        r = [y - slope * t for t, y in zip(ts, ys, strict=True)]
        mid = median(r)
        resid.extend(abs(x - mid) for x in r)
    return 1.4826 * median(resid) if resid else 0.0


def detect_decline(segments: Sequence[Segment], min_abs: float, min_rel: float = 0.0) -> Trend | None:
    """Mirror of :func:`detect_rise` for series that leak by falling (MemAvailable)."""
    flipped = [(ts, [-y for y in ys]) for ts, ys in segments]
    t = detect_rise(flipped, min_abs, min_rel)
    if t is None:
        return None
    return Trend(
        slope=-t.slope,
        slope_lo=-t.slope_hi,
        slope_hi=-t.slope_lo,
        tau=-t.tau,
        p_value=t.p_value,
        samples=t.samples,
        segments=t.segments,
        window_s=t.window_s,
        first=-t.first,
        last=-t.last,
        level=-t.level,
        growth=-t.growth,
        threshold=t.threshold,
        recent_slope=-t.recent_slope,
        sawtooth=t.sawtooth,
        severity=t.severity,
        nights=t.nights,
        noise=t.noise,
    )
