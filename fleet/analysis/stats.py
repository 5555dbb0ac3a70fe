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

import bisect
import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

# A segment: parallel tuples of timestamps (seconds) and values.
Segment = tuple[Sequence[float], Sequence[float]]

MAX_POINTS = 200  # above this many points a series is thinned before the pairwise statistics
# One sweep's samples (three a minute apart, by default) are one look at the device: a leak of a few
# MiB a day shows only from night to night, through noise no minute-apart repeat can average out.
BURST_GAP = 3600.0  # samples closer than this belong to one sweep
MAX_BURST = 6  # a longer run of samples is a session of its own, judged sample by sample
SPARSE_GAP = 6 * 3600.0  # looks this far apart (typically) are nightly
# A log buffer cleared every Sunday or a warm-up after a boot rises for days: nightly looks are
# judged on pairs a whole number of weeks apart (_nightly_rise).
WEEK = 7 * 86400.0
WEEK_LAG = 6.5 * 86400.0  # a look this far from both neighbours is a condensed point (lone)
# Nightly looks are compared with those a whole number of weeks later (within half a day: a sweep's
# start time wanders): a weekly cycle, whatever its shape, cancels out in such pairs exactly.
WEEKDAY_SLACK = 0.5 * 86400.0
# A warm-up after a boot or a restart levels off within a day or two: only pairs whose earlier look
# is at least this long after its segment's first one say whether the level still rises.
SETTLE = 1.5 * 86400.0
SETTLED_PAIRS = 3  # a nightly rise needs at least this many week-apart pairs of settled looks
# A buffer that fills from empty after a boot until it is first cleared (a log cleared every Sunday)
# warms up until then: settled pairs start at or after a segment's first fall within this long of
# its first look (the second Sunday, when a busy night set aside hid the first).
CLEAR_WITHIN = 2 * WEEK
# A daemon restarted every few nights: its short instances, pooled (_renewed_rise).
RENEWED = 1  # restarts (within a boot) at least
RENEWED_P = 0.001
RENEWED_LATE_P = 0.05
# The median restarted instance gains, past its warm-up, this many times the least growth that
# counts, or this many times the looks' scatter around their line (a clean climb, however small).
RENEWED_GAIN = 3.0
RENEWED_CLEAR = 5.0
FALL = 4.0  # standard deviations of a night's step: an instance falling this far gave back (_falls)
FALL_GAIN = 0.25  # ... and this fraction of what an instance typically gains
WEEKLY_FALL = 2.5  # ... and a fall counted when asking whether they come on one weekday (_weekly_falls)
WEEKLY_SHARE = 0.75
# A usage peak whose load the sweep did not catch (a short burst, a quiet core) still lifts a
# night's threads or fds for that night only: a count's look standing this many standard deviations
# of a night's step (and half the least growth that counts) above both its neighbours, which agree,
# is such a night (_without_spikes). Not memory: there such a look may be noise, whose spread the
# bars need, and leaving it out would make the rest look quieter than it is.
SPIKE = 4.0
ALL_P = 1e-4  # every pair of looks rising this clearly: a cycle that is not weekly may hide the pairs' rise
CYCLE_SPREAD = 2.5 * 86400.0  # the lengths of an alloc/free cycle's periods differ by at most this
CYCLE_P = 0.01
PLATEAU = 0.3  # the later half of a nightly series rises at least this fraction of the slope
WEEK_P = 0.05  # one-sided Mann-Kendall over the week-apart pairs
# The median week-apart rise must exceed this many standard errors of such a median (the
# standard deviation of a difference of two looks, 1.25 / sqrt(independent pairs)): a night's noise
# or a usage peak on one night rarely does; a year of re-reading the same history every night must
# not turn noise into a finding. With the 7 pairs of two weeks it is ~2.4 standard deviations.
WEEK_Z = 5.0
NOISE_FACTOR = 2.0


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
    busy_nights: int = 0  # nightly sweeps left out: busy (fleet.analysis.busy), or risen for one night only

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


def weekday_pairs(ts: Sequence[float]) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, a whole number of weeks apart (within ``WEEKDAY_SLACK``), or
    between two condensed points (``lone``), whatever their distance."""
    return list(_weeks(tuple(ts)).pairs)


@dataclass(frozen=True)
class _Weeks:
    """One segment's week-apart pairs and what their looks' times alone decide: made once for all
    the metrics of a process (the same looks), each of which :func:`_nightly_rise` judges."""

    pairs: tuple[tuple[int, int], ...]
    lags: tuple[float, ...]  # seconds from each pair's earlier look to its later one
    var: float  # of Mann-Kendall S over the pairs under "no trend" (:func:`pairs_variance`)
    looks: int  # looks in a pair
    late: tuple[int, ...]  # pairs whose earlier look is in the later half of the segment
    settled: tuple[int, ...]  # pairs whose earlier look is past the warm-up, or condensed
    settled_looks: int  # looks in a settled pair


@functools.lru_cache(maxsize=64)
def _weeks(ts: tuple[float, ...], clear: float | None = None) -> _Weeks:
    """``clear``: the time of the segment's first clear (:func:`_first_clears`), None: none."""
    n = len(ts)
    alone = [lone(ts, i) for i in range(n)]
    pairs: list[tuple[int, int]] = []
    for i in range(n - 1):
        ti, alone_i = ts[i], alone[i]
        # Nothing closer than WEEK_LAG pairs: not a week apart, and a lone look's neighbours are
        # that far (a second's margin for rounding; the test below is exact).
        start = bisect.bisect_left(ts, ti + WEEK_LAG - 1.0, i + 1)
        pairs.extend(
            [
                (i, j)
                for j in range(start, n)
                if (alone_i and alone[j])
                or abs((dt := ts[j] - ti) - round(dt / WEEK) * WEEK) <= WEEKDAY_SLACK
            ]
        )
    t0, mid = ts[0], (ts[0] + ts[-1]) / 2.0
    # past the warm-up (and the first clear, if any), or a condensed week (its warm-up is outvoted)
    settled = tuple(
        m
        for m, (i, _) in enumerate(pairs)
        if (ts[i] - t0 >= SETTLE and (clear is None or ts[i] >= clear)) or alone[i]
    )
    return _Weeks(
        pairs=tuple(pairs),
        lags=tuple(ts[j] - ts[i] for i, j in pairs),
        var=pairs_variance(n, pairs),
        looks=len({x for pair in pairs for x in pair}),
        late=tuple(m for m, (i, _) in enumerate(pairs) if ts[i] >= mid),
        settled=settled,
        settled_looks=len({x for m in settled for x in pairs[m]}),
    )


def lone(ts: Sequence[float], i: int) -> bool:
    """A look at least a week from its neighbours: in a nightly history, a condensed point
    (fleet.analysis.history), the median of a week or more of looks, no weekly cycle left in it."""
    before = i == 0 or ts[i] - ts[i - 1] >= WEEK_LAG
    after = i == len(ts) - 1 or ts[i + 1] - ts[i] >= WEEK_LAG
    return before and after and len(ts) > 1


def pairs_variance(n: int, pairs: Sequence[tuple[int, int]]) -> float:
    """The variance of Mann-Kendall S over these pairs of n points under "no trend".

    Exact for any set of pairs (no ties): each pair's sign has variance 1, two pairs sharing their
    earlier or their later point covary by +1/3, two sharing a point that is the earlier of one and
    the later of the other by -1/3. With every pair this is the usual n(n-1)(2n+5)/18.
    """
    first = [0] * n  # pairs in which point i is the earlier one
    second = [0] * n  # ... the later one
    for i, j in pairs:
        first[i] += 1
        second[j] += 1
    shared = sum(a * (a - 1) + b * (b - 1) - 2 * a * b for a, b in zip(first, second, strict=True))
    return len(pairs) + shared / 3.0


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
    if n >= 8 and p < 0.001 and tau >= 0.6 and growth >= 2 * threshold and persistent:
        return "high"
    if n >= 5 and p < 0.01 and tau >= 0.45:
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
    restarts: int = 0,
    starts: Sequence[float | None] | None = None,
    busy: frozenset[float] = frozenset(),
    counts: bool = False,
) -> Trend | None:
    """Decide whether a (possibly restarted) series keeps rising; None when it does not.

    ``min_abs`` and ``min_rel`` (fraction of the current level) set the least growth over the
    window that counts, so a few pages of noise are never a finding. A plateau is rejected by
    requiring the recent part of the last segment to rise at ``recent_ratio`` of the overall slope.
    With ``stair`` (counts: threads, stacks, fds), a series that never fell and climbed at least
    that many steps, its last flat run no longer than its longest earlier one plus a sample, is a
    rise (at least medium from five samples): one new thread every few samples is a staircase whose
    recent third is often flat.

    Nightly histories (sweeps hours apart) are read one point per sweep and judged on pairs of
    nights a whole number of weeks apart (:func:`_nightly_rise`): a log buffer cleared every Sunday,
    usage that differs by the day of the week and a warm-up after a boot cancel out in such pairs,
    and a leak adds up in them. ``restarts`` (of the process, within a boot) lets a daemon restarted
    every few nights be judged on its short instances pooled (:func:`_renewed_rise`); with
    ``stair``, a count whose boots are all too short for week-apart pairs on its boots pooled
    (:func:`_boots_rise`). ``starts`` (one a segment, when its instance started; None: unknown)
    tells how far into its instance's life each look of a condensed instance is. ``busy``: times
    of samples taken while the device was busy (fleet.analysis.busy), which a nightly history
    leaves out, and with ``counts`` (threads, stacks, fds: ``stair`` implies it) the looks that
    rose for one night only (:func:`_without_spikes`), busy nights whose load did not show.
    """
    born = list(starts) if starts is not None else [None] * len(segments)
    segs = [(ts, ys) for ts, ys in segments if len(ts) >= 2]
    born = [b for (ts, _), b in zip(segments, born, strict=True) if len(ts) >= 2]
    if not segs or sum(len(ts) for ts, _ in segs) < 3:
        return None
    last_ys = segs[-1][1]
    threshold = max(min_abs, min_rel * abs(last_ys[-1]))
    # Cheap gate first (O(n)): most series on a healthy device barely move.
    if sum(max(ys) - min(ys) for _, ys in segs) < threshold:
        return None
    nights = sum(sweeps(ts) for ts, _ in segs)
    nightly = False
    aside = 0  # busy sweeps left out, and looks that rose for one night only (_without_spikes)
    if nights >= 2:
        raw, raw_born = segs, born
        segs, born, nightly = _sweep_looks(raw, raw_born)
        if nightly and busy:
            quiet = [_without(ts, ys, busy) for ts, ys in raw]
            aside = nights - sum(sweeps(ts) for ts, _ in quiet)
            segs, born, _ = _sweep_looks(quiet, raw_born)
        if not segs:
            return None
        if nightly and (counts or stair):
            calm = [_without_spikes(ts, ys, threshold) for ts, ys in segs]
            aside += sum(len(ts) - len(kept) for (ts, _), (kept, _) in zip(segs, calm, strict=True))
            segs = calm

    used: list[Segment] = []
    used_born: list[float | None] = []
    sawtooth = False
    for (ts, ys), b in zip(segs, born, strict=True):
        ts, ys = thin(ts, ys, MAX_POINTS)
        # A drop of several typical ramp steps (and more than min_abs) is a free: an alloc/free
        # sawtooth. Noise alone rarely drops by twice its own typical rise. Nightly looks land at
        # any phase of such a cycle: there the week-apart pairs deal with it (_nightly_rise).
        steps = [b - a for a, b in itertools.pairwise(ys) if b > a]
        step = median(steps) if steps else 0.0
        minima = cycle_minima(ts, ys, max(min_abs, 2.0 * step)) if len(ts) >= 4 and not nightly else None
        if minima is not None:
            sawtooth = True
            # A sampled minimum lands anywhere within one ramp step of the true one (aliasing), so
            # minima must rise by more than a typical step before they mean anything.
            threshold = max(threshold, 1.5 * step)
            ts, ys = minima
        if len(ts) >= 2:
            used.append((ts, ys))
            used_born.append(b)
    n = sum(len(ts) for ts, _ in used)
    if n < 3:
        return None
    if nightly:
        renew = restarts >= RENEWED
        trend = _nightly_rise(
            used,
            threshold,
            float(segs[0][1][0]),
            float(last_ys[-1]),
            nights,
            renew,
            counts=bool(stair),
            born=used_born,
        )
        if trend is None or trend.severity == "low":
            cycle = _cycle_rise(used, threshold, float(segs[0][1][0]), float(last_ys[-1]), nights, used_born)
            trend = cycle or trend
        return replace(trend, busy_nights=aside) if trend is not None and aside else trend

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
    climbing = bool(stair) and _staircase(used, stair)
    if climbing:
        growth = max(growth, sum(ys[-1] - ys[0] for _, ys in used))
    noise = _scatter(used, slope)
    threshold = max(threshold, NOISE_FACTOR * noise)
    if growth < threshold:
        return None

    # Plateau check, in two parts. The recent third (at least three points) of the last segment
    # long enough to judge must still rise; and the later half of every segment must by itself add
    # at least half the growth threshold, so a warm-up repeated after each restart is not a leak.
    lt, ly = next(((ts, ys) for ts, ys in reversed(used) if len(ts) >= 3), used[-1])
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

    severity = _severity(n, p, tau, growth, threshold, persistent, sawtooth)
    if climbing and n >= 5 and severity in (None, "low"):
        severity = "medium"
    if severity is None:
        return None

    slope_lo, slope_hi = sen_interval(slopes, var_total)
    intercept = median([y - slope * t for t, y in zip(lt, ly, strict=True)])
    return Trend(
        slope=slope,
        slope_lo=slope_lo,
        slope_hi=slope_hi,
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
        nights=nights_spanned(used) if nights >= 2 else 0,
        noise=noise,
    )


def _sweep_looks(
    segs: Sequence[Segment], born: Sequence[float | None]
) -> tuple[list[Segment], list[float | None], bool]:
    """Each segment one look per sweep (:func:`looks`), and whether the looks are nightly (judged
    on the segments seen in more than one sweep); a nightly boot or instance seen in one sweep only
    is one look, no night-to-night change (its minute-apart samples no trend): left out."""
    kept = [(looks(ts, ys), b) for (ts, ys), b in zip(segs, born, strict=True) if len(ts) >= 2]
    kept = [(seg, b) for seg, b in kept if len(seg[0]) >= 2]
    gaps = [b - a for (ts, _), _ in kept if ts[-1] - ts[0] > BURST_GAP for a, b in itertools.pairwise(ts)]
    nightly = bool(gaps) and median(gaps) >= SPARSE_GAP
    if nightly:
        kept = [(seg, b) for seg, b in kept if seg[0][-1] - seg[0][0] > BURST_GAP]
    return [seg for seg, _ in kept], [b for _, b in kept], nightly


def _without(ts: Sequence[float], ys: Sequence[float], busy: frozenset[float]) -> Segment:
    keep = [k for k, t in enumerate(ts) if t not in busy]
    return [ts[k] for k in keep], [ys[k] for k in keep]


def _without_spikes(ts: Sequence[float], ys: Sequence[float], threshold: float) -> Segment:
    """A nightly segment without its one-night spikes (``SPIKE``): looks above both neighbours (less
    than a week apart: not condensed) by more than half the least growth that counts, the
    neighbours within half that rise of each other, and by more than ``SPIKE`` robust standard
    deviations of a night's step, taken on the steps of the segment without all such looks (two or
    three peaks in two weeks would otherwise widen it past themselves). A leak never gives back
    what it took the night before; a buffer cleared on Sunday falls from a level its Friday already
    neared, so its Saturday is no spike."""
    if len(ys) < 5:
        return ts, ys
    rises: dict[int, float] = {}
    for i in range(1, len(ys) - 1):
        rise = ys[i] - max(ys[i - 1], ys[i + 1])
        if (
            ts[i + 1] - ts[i - 1] < WEEK_LAG
            and rise > 0.5 * threshold
            and abs(ys[i + 1] - ys[i - 1]) <= rise / 2
        ):
            rises[i] = rise
    if not rises:
        return ts, ys
    rest = [y for k, y in enumerate(ys) if k not in rises]
    bar = SPIKE * _robust_sd([b - a for a, b in itertools.pairwise(rest)])
    keep = [k for k in range(len(ts)) if rises.get(k, 0.0) <= bar]
    return [ts[k] for k in keep], [ys[k] for k in keep]


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


def _nightly_rise(
    used: Sequence[Segment],
    threshold: float,
    first: float,
    last: float,
    nights: int,
    renew: bool,
    counts: bool = False,
    born: Sequence[float | None] | None = None,
) -> Trend | None:
    """The rise of nightly looks, judged on pairs of looks a whole number of weeks apart.

    A log buffer cleared every Sunday or usage that differs by the day of the week adds nothing to
    such a pair, and a warm-up after a boot or restart only to pairs that start in it; a leak adds
    up in every one. "medium" needs all of: the pairs rise together (Mann-Kendall, p < ``WEEK_P``),
    at least ``SETTLED_PAIRS`` of them start after their segment's first ``SETTLE`` (past the
    warm-up) and its first clear, if any (:func:`_first_clears`), or at a condensed point, and the
    median rise, of those and of all, exceeds ``_bar``
    (``WEEK_Z`` standard errors, from the noise of a difference of two looks: their scatter around
    the line, a weekly cycle's included; for memory, averaged with what the steps from one look to
    the next say, as a dozen looks can sit near their line by chance): a night's noise or one busy
    night does not, re-read every night for a year. A series level for the later half of its
    segments is a plateau (``PLATEAU``).
    Too few such pairs: a daemon restarted every few nights (``renew``) is judged on its instances
    pooled (:func:`_renewed_rise`), a count (``counts``: threads, stacks) on its short boots pooled
    (:func:`_boots_rise`), anything else is at most a watch item; a very clear rise of every
    pair of looks with a clear week-apart rise is a cycle that is not weekly (``ALL_P``).
    """
    diffs: list[float] = []
    lags: list[float] = []
    slopes: list[float] = []
    settled: list[float] = []
    settled_slopes: list[float] = []
    s_total, var_total = 0, 0.0
    late: list[float] = []  # slopes of the pairs in the later half of their segment
    points = settled_points = 0  # looks in a pair, in a settled pair
    for (ts, ys), clear in zip(used, _first_clears(used, threshold), strict=True):
        weeks = _weeks(tuple(ts), clear)
        seg_diffs = [ys[j] - ys[i] for i, j in weeks.pairs]
        seg_slopes = [d / dt for d, dt in zip(seg_diffs, weeks.lags, strict=True)]
        s_total += sum((d > 0) - (d < 0) for d in seg_diffs)
        var_total += weeks.var
        diffs += seg_diffs
        lags += weeks.lags
        slopes += seg_slopes
        late += [seg_slopes[m] for m in weeks.late]
        settled += [seg_diffs[m] for m in weeks.settled]
        settled_slopes += [seg_slopes[m] for m in weeks.settled]
        points += weeks.looks
        settled_points += weeks.settled_looks
    enough = len(settled) >= SETTLED_PAIRS
    renewed = _renewed_rise(used, threshold, born) if renew and not enough else None
    if renewed is None and counts and not enough and len(used) >= 2:
        renewed = _boots_rise(used)
    every: _EveryPair | None = None  # computed only where a branch below needs it
    if renewed is not None:
        slope, p, tau, s_total, var_total, slopes = renewed
    elif enough:
        slope, p, tau = median(settled_slopes), one_sided_p(s_total, var_total), s_total / len(diffs)
    else:  # too few week-apart pairs: at most a watch item, on every pair of looks
        every = _every_pair(used)
        slopes, s_total, var_total = every.slopes, every.s, every.var
        slope, p, tau = median(every.slopes) if every.slopes else 0.0, every.p, every.tau
    window = sum(ts[-1] - ts[0] for ts, _ in used)
    growth = slope * window
    if slope <= 0 or growth < threshold:
        return None
    if renewed is None and len(late) >= SETTLED_PAIRS and median(late) < PLATEAU * slope:
        return None  # risen, then level for the later half of its segments: a warm-up or a cache filled
    # The noise of a week-apart difference: its robust scatter around what the slope explains, and
    # at least that of two looks around the line (a weekly cycle whose pairs agree is still noise).
    noise = _scatter(used, slope)
    if not counts:  # a count's steps are its staircase's, not noise
        noise = (noise + _step_scatter(used, slope)) / 2.0
    pair_spread = (
        1.4826 * median([abs(d - slope * dt) for d, dt in zip(diffs, lags, strict=True)]) if diffs else 0.0
    )
    spread = max(math.sqrt(2.0) * noise, pair_spread)
    bar = _bar(spread, len(diffs), points)
    if renewed is not None:
        severity = "medium"
    elif (
        enough
        and p < WEEK_P
        and median(diffs) >= bar
        and median(settled) >= _bar(spread, len(settled), settled_points)
    ):
        strong = p < 0.001 and tau >= 0.6 and growth >= 2 * threshold and len(settled) >= 8
        severity = "high" if strong else "medium"
    elif (
        enough
        and p < WEEK_P
        and growth >= NOISE_FACTOR * threshold
        and (every := every or _every_pair(used)).p < ALL_P
        and every.tau >= 0.5
        and median(settled) >= _bar(pair_spread, len(settled), settled_points)
        and (
            (not renew and len(used) < 2)
            or _gains_like_a_leak(*_past_warm_up_slopes(used), used, threshold, slope)
        )
        and not _weekly_falls(used, slope, threshold)
    ):
        # A cycle of some other length than a week (alloc/free every few nights) is noise to the
        # week-apart pairs but not to the rise of every pair: very clear there, clear in these, and
        # twice the least growth that counts (a dozen week-apart pairs of a steady daemon can agree
        # by chance on a rise just past it).
        # Over restarts or reboots every instance's pairs rise from its warm-up look too, so there
        # each must also gain past its warm-up what a leak gains.
        severity = "medium"
    elif p < 0.2 and tau >= 0.5 and _still_rising(used[-1], slope):
        severity = "low"
    else:
        return None

    slopes.sort()
    slope_lo, slope_hi = sen_interval(slopes, var_total)
    lt, ly = used[-1]
    intercept = median([y - slope * t for t, y in zip(lt, ly, strict=True)])
    return Trend(
        slope=slope,
        slope_lo=slope_lo,
        slope_hi=slope_hi,
        tau=tau,
        p_value=p,
        samples=sum(len(ts) for ts, _ in used),
        segments=len(used),
        window_s=window,
        first=first,
        last=last,
        level=intercept + slope * lt[-1],
        growth=growth,
        threshold=max(threshold, bar),
        recent_slope=slope,
        sawtooth=False,
        severity=severity,
        nights=nights_spanned(used) if nights >= 2 else 0,
        noise=noise,
    )


@dataclass(frozen=True)
class _EveryPair:
    """The rise of every pair of looks within a segment: what a cycle that is not weekly (or too
    few weeks of looks) leaves. Quadratic in the looks, so :func:`_nightly_rise` asks only when needed."""

    slopes: list[float]
    s: int
    var: float
    p: float
    tau: float


def _every_pair(used: Sequence[Segment]) -> _EveryPair:
    slopes = [x for ts, ys in used for x in pair_slopes(ts, ys)]
    scores = [kendall_s(ys) for _, ys in used]
    s, var = sum(x[0] for x in scores), sum(x[1] for x in scores)
    return _EveryPair(slopes, s, var, one_sided_p(s, var), s / max(1, sum(x[2] for x in scores)))


def _bar(spread: float, pairs: int, points: int) -> float:
    """The least median week-apart rise that is not noise (``WEEK_Z`` standard errors of it).

    Pairs sharing looks are not independent: a series of n looks holds at most n/2 independent ones.
    """
    independent = max(1, min(pairs, points // 2))
    return WEEK_Z * 1.2533 * spread / math.sqrt(independent)


def _cycle_rise(
    used: Sequence[Segment],
    threshold: float,
    first: float,
    last: float,
    nights: int,
    born: Sequence[float | None] | None = None,
) -> Trend | None:
    """An alloc/free cycle of a few nights that is not weekly, its minima rising: a leak ("medium").

    Week-apart pairs read such a cycle as noise. Its drops (each more than twice the typical
    night's rise) must come at a steady pace (cycle lengths within ``CYCLE_SPREAD``) and not weekly (a
    log buffer cleared every Sunday: the week-apart pairs judge that), three cycles or more, and
    the minima rise clearly (Mann-Kendall p < ``CYCLE_P``, tau >= 0.6) by more than ``threshold``.
    A segment's looks in the first ``SETTLE`` of its instance (``born``: when each started, None
    unknown) are its warm-up, not a cycle's minimum.
    """
    used_min: list[Segment] = []
    lengths: list[float] = []
    for (ts, ys), b in zip(used, born or [None] * len(used), strict=True):
        if b is not None:  # a warm-up's looks are no cycle's minima
            ts, ys = (
                [t for t in ts if t >= b + SETTLE],
                [y for t, y in zip(ts, ys, strict=True) if t >= b + SETTLE],
            )
        if len(ts) < 6:
            continue
        steps = [b - a for a, b in itertools.pairwise(ys) if b > a]
        if not steps:
            continue  # never rises: no cycle, only falls (threads ending one by one over a boot)
        drop = max(threshold, 2.0 * median(steps))
        starts = [i for i in range(1, len(ys)) if ys[i - 1] - ys[i] > drop]
        minima = cycle_minima(ts, ys, drop)
        if minima is None or len(starts) < 3:
            continue
        lengths.extend(ts[b] - ts[a] for a, b in itertools.pairwise(starts))
        used_min.append(minima)
        # A sampled minimum lands anywhere within a night's rise of the true one (aliasing).
        threshold = max(threshold, 1.5 * median(steps))
    if not lengths or sum(len(t) for t, _ in used_min) < 4:
        return None
    period = median(lengths)
    if max(lengths) - min(lengths) > CYCLE_SPREAD or abs(period - WEEK) <= WEEKDAY_SLACK:
        return None
    slopes = [x for ts, ys in used_min for x in pair_slopes(ts, ys)]
    scores = [kendall_s(ys) for _, ys in used_min]
    s_total, var_total, pairs = (sum(x[k] for x in scores) for k in range(3))
    slope, p, tau = median(slopes), one_sided_p(int(s_total), var_total), s_total / max(1, pairs)
    if s_total == pairs:  # every minimum above every earlier one: exactly 1/n! per segment
        p = math.prod(1.0 / math.factorial(len(ts)) for ts, _ in used_min)
    window = sum(ts[-1] - ts[0] for ts, _ in used_min)
    if p >= CYCLE_P or tau < 0.6 or slope * window < threshold:
        return None
    lt, ly = used_min[-1]
    return Trend(
        slope=slope,
        slope_lo=min(slopes),
        slope_hi=max(slopes),
        tau=tau,
        p_value=p,
        samples=sum(len(ts) for ts, _ in used_min),
        segments=len(used_min),
        window_s=window,
        first=first,
        last=last,
        level=median([y - slope * t for t, y in zip(lt, ly, strict=True)]) + slope * lt[-1],
        growth=slope * window,
        threshold=threshold,
        recent_slope=slope,
        sawtooth=True,
        severity="medium",
        nights=nights_spanned(used) if nights >= 2 else 0,
        noise=0.0,
    )


def _still_rising(seg: Segment, slope: float) -> bool:
    """The recent third of a segment (three looks at least) still rises at ``PLATEAU`` of ``slope``."""
    ts, ys = seg
    k = max(3, math.ceil(len(ts) / 3))
    return len(ts) < 3 or theil_sen(ts[-k:], ys[-k:]) >= PLATEAU * slope


def sign_p(k: int, m: int) -> float:
    """P(at least k of m fair coin flips come up heads): the one-sided sign test."""
    return sum(math.comb(m, i) for i in range(k, m + 1)) / 2.0**m if m else 1.0


def _renewed_rise(
    used: Sequence[Segment], threshold: float, born: Sequence[float | None] | None = None
) -> tuple[float, float, float, int, float, list[float]] | None:
    """A daemon restarted every few nights, its leak rising anew in each short instance.

    Instances shorter than two weeks hold too few week-apart pairs. Pooled (those of three looks
    or more), their looks must rise (Mann-Kendall, p < ``RENEWED_P``), and keep rising past each
    one's warm-up (its looks from ``SETTLE`` after the first): at half the slope or more, and in
    most instances (sign test, p < ``RENEWED_LATE_P``; a busy night at the end of a few instances
    does not make it) or very clearly pooled; and no instance may give back what it gained
    (:func:`_falls`). A warm-up repeated after every restart flattens after its first day or two,
    a weekly buffer empties on Sunday; a leak does neither. A restart gives the memory back, so
    what leaks is what one instance gains: the median instance must gain, past its warm-up, at
    least ``RENEWED_GAIN`` times ``threshold`` or ``RENEWED_CLEAR`` times the looks' own scatter
    (the tail of a warm-up and busy nights add a fraction of a MiB to each instance, which pooled
    over many instances is still significant; a small leak climbing cleanly is not noise).
    When the instances of three looks or more do not make it, those of two looks (condensed in the
    past: days or weeks apart) join with their looks ``SETTLE`` or more past their start (``born``,
    one a segment), when two are: a condensed look does not say how much warm-up its median holds,
    its age since the instance started does. They only add: a noisy condensed pair never delays
    what the instances seen night by night show, and their own rises must reach half the slope
    (busy nights ending a few nightly instances are not made a leak by flat condensed ones).
    Returns (slope, p, tau, S, Var S, pair slopes) or None.
    """
    found = _pooled_rise(used, threshold, None)
    if found is None and born is not None and any(b is not None for b in born):
        found = _pooled_rise(used, threshold, born)
    return found


def _pooled_rise(
    used: Sequence[Segment], threshold: float, born: Sequence[float | None] | None
) -> tuple[float, float, float, int, float, list[float]] | None:
    """:func:`_renewed_rise` on the instances of three looks or more, and with ``born`` also on the
    past-warm-up looks of those of two."""
    slopes: list[float] = []
    settled: list[float] = []
    s_total, var_total, pairs, segments = 0, 0.0, 0, 0
    ups = votes = 0
    s_late, var_late = 0, 0.0
    condensed: list[float] = []  # the settled pair slopes of the condensed instances
    spans: list[float] = []  # how long each instance was watched past its warm-up
    for seg, start in zip(used, born if born is not None else [None] * len(used), strict=True):
        ts, ys = seg
        if len(ts) < 3:
            if start is None:
                continue
            past = [(t, y) for t, y in zip(ts, ys, strict=True) if t - start >= SETTLE]
            if len(past) < 2:
                continue
            ts, ys = [t for t, _ in past], [y for _, y in past]
            k0 = 0  # every look past the warm-up
            condensed.extend(pair_slopes(ts, ys))
        else:
            k0 = _warm_up_end(ts)
        segments += 1
        spans.append(ts[-1] - ts[k0])
        s, var, m = kendall_s(ys)
        s_total, var_total, pairs = s_total + s, var_total + var, pairs + m
        own = pair_slopes(ts[k0:], ys[k0:])
        s, var, _ = kendall_s(ys[k0:])
        s_late, var_late = s_late + s, var_late + var
        rise = median(own) if own else 0.0
        ups, votes = ups + (rise > 0), votes + (rise != 0)
        settled.extend(own)
        slopes.extend(pair_slopes(ts, ys))
    if segments < 2 or len(settled) < SETTLED_PAIRS:
        return None
    p = one_sided_p(s_total, var_total)
    slope = median(slopes)
    late = sign_p(ups, votes) < RENEWED_LATE_P or one_sided_p(s_late, var_late) < RENEWED_LATE_P / 10
    if p >= RENEWED_P or slope <= 0 or not late:
        return None
    if median(settled) < 0.5 * slope or _falls(used, slope) or _weekly_falls(used, slope, threshold):
        return None
    if condensed and median(condensed) < 0.5 * slope:  # they add a rise of their own, or nothing
        return None
    if not _gains_like_a_leak(settled, spans, used, threshold, slope):
        return None
    return slope, p, s_total / pairs, s_total, var_total, slopes


def _warm_up_end(ts: Sequence[float]) -> int:
    """Index of an instance's first look past its warm-up: ``SETTLE`` after the first, but at least
    two looks kept (then the first is left out: an instance restarted every two or three nights
    gives no more)."""
    return max(1, min(next((i for i, t in enumerate(ts) if t - ts[0] >= SETTLE), len(ts)), len(ts) - 2))


def _past_warm_up_slopes(used: Sequence[Segment]) -> tuple[list[float], list[float]]:
    """The pair slopes of each instance's looks past its warm-up (``SETTLE`` after its first, two
    looks at least) and how long each was watched past it, instances of three looks or more."""
    slopes: list[float] = []
    spans: list[float] = []
    for ts, ys in used:
        if len(ts) >= 3:
            k0 = _warm_up_end(ts)
            slopes.extend(pair_slopes(ts[k0:], ys[k0:]))
            spans.append(ts[-1] - ts[k0])
    return slopes, spans


def _gains_like_a_leak(
    settled: Sequence[float], spans: Sequence[float], used: Sequence[Segment], threshold: float, slope: float
) -> bool:
    """A restart gives the memory back: what leaks is what one instance gains. The median instance
    gains, past its warm-up, ``RENEWED_GAIN`` times ``threshold`` or ``RENEWED_CLEAR`` times the
    looks' scatter (a small leak climbing cleanly)."""
    if not settled or not spans:
        return False
    gain = median(settled) * median(spans)
    return gain >= RENEWED_GAIN * threshold or gain >= RENEWED_CLEAR * _scatter(used, slope)


# A count (threads, stacks) whose boots are all too short for week-apart pairs: its boots' settled
# looks pooled must rise this many standard errors of the pooled slope (_boots_rise).
BOOTS_Z = 4.0


def _boots_rise(used: Sequence[Segment]) -> tuple[float, float, float, int, float, list[float]] | None:
    """A count that leaks anew in every boot (or instance), none of them long enough for
    ``SETTLED_PAIRS`` week-apart pairs: a reboot in the first weeks restarts the leak.

    Each boot of four looks or more contributes its looks from ``SETTLE`` after its first (three
    at least, past the warm-up). Every such part must rise (Theil-Sen), at least two of them; the
    pooled slope must stand ``BOOTS_Z`` standard errors clear of the looks' robust scatter, no boot
    may give back what it gained (:func:`_falls`), and the week-apart pairs there are (one at
    least) must have risen by half what the slope says: a weekly cycle rises in every boot shorter
    than a week too, but not from one weekday to the same one a week later.
    Returns (slope, p, tau, S, Var S, pair slopes) or None, as :func:`_renewed_rise`.
    """
    parts: list[Segment] = []
    for ts, ys in used:
        if len(ts) < 4:
            continue
        k0 = next((i for i, t in enumerate(ts) if t - ts[0] >= SETTLE), len(ts))
        if len(ts) - k0 >= 3:
            parts.append((ts[k0:], ys[k0:]))
    if len(parts) < 2 or sum(ts[-1] - ts[0] for ts, _ in used) < 8 * 86400.0:
        return None
    own = [median(pair_slopes(ts, ys)) for ts, ys in parts]
    if any(x <= 0 for x in own):
        return None
    slopes = [x for ts, ys in parts for x in pair_slopes(ts, ys)]
    slope = median(slopes)
    noise = _scatter(parts, slope)
    sxx = 0.0
    for ts, _ in parts:
        m = sum(ts) / len(ts)
        sxx += sum((t - m) ** 2 for t in ts)
    if noise <= 0 or slope * math.sqrt(sxx) < BOOTS_Z * noise:
        return None
    if _falls(used, slope):
        return None
    # A weekly cycle rises in every boot shorter than a week too: the week-apart pairs there are
    # must have risen by what the slope says (a weekly cycle's do not).
    week = [(ys[j] - ys[i], ts[j] - ts[i]) for ts, ys in used for i, j in weekday_pairs(ts)]
    if not week or median([d for d, _ in week]) < 0.5 * slope * median([dt for _, dt in week]):
        return None
    scores = [kendall_s(ys) for _, ys in parts]
    s_total, var_total = sum(x[0] for x in scores), sum(x[1] for x in scores)
    pairs = sum(x[2] for x in scores)
    return slope, one_sided_p(s_total, var_total), s_total / max(1, pairs), s_total, var_total, slopes


def _steps(used: Sequence[Segment], slope: float) -> list[tuple[float, float]]:
    """Every step from one look to the next within a segment: (its change less what ``slope``
    explains, the time of the later look)."""
    return [
        ((b - a) - slope * (tb - ta), tb)
        for ts, ys in used
        for (ta, a), (tb, b) in itertools.pairwise(zip(ts, ys, strict=True))
    ]


def _robust_sd(values: Sequence[float]) -> float:
    """Robust standard deviation: 1.4826 x the median absolute deviation from the median."""
    mid = median(values)
    return 1.4826 * median([abs(x - mid) for x in values])


def _step_sigma(steps: Sequence[tuple[float, float]]) -> float:
    """Robust standard deviation of the steps' changes less the slope."""
    return _robust_sd([x for x, _ in steps])


def _falls(used: Sequence[Segment], slope: float) -> bool:
    """An instance fell from one look to the next, below what ``slope`` says, by more than ``FALL``
    standard deviations of such a step and ``FALL_GAIN`` of what an instance typically gains (a
    buffer started mid-week holds only a few days when first cleared): a cycle that empties within
    an instance (a buffer cleared every Sunday in a daemon restarted every few days), not a leak,
    which never gives back. Measured against the slope, a clear between two looks days apart (the
    nights between busy, left out) still shows: the level barely rose over those days."""
    steps = _steps(used, slope)
    if len(steps) < 3:
        return False
    gain = slope * median([ts[-1] - ts[0] for ts, _ in used])
    bar = max(FALL * _step_sigma(steps), FALL_GAIN * gain)
    return any(-x > bar for x, _ in steps)


def _big_falls(used: Sequence[Segment], slope: float, threshold: float) -> list[tuple[float, float]]:
    """(time of the later look, drop below what ``slope`` says) of every fall from one look to the
    next of more than ``WEEKLY_FALL`` standard deviations of such a step and more than
    ``threshold``."""
    steps = _steps(used, slope)
    if len(steps) < 3:
        return []
    bar = max(WEEKLY_FALL * _step_sigma(steps), threshold)
    return [(t, -x) for x, t in steps if -x > bar]


def _first_clears(used: Sequence[Segment], threshold: float) -> list[float | None]:
    """Each segment's first big fall (:func:`_big_falls`) within ``CLEAR_WITHIN`` of its first
    look (the time of the look after it; None: no such fall). A buffer filling from empty until
    then rises in every week-apart pair that starts before it; a leak rarely falls at all, and
    when it does (a busy night not set aside), only its first pairs wait."""
    fell = {t for t, _ in _big_falls(used, 0.0, threshold)}
    return [
        next((t for t in ts[1:] if t in fell and t - ts[0] <= CLEAR_WITHIN + WEEKDAY_SLACK), None)
        for ts, _ in used
    ]


def _weekly_falls(used: Sequence[Segment], slope: float, threshold: float) -> bool:
    """A buffer cleared every Sunday, whose first week after a boot or restart starts empty: the
    week-apart pairs that start there rise as a leak's do, and so does every pair of a boot or
    instance shorter than a few weeks. Most of what the series gives back (falls from one look to
    the next, below what ``slope`` says, of more than ``WEEKLY_FALL`` standard deviations of such a
    step and than ``threshold``) it gives back on one weekday, twice or more (a busy night not set
    aside falls the day after), and the week-apart pairs past each segment's first fall, if any, do
    not rise by half what ``slope`` says. A leak never gives back; one beside such a buffer rises in
    those pairs too; an alloc/free cycle of a few nights falls on any day."""
    falls = _big_falls(used, slope, threshold)
    total = sum(drop for _, drop in falls)

    def on_one_weekday(t0: float) -> bool:  # the falls on t0's weekday (its sweep's start wanders)
        day = [drop for t, drop in falls if abs((t - t0 + WEEK / 2) % WEEK - WEEK / 2) <= 2.5 * WEEKDAY_SLACK]
        return len(day) >= 2 and sum(day) >= WEEKLY_SHARE * total

    if not any(on_one_weekday(t0) for t0, _ in falls):
        return False
    fell = {t for t, _ in falls}
    later: list[float] = []  # slopes of the week-apart pairs starting at or after their segment's first fall
    for ts, ys in used:
        first = next((t for t in ts if t in fell), None)
        if first is not None:
            later.extend((ys[j] - ys[i]) / (ts[j] - ts[i]) for i, j in weekday_pairs(ts) if ts[i] >= first)
    return len(later) < SETTLED_PAIRS or median(later) < 0.5 * slope


def _scatter(used: Sequence[Segment], slope: float) -> float:
    """Robust standard deviation (1.4826 x MAD) of the points around each segment's own line.

    A segment of an odd number of points has one at its own median, whose zero deviation is no
    measurement of noise: left out, or instances of three looks each (a daemon restarted every few
    nights) read a third of their deviations as zero and their noise as far smaller than it is."""
    resid: list[float] = []
    for ts, ys in used:
        if len(ts) < 3:
            continue
        r = [y - slope * t for t, y in zip(ts, ys, strict=True)]
        mid = median(r)
        dev = sorted(abs(x - mid) for x in r)
        resid.extend(dev[1:] if len(dev) % 2 else dev)
    return 1.4826 * median(resid) if resid else 0.0


def _step_scatter(used: Sequence[Segment], slope: float) -> float:
    """The noise of one look from the steps between consecutive looks (less what the slope
    explains): 1.4826 x their median / sqrt(2). On a dozen looks the scatter around a line can
    come out several times too small by chance (most looks happen to sit near it); both estimates
    that small together is far rarer."""
    steps = [abs(x) for x, _ in _steps(used, slope)]
    return 1.4826 * median(steps) / math.sqrt(2.0) if steps else 0.0


def sen_interval(sorted_slopes: Sequence[float], var_s: float) -> tuple[float, float]:
    """Sen's ~95 % confidence interval for the slope: the pairwise slopes (sorted) at ranks offset
    by 1.96 x sqrt(Var S) around their median."""
    c = 1.96 * math.sqrt(max(var_s, 0.0))
    m = len(sorted_slopes)
    lo_i = max(0, min(m - 1, math.floor((m - c) / 2.0)))
    hi_i = max(0, min(m - 1, math.ceil((m + c) / 2.0)))
    return sorted_slopes[lo_i], sorted_slopes[hi_i]


def nights_spanned(used: Sequence[Segment]) -> int:
    """Calendar nights from the first segment's first point to the last one's last, both counted."""
    return round((used[-1][0][-1] - used[0][0][0]) / 86400.0) + 1


def detect_decline(
    segments: Sequence[Segment], min_abs: float, min_rel: float = 0.0, busy: frozenset[float] = frozenset()
) -> Trend | None:
    """Mirror of :func:`detect_rise` for series that leak by falling (MemAvailable)."""
    flipped = [(ts, [-y for y in ys]) for ts, ys in segments]
    t = detect_rise(flipped, min_abs, min_rel, busy=busy)
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
        busy_nights=t.busy_nights,
    )
