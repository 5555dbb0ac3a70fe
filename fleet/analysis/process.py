"""Findings for one process lineage: threads and stacks, heap, fds, SYSV shm, address space, restarts.

The thread checks follow docs/method.md section 3: thread-stack mappings roughly equal to live
threads and both growing means threads are created and never exit (``thread_leak``); stack
mappings outnumbering and outgrowing live threads means joinable threads exited without
``pthread_join()`` (``unjoined_threads``); stacks growing while the thread count is unknown (an
imported maps-only log) is ``stack_growth``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleet import text
from fleet.analysis.model import SEVERITY_ORDER, Evidence, Finding, ProcessAssessment
from fleet.analysis.score import combine, finding_score
from fleet.analysis.series import Lineage
from fleet.analysis.stats import Segment, Trend, detect_rise
from fleet.metrics.model import ProcessMetrics

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

# Least growth over the window that can be a finding: (absolute, fraction of the current level).
# A few pages of RSS noise, a thread pool breathing by one or two workers, a log file reopened:
# none of these clear the bar.
MEMORY_MIN = (512 * KiB, 0.02)
VM_MIN = (4 * MiB, 0.05)
THREADS_MIN = (3, 0.05)
STACKS_MIN = (3, 0.05)
FDS_MIN = (4, 0.05)
SHM_MIN = (2, 0.0)

# 32-bit user space ends at 3 GiB with the usual 3G/1G split (ARM, x86 CONFIG_VMSPLIT_3G).
ADDRESS_SPACE_32 = 3 * GiB
# Resident stack pages a new thread plausibly touches; anon growth below this is the threads' own.
STACK_RESIDENT_PER_THREAD = 256 * KiB


@dataclass(frozen=True)
class _Ctx:
    """What every summary needs: who, and over which lineage."""

    label: str  # "AiApp (pid 412)"
    restarts: int
    busy: frozenset[float] = frozenset()  # times of samples a nightly history leaves out (analysis.busy)

    def across(self) -> str:
        return f" across {text.plural(self.restarts, 'restart')}" if self.restarts else ""


def _segments(lineage: Lineage, metric: str) -> tuple[list[Segment], list[float | None]]:
    """One (times, values) segment an instance of a field, unknown values left out; and when each began."""
    out: list[Segment] = []
    starts: list[float | None] = []
    for inst in lineage.instances:
        ys = inst.column(metric)
        if None not in ys:  # the common case, kept cheap: this runs for every metric of every process
            out.append((inst.times, ys))
            starts.append(inst.started)
            continue
        known = [(t, y) for t, y in zip(inst.times, ys, strict=True) if y is not None]
        if known:
            out.append(([t for t, _ in known], [y for _, y in known]))
            starts.append(inst.started)
    return out, starts


STAIR_STEPS = 3  # a count that climbed this many steps without a fall is a leak (stats._staircase)


def _rise(
    lineage: Lineage,
    ctx: _Ctx,
    metric: str,
    limits: tuple[float, float],
    stair: int = 0,
    counts: bool = False,
) -> Trend | None:
    segments, starts = _segments(lineage, metric)
    return detect_rise(
        segments,
        *limits,
        stair=stair,
        restarts=lineage.restarts,
        starts=starts,
        busy=ctx.busy,
        counts=counts,
    )


def _net_growth(lineage: Lineage, metric: str) -> float:
    """Sum over instances of last - first known value (what grew, restarts excluded)."""
    total = 0.0
    for _, ys in _segments(lineage, metric)[0]:
        total += ys[-1] - ys[0]
    return total


def trend_evidence(trend: Trend, metric: str, **extra: float | int | str | None) -> Evidence:
    """The numbers behind a trend finding (process or device level), plus kind-specific extras."""
    ev: Evidence = {
        "metric": metric,
        "slope_per_hour": round(trend.per_hour, 3),
        "slope_per_hour_low": round(trend.slope_lo * 3600, 3),
        "slope_per_hour_high": round(trend.slope_hi * 3600, 3),
        "tau": round(trend.tau, 3),
        "p_value": float(f"{trend.p_value:.3g}"),
        "first": trend.first,
        "last": trend.last,
        "growth": round(trend.growth, 1),
        "threshold": round(trend.threshold, 1),
        "samples": trend.samples,
        "segments": trend.segments,
        "window_s": round(trend.window_s, 1),
        "nights": trend.nights or None,
        "busy_nights_left_out": trend.busy_nights or None,
        "sawtooth": "minima" if trend.sawtooth else None,
    }
    ev.update(extra)
    return ev


def over(trend: Trend, busy: bool = True) -> str:
    """How much history a trend rests on, for summaries: `` over 19 nights`` (nothing within one
    session), `` over 19 nights (2 busy nights left out)`` (unless ``busy`` is False)."""
    if trend.nights < 2:
        return ""
    aside = trend.busy_nights if busy else 0
    return f" over {trend.nights} nights" + (
        f" ({text.plural(aside, 'busy night')} left out)" if aside else ""
    )


# A forecast this many times longer than the window it comes from is an extrapolation: said so.
FORECAST_REACH = 10.0


def short_window(eta: float, trend: Trend) -> str:
    """`` (from 40 min of samples)`` when ``eta`` reaches far beyond the trend's window, else ""."""
    if trend.window_s > 0 and eta > FORECAST_REACH * trend.window_s:
        return f" (from {text.duration(trend.window_s)}{over(trend, busy=False)} of samples)"
    return ""


def _finding(kind: str, trend: Trend, summary: str, ev: Evidence, severity: str | None = None) -> Finding:
    sev = severity or trend.severity
    ratio = trend.growth / trend.threshold if trend.threshold > 0 else 1.0
    return Finding(kind, sev, summary, ev, finding_score(sev, trend.tau, ratio))


def _min_severity(a: str, b: str) -> str:
    return a if SEVERITY_ORDER[a] <= SEVERITY_ORDER[b] else b


def _growing_thread_name(lineage: Lineage) -> tuple[str | None, int]:
    """The thread name (comm) whose count grew most over the lineage, and its latest count."""
    growth: dict[str, int] = {}
    for inst in lineage.instances:
        first, last = inst.first.thread_names, inst.last.thread_names
        for name in set(first) | set(last):
            growth[name] = growth.get(name, 0) + last.get(name, 0) - first.get(name, 0)
    if not growth:
        return None, 0
    name = max(sorted(growth), key=lambda n: growth[n])
    if growth[name] <= 0:
        return None, 0
    return name, lineage.latest.last.thread_names.get(name, 0)


def _stack_size(rec: ProcessMetrics) -> int | None:
    if rec.stack_size:
        return rec.stack_size
    return rec.stack_bytes // rec.stack_count if rec.stack_count else None


def _consequence(trend: Trend, rec: ProcessMetrics, stack: int | None) -> tuple[str, Evidence]:
    """For a 32-bit process: when the new stacks fill its address space, said beside the leak."""
    if rec.address_bits != 32 or not stack or rec.vm_size is None or trend.slope <= 0:
        return "", {}
    eta = max(0.0, (ADDRESS_SPACE_32 - rec.vm_size) / (trend.slope * stack))
    words = (
        f"; as a 32-bit process it runs out of address space in about {text.duration(eta)}"
        f"{short_window(eta, trend)}, then pthread_create fails"
    )
    return words, {"exhausted_in_s": round(eta), "short_window": "yes" if short_window(eta, trend) else "no"}


def _thread_findings(lineage: Lineage, ctx: _Ctx) -> list[Finding]:
    """thread_leak, unjoined_threads and stack_growth, as method.md section 3 tells them apart."""
    last = lineage.latest.last
    threads_known = any(v is not None for i in lineage.instances for v in i.column("threads"))
    t_trend = _rise(lineage, ctx, "threads", THREADS_MIN, STAIR_STEPS) if threads_known else None
    s_trend = _rise(lineage, ctx, "stack_count", STACKS_MIN, STAIR_STEPS)
    stack = _stack_size(last)
    stack_text = f", each with its own {text.size(stack)} stack" if stack and s_trend else ""
    out: list[Finding] = []

    if t_trend is not None:
        name, name_count = _growing_thread_name(lineage)
        new = text.count(t_trend.growth)
        named = f" named {name}" if name else ""
        summary = (
            f"{ctx.label}: {new} new threads{named} in {text.duration(t_trend.window_s)}{over(t_trend)}"
            f"{stack_text}"
            f"{ctx.across()}; they never exit ({text.rate(t_trend.per_hour)}, now {last.threads} threads)"
        )
        words, extra = _consequence(t_trend, last, stack)
        summary += f"{words}."
        ev = trend_evidence(
            t_trend,
            "threads",
            thread_name=name,
            thread_name_count=name_count,
            stack_count=last.stack_count,
            stack_size=stack,
        )
        ev.update(extra)
        out.append(_finding("thread_leak", t_trend, summary, ev))

    if s_trend is not None and threads_known:
        thread_growth = t_trend.growth if t_trend else max(0.0, _net_growth(lineage, "threads"))
        excess = s_trend.growth - thread_growth
        stacks, live, now = _most_unjoined(lineage)
        if excess >= STACKS_MIN[0] and stacks > live + STACKS_MIN[0] - 1:
            each = f" ({text.size(stack)} each)" if stack else ""
            were = "stay mapped while only" if now else "stayed mapped while only"
            alive = "are" if now else "were"
            summary = (
                f"{ctx.label}: {stacks} thread stacks{each} "
                f"{were} {live} threads {alive} alive, +{text.count(excess)} in "
                f"{text.duration(s_trend.window_s)}{over(s_trend)}{ctx.across()}; exited threads are never "
                f"pthread_join()ed (or detached)."
            )
            ev = trend_evidence(
                s_trend, "stack_count", threads=live, stack_size=stack, stack_bytes=last.stack_bytes
            )
            ev["excess_stacks"] = round(excess, 1)
            out.append(_finding("unjoined_threads", s_trend, summary, ev))
    elif s_trend is not None:
        summary = (
            f"{ctx.label}: thread-stack mappings grew from {s_trend.first:.0f} to {last.stack_count} in "
            f"{text.duration(s_trend.window_s)}{over(s_trend)}{stack_text}{ctx.across()} "
            f"(thread count unknown); "
            f"threads are created and never exit or never joined"
        )
        words, extra = _consequence(s_trend, last, stack)
        summary += f"{words}."
        ev = trend_evidence(s_trend, "stack_count", stack_size=stack, stack_bytes=last.stack_bytes)
        ev.update(extra)
        out.append(_finding("stack_growth", s_trend, summary, ev))
    return out


def _most_unjoined(lineage: Lineage) -> tuple[int, int, bool]:
    """Stacks outnumbering live threads: now, or before the latest restart (a fresh instance has
    not piled up any yet). (stacks, live threads, whether that is now) where stacks - threads is
    largest (the first such look; now on a tie), the latest look when no thread count is known."""
    last = lineage.latest.last
    best = ((last.stack_count - (last.threads or 0), True), last.stack_count, last.threads or 0)
    found = False
    for inst in lineage.instances:
        final = len(inst.times) - 1 if inst is lineage.latest else -1
        looks = zip(inst.column("stack_count"), inst.column("threads"), strict=True)
        for k, (stacks, threads) in enumerate(looks):
            if threads is not None and (not found or (stacks - threads, k == final) > best[0]):
                best, found = ((stacks - threads, k == final), stacks, threads), True
    (_, now), stacks, live = best
    return stacks, live, now


def _memory_metric(lineage: Lineage) -> tuple[str, str]:
    """Private anonymous memory when the kernel gives it, else PSS, else RSS."""
    if _known(lineage, "anon_private"):
        return "anon_private", "private anonymous memory"
    if _known(lineage, "pss"):
        return "pss", "PSS"
    return "rss", "RSS"


def _known(lineage: Lineage, metric: str) -> bool:
    return any(v is not None for i in lineage.instances for v in i.column(metric))


def _heap_finding(lineage: Lineage, ctx: _Ctx, thread_findings: Sequence[Finding]) -> Finding | None:
    metric, words = _memory_metric(lineage)
    trend = _rise(lineage, ctx, metric, MEMORY_MIN)
    if trend is None:
        return None
    if thread_findings:
        # New threads touch stack pages, which count as anonymous memory: do not report the same
        # leak twice unless the heap grows by more than the stacks can explain.
        new_threads = max(float(f.evidence.get("growth") or 0) for f in thread_findings)
        if trend.growth <= new_threads * STACK_RESIDENT_PER_THREAD:
            return None
    pattern = " (the minima of its alloc/free cycles)" if trend.sawtooth else ""
    summary = (
        f"{ctx.label}: {words}{pattern} grew {text.size(trend.growth)} in "
        f"{text.duration(trend.window_s)}{over(trend)}"
        f"{ctx.across()} ({text.rate(trend.per_hour, 'bytes')}) and is still rising, now "
        f"{text.size(trend.last)}; memory is allocated and never freed."
    )
    return _finding("heap_growth", trend, summary, trend_evidence(trend, metric))


def _count_finding(
    lineage: Lineage,
    ctx: _Ctx,
    kind: str,
    metric: str,
    limits: tuple[float, float],
    what: str,
    why: str,
) -> Finding | None:
    trend = _rise(lineage, ctx, metric, limits, counts=True)
    if trend is None:
        return None
    summary = (
        f"{ctx.label}: {what} grew from {trend.first:.0f} to {trend.last:.0f} in "
        f"{text.duration(trend.window_s)}{over(trend)}{ctx.across()} ({text.rate(trend.per_hour)}); {why}."
    )
    return _finding(kind, trend, summary, trend_evidence(trend, metric))


STACK_LEAKS = ("thread_leak", "unjoined_threads", "stack_growth")


def _cause(findings: Sequence[Finding]) -> tuple[Finding, str] | None:
    """The stack leak a 32-bit address space runs out from, and its words (``the rtsp_worker stack leak``)."""
    leak = next((f for f in findings if f.kind in STACK_LEAKS and f.severity in ("medium", "high")), None)
    if leak is None:
        return None
    name = leak.evidence.get("thread_name")
    return leak, f"the {name} stack leak" if isinstance(name, str) and name else "the thread-stack leak"


def _address_space_findings(
    lineage: Lineage, ctx: _Ctx, leaks: Sequence[Finding] = ()
) -> tuple[list[Finding], float | None]:
    """vm_growth (virtual size outrunning RSS) and, for 32-bit processes, time to exhaustion.

    Beside a thread-stack leak (``leaks``) the exhaustion is that leak's consequence: said so, and
    never ranked above it (its severity capped at the leak's, its score below it).
    """
    trend = _rise(lineage, ctx, "vm_size", VM_MIN)
    if trend is None:
        return [], None
    out: list[Finding] = []
    last = lineage.latest.last
    rss_growth = max(0.0, _net_growth(lineage, "rss"))
    explained = max(0.0, _net_growth(lineage, "stack_bytes")) + max(0.0, _net_growth(lineage, "shm_bytes"))
    unexplained = trend.growth - explained
    is32 = last.address_bits == 32
    if unexplained >= max(16 * MiB, 4 * rss_growth):
        summary = (
            f"{ctx.label}: virtual size grew {text.size(trend.growth)} in "
            f"{text.duration(trend.window_s)}{over(trend)}"
            f"{ctx.across()} while RSS grew {text.size(rss_growth)}; mappings are reserved and never "
            f"unmapped (mmap without munmap, arenas)."
        )
        sev = trend.severity if is32 or last.address_bits is None else _min_severity(trend.severity, "low")
        ev = trend_evidence(trend, "vm_size", rss_growth=rss_growth, unexplained=round(unexplained))
        out.append(_finding("vm_growth", trend, summary, ev, _min_severity(sev, "medium")))

    eta: float | None = None
    if is32:
        eta = max(0.0, (ADDRESS_SPACE_32 - trend.level) / trend.slope)
        slow = (ADDRESS_SPACE_32 - trend.level) / trend.slope_lo if trend.slope_lo > 0 else None
        fast = max(0.0, (ADDRESS_SPACE_32 - trend.level) / trend.slope_hi)
        by_eta = "high" if eta < 86400 else "medium" if eta < 7 * 86400 else "low"
        sev = _min_severity(trend.severity, by_eta)
        summary = (
            f"{ctx.label} is a 32-bit process: its virtual size ({text.size(trend.level)}) grows "
            f"{text.rate(trend.per_hour, 'bytes')} and reaches the ~3 GiB address-space limit in about "
            f"{text.duration(eta)}{short_window(eta, trend)}; then mmap and pthread_create fail."
        )
        ev = trend_evidence(
            trend,
            "vm_size",
            limit=ADDRESS_SPACE_32,
            exhausted_in_s=round(eta),
            exhausted_earliest_s=round(fast),
            exhausted_latest_s=None if slow is None else round(slow),
            short_window="yes" if short_window(eta, trend) else "no",
        )
        found = _finding("address_space_exhaustion", trend, summary, ev, sev)
        cause = _cause(leaks) if explained >= 0.5 * trend.growth else None
        if cause is not None:
            leak, words = cause
            sev = _min_severity(sev, leak.severity)
            summary = (
                f"{ctx.label}: address space runs out in about {text.duration(eta)}"
                f"{short_window(eta, trend)}: a consequence of {words} (virtual size "
                f"{text.size(trend.level)} of the ~3 GiB a 32-bit process has, growing "
                f"{text.rate(trend.per_hour, 'bytes')}); then mmap and pthread_create fail."
            )
            ev["consequence_of"] = leak.kind
            ratio = trend.growth / trend.threshold if trend.threshold > 0 else 1.0
            score = 0.99 * min(finding_score(sev, trend.tau, ratio), leak.score)
            found = Finding("address_space_exhaustion", sev, summary, ev, score)
        out.append(found)
    return out, eta


def _restart_finding(lineage: Lineage, ctx: _Ctx) -> Finding | None:
    n = lineage.restarts
    if n == 0:
        return None
    insts = lineage.instances
    window = insts[-1].times[-1] - insts[0].times[0]
    pids = " -> ".join(str(i.pid) for i in insts[-6:])
    sev = "info"  # a restart is context, not leak evidence: it must never outrank a watch item
    summary = (
        f"{lineage.latest.name} restarted {text.plural(n, 'time')} in {text.duration(window)} "
        f"(pid {pids}); trends were followed across the restarts, not read as memory recovering."
    )
    ev: Evidence = {"restarts": n, "pids": pids, "window_s": round(window, 1), "samples": lineage.samples}
    return Finding("restart", sev, summary, ev, finding_score(sev, 1.0, float(n)))


def _sparkline(lineage: Lineage, metric: str) -> tuple[Any, ...]:
    return tuple(itertools.chain.from_iterable(inst.column(metric) for inst in lineage.instances))


def analyse_lineage(lineage: Lineage, busy: frozenset[float] = frozenset()) -> ProcessAssessment:
    """Every process-level finding for one lineage, its score and sparkline series; ``busy``: the
    times of samples taken while the device was busy (fleet.analysis.busy)."""
    latest = lineage.latest
    last = latest.last
    ctx = _Ctx(f"{last.name} (pid {latest.pid})", lineage.restarts, busy)

    findings: list[Finding] = _thread_findings(lineage, ctx)
    heap = _heap_finding(lineage, ctx, findings)
    if heap:
        findings.append(heap)
    fd = _count_finding(
        lineage, ctx, "fd_leak", "fds", FDS_MIN, "open file descriptors",
        "files or sockets are opened and never closed",
    )  # fmt: skip
    shm = _count_finding(
        lineage, ctx, "shm_leak", "shm_count", SHM_MIN, "SYSV shared-memory attachments",
        "segments are shmat()ed and never shmdt()ed",
    )  # fmt: skip
    findings.extend(f for f in (fd, shm) if f is not None)
    vm, eta = _address_space_findings(lineage, ctx, findings)
    findings.extend(vm)
    restart = _restart_finding(lineage, ctx)
    if restart:
        findings.append(restart)
    findings.sort(key=lambda f: -f.score)

    return ProcessAssessment(
        pid=latest.pid,
        start_time=latest.start_time,
        name=last.name,
        exe=last.exe,
        cmdline=last.cmdline,
        score=combine(f.score for f in findings),
        findings=tuple(findings),
        restarts=lineage.restarts,
        samples=lineage.samples,
        address_space_exhausted_in_s=eta,
        times=tuple(itertools.chain.from_iterable(inst.times for inst in lineage.instances)),
        rss=_sparkline(lineage, "rss"),
        threads=_sparkline(lineage, "threads"),
        stack_count=_sparkline(lineage, "stack_count"),
        fds=_sparkline(lineage, "fds"),
    )
