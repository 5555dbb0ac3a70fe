"""Generated device series with known truth, for the tests, the benchmark and the evaluation.

Each process *pattern* is a labelled behaviour: leaks (heap, threads, unjoined stacks, fds, SYSV
shm, 32-bit address space, sawtooth with rising minima, restart-masked) and look-alikes that are
not leaks (steady, noisy, warm-up plateau, sawtooth with flat minima, watchdog restarts, a thread
pool that breathes). Growth is specified per *sample interval* so the same pattern is equally
visible whether samples are 3 s (lab), 5 min or a night apart.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace

from fleet.metrics.model import DeviceMetrics, ProcessMetrics

KiB = 1024
MiB = 1024 * KiB
PAGE = 4 * KiB
STACK = 8 * MiB
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HZ = 100  # clock ticks per second for start_time


@dataclass(frozen=True)
class Pattern:
    """Truth for one pattern: is it a leak, and which finding kinds must it produce."""

    leak: bool
    kinds: tuple[str, ...] = ()


PATTERNS: dict[str, Pattern] = {
    "steady": Pattern(False),
    "steady_threads": Pattern(False),
    "noisy": Pattern(False),
    "warmup": Pattern(False),
    "sawtooth_flat": Pattern(False),
    "restart_only": Pattern(False, ("restart",)),
    "heap_leak": Pattern(True, ("heap_growth",)),
    "slow_leak": Pattern(True, ("heap_growth",)),
    "sawtooth_rising": Pattern(True, ("heap_growth",)),
    "restart_leak": Pattern(True, ("heap_growth", "restart")),
    "thread_leak": Pattern(True, ("thread_leak",)),
    "unjoined_threads": Pattern(True, ("unjoined_threads",)),
    "stack_growth": Pattern(True, ("stack_growth",)),
    "fd_leak": Pattern(True, ("fd_leak",)),
    "shm_leak": Pattern(True, ("shm_leak",)),
    "vm32_leak": Pattern(True, ("address_space_exhaustion",)),
}
NON_LEAKS = tuple(p for p, spec in PATTERNS.items() if not spec.leak)
LEAKS = tuple(p for p, spec in PATTERNS.items() if spec.leak)

SCHEDULES = {"lab": 3.0, "regular": 300.0, "irregular": 300.0, "nightly": 86400.0}


def schedule(kind: str, n: int, rng: random.Random, start: float = START) -> list[float]:
    """Sample times: ``lab`` (3 s), ``regular`` (5 min, jittered), ``irregular`` (1-10 min), ``nightly``."""
    base = SCHEDULES[kind]
    times = [start]
    for _ in range(n - 1):
        if kind == "irregular":
            gap = rng.uniform(60.0, 540.0)
        elif kind == "nightly":
            gap = base + rng.uniform(-1800.0, 1800.0)
        else:
            gap = base * rng.uniform(0.9, 1.1)
        times.append(times[-1] + gap)
    return times


def nightly_sweeps(nights: int, rng: random.Random, per: int = 3, start: float = START) -> list[float]:
    """Sample times of ``nights`` nightly sweeps of ``per`` samples 60 s apart, around 02:00 UTC
    (``fleet sweep``'s default: 3 samples)."""
    times = []
    for night in range(nights):
        at = start + 7200.0 + night * 86400.0 + rng.uniform(-1800.0, 1800.0)
        times.extend(at + 60.0 * k for k in range(per))
    return times


@dataclass
class _State:
    """Per-process parameters drawn once, so every sample of one process is consistent."""

    rss0: float
    threads0: int
    fds0: int
    rate: float  # growth per sample interval, in the pattern's unit
    period: int = 6  # sawtooth cycle, in samples
    amplitude: float = 0.0
    phase: int = 0
    restart_every: int = 0
    noise: float = 8 * PAGE
    extra: dict[str, float] = field(default_factory=dict)


def _draw(pattern: str, rng: random.Random) -> _State:
    st = _State(
        rss0=rng.uniform(4, 60) * MiB,
        threads0=rng.randint(1, 12),
        fds0=rng.randint(5, 40),
        rate=0.0,
        noise=rng.uniform(2, 16) * PAGE,
    )
    if pattern == "heap_leak":
        st.rate = rng.uniform(256 * KiB, 2 * MiB)
    elif pattern == "slow_leak":
        st.rate = rng.uniform(384 * KiB, 1.5 * MiB)
        st.noise = rng.uniform(16, 48) * PAGE
    elif pattern in ("sawtooth_flat", "sawtooth_rising"):
        st.period = rng.randint(4, 8)
        st.phase = rng.randrange(st.period)
        st.amplitude = rng.uniform(6, 32) * MiB
        st.rate = rng.uniform(512 * KiB, 2 * MiB) if pattern == "sawtooth_rising" else 0.0
    elif pattern in ("restart_only", "restart_leak"):
        st.restart_every = rng.randint(5, 10)
        st.rate = rng.uniform(384 * KiB, 2 * MiB) if pattern == "restart_leak" else 0.0
    elif pattern == "warmup":
        st.amplitude = rng.uniform(4, 32) * MiB
    elif pattern == "noisy":
        st.noise = rng.uniform(32, 96) * PAGE
    elif pattern in ("thread_leak", "unjoined_threads", "stack_growth"):
        st.rate = rng.uniform(0.8, 4.0)  # new threads (or stacks) per sample
    elif pattern == "fd_leak":
        st.rate = rng.uniform(0.8, 5.0)
    elif pattern == "shm_leak":
        st.rate = rng.uniform(0.5, 1.5)
        st.extra["shm_size"] = float(rng.choice((1, 2, 4, 8)) * MiB)
    elif pattern == "vm32_leak":
        st.rate = rng.uniform(16, 64) * MiB
    return st


def _values(pattern: str, st: _State, u: float, total: float, rng: random.Random) -> ProcessMetrics:
    """One sample of a process ``u`` sample-intervals after its (re)start; pid/name filled later."""
    rss = st.rss0 + rng.gauss(0.0, st.noise)
    threads: int | None = st.threads0
    stacks = max(0, st.threads0 - 1)
    names = {"main": 1, "worker": stacks} if stacks else {"main": 1}
    fds = st.fds0
    shm = 0
    vm_extra = 0.0
    bits = 64
    if pattern in ("heap_leak", "slow_leak", "restart_leak"):
        rss += st.rate * u
    elif pattern in ("sawtooth_flat", "sawtooth_rising"):
        cycle = ((u + st.phase) % st.period) / st.period
        rss += st.amplitude * cycle + st.rate * u
    elif pattern == "warmup":
        # Saturates within the first ~40 % of the window, then a plateau.
        rss += st.amplitude * (1.0 - math.exp(-u / max(1.0, total / 10.0)))
    elif pattern == "restart_only":
        rss += min(u, 1.0) * 512 * KiB  # a small warm-up after every start
    elif pattern == "steady_threads":
        threads = st.threads0 + 2 + rng.randint(-2, 3)  # a pool that grows and shrinks
        stacks = threads - 1 + rng.randint(0, 2)  # glibc keeps a few exited stacks cached
        names = {"main": 1, "pool": threads - 1}
    elif pattern == "thread_leak":
        new = int(st.rate * u + rng.random())
        threads = st.threads0 + new
        stacks = threads - 1
        names = {"main": 1, "worker": st.threads0 - 1, "rtsp_worker": new}
        rss += new * 16 * KiB
    elif pattern in ("unjoined_threads", "stack_growth"):
        stacks += int(st.rate * u + rng.random())
        rss += (stacks - st.threads0) * 8 * KiB
        if pattern == "stack_growth":
            threads = None
            names = {}
    elif pattern == "fd_leak":
        fds += int(st.rate * u + rng.random())
    elif pattern == "shm_leak":
        shm = int(st.rate * u + rng.random())
        vm_extra += shm * st.extra["shm_size"]
    elif pattern == "vm32_leak":
        bits = 32
        vm_extra += st.rate * u
    rss_i = max(PAGE, int(rss) // PAGE * PAGE)
    shm_bytes = int(shm * st.extra.get("shm_size", 0.0))
    vm = int(st.rss0 * 3 + 32 * MiB + stacks * (STACK + PAGE) + vm_extra)
    return ProcessMetrics(
        pid=0,
        start_time=0,
        name="",
        rss=rss_i,
        pss=rss_i - 64 * KiB,
        vm_size=vm,
        anon_private=max(PAGE, rss_i - int(st.rss0 * 0.4)),
        threads=threads,
        stack_count=stacks,
        stack_bytes=stacks * STACK,
        stack_size=STACK if stacks else None,
        thread_names=names,
        fds=fds,
        shm_count=shm,
        shm_bytes=shm_bytes,
        address_bits=bits,
    )


def process_series(
    pattern: str,
    times: Sequence[float],
    rng: random.Random,
    *,
    name: str,
    pid: int,
    boots: Sequence[int] | None = None,
    interval: float | None = None,
) -> list[ProcessMetrics]:
    """One process over ``times``: restarts (watchdog patterns) and reboots (``boots``) give new pids."""
    n = len(times)
    boots = boots or [0] * n
    interval = interval or ((times[-1] - times[0]) / max(1, n - 1) if n > 1 else 1.0)
    st = _draw(pattern, rng)
    out: list[ProcessMetrics] = []
    boot_t0 = times[0] - 30.0
    started = times[0]
    cur_pid = pid
    for i, t in enumerate(times):
        if i > 0 and boots[i] != boots[i - 1]:
            boot_t0, started, cur_pid = t - 30.0, t - 20.0, pid  # same pid after a deterministic boot
        elif st.restart_every and i > 0 and i % st.restart_every == 0:
            started, cur_pid = t - 1.0, cur_pid + 97
        u = (t - started) / interval
        pm = _values(pattern, st, u, (times[-1] - times[0]) / interval, rng)
        exe = f"/usr/bin/{name}"
        start = int((started - boot_t0) * HZ)
        out.append(replace(pm, pid=cur_pid, start_time=start, name=name, exe=exe, cmdline=exe))
    return out


@dataclass(frozen=True)
class DeviceTruth:
    """What a generated device really does."""

    patterns: dict[str, str]  # process name -> pattern
    mem_decline_per_s: float | None  # true MemAvailable slope when it declines
    exhausted_in_s: float | None  # true seconds from the last sample until MemAvailable hits 0
    slab_leak: str | None  # name of the leaking slab cache


def device_series(
    times: Sequence[float],
    rng: random.Random,
    processes: Sequence[tuple[str, str]],
    *,
    mem_decline: float = 0.0,
    slab_leak: float = 0.0,
    reboot_at: int | None = None,
    estimated: bool = False,
    boot_id: bool = True,
) -> tuple[list[tuple[float, DeviceMetrics]], DeviceTruth]:
    """A device with ``processes`` (name, pattern), MemAvailable falling ``mem_decline`` bytes/s.

    ``reboot_at`` reboots before that sample index; ``boot_id=False`` leaves the boot id out, so
    only uptime shows the reboot.
    """
    n = len(times)
    boots = [0 if reboot_at is None or i < reboot_at else 1 for i in range(n)]
    interval = (times[-1] - times[0]) / max(1, n - 1) if n > 1 else 1.0
    procs = [
        process_series(pat, times, rng, name=nm, pid=300 + 17 * k, boots=boots, interval=interval)
        for k, (nm, pat) in enumerate(processes)
    ]
    mem_total = 512 * MiB
    avail0 = rng.uniform(200, 320) * MiB
    mem_noise = rng.uniform(0.2, 1.0) * MiB
    slab_caches = {"dentry": 3 * MiB, "inode_cache": 2 * MiB, "kmalloc-64": 1 * MiB, "kmalloc-256": 2 * MiB}
    samples: list[tuple[float, DeviceMetrics]] = []
    boot_t0 = times[0] - 3600.0
    for i, t in enumerate(times):
        if i > 0 and boots[i] != boots[i - 1]:
            boot_t0 = t - 30.0
        since_boot = t - (times[0] if boots[i] == 0 else boot_t0)
        avail = avail0 - mem_decline * since_boot + rng.gauss(0.0, mem_noise)
        slab = {k: int(v + rng.gauss(0.0, 8 * KiB)) for k, v in slab_caches.items()}
        slab["kmalloc-256"] += int(slab_leak * since_boot)
        samples.append(
            (
                t,
                DeviceMetrics(
                    boot_id=f"boot-{boots[i]}" if boot_id else None,
                    kernel="4.9.88",
                    uptime=t - boot_t0,
                    mem_total=mem_total,
                    mem_free=int(avail * 0.4),
                    mem_available=max(0, int(avail)),
                    mem_available_estimated=estimated,
                    slab=slab,
                    processes=tuple(p[i] for p in procs),
                ),
            )
        )
    exhausted = None
    if mem_decline > 0:
        last_since = times[-1] - (times[0] if boots[-1] == 0 else boot_t0)
        exhausted = (avail0 - mem_decline * last_since) / mem_decline
    truth = DeviceTruth(
        patterns={nm: pat for nm, pat in processes},
        mem_decline_per_s=mem_decline or None,
        exhausted_in_s=exhausted,
        slab_leak="kmalloc-256" if slab_leak else None,
    )
    return samples, truth


def scenario(
    pattern: str,
    n: int,
    sched: str,
    seed: int,
    background: int = 4,
) -> tuple[list[tuple[float, DeviceMetrics]], DeviceTruth]:
    """One device: a process named ``target`` doing ``pattern`` beside steady background daemons."""
    rng = random.Random(seed)
    times = schedule(sched, n, rng)
    procs = [("target", pattern)] + [(f"daemon{k}", "steady") for k in range(background)]
    return device_series(times, rng, procs)


# --- Multi-night histories: what a year of nightly sweeps sees ---------------------------------
#
# Each night at ~02:00 the sweep takes three samples a minute apart. Between nights the device
# lives its life: reboots, firmware upgrades (a reboot with a new boot id and a shifted baseline),
# watchdog restarts, a warm-up after each boot, a log buffer cleared every Sunday, and nights when
# the sweep finds the device still busy (a usage peak). Leak rates are per *day*.

DAY = 86400.0


@dataclass(frozen=True)
class NightPattern:
    """Truth for one multi-night pattern: its leak kind (None: not a leak) and the rates tried."""

    kind: str | None
    rates: tuple[float, ...] = (0.0,)  # per day, in the pattern's unit (bytes, threads, fds)
    unit: str = ""


NIGHT_PATTERNS: dict[str, NightPattern] = {
    "steady": NightPattern(None),
    "noisy": NightPattern(None),  # +-4 MiB between nights and usage peaks
    "warmup": NightPattern(None),  # grows for a few nights after every boot, then levels off
    "weekly_log": NightPattern(None),  # a log buffer filled all week and cleared every Sunday
    "pool": NightPattern(None),  # a thread pool and its sockets breathing with the day's load
    "watchdog": NightPattern(None),  # restarted by a watchdog every few nights, warm-up each time
    "heap_leak": NightPattern("heap_growth", (1 * MiB, 2 * MiB, 4 * MiB), "MiB"),
    "restart_heap_leak": NightPattern("heap_growth", (2 * MiB,), "MiB"),  # and a watchdog restarts it
    "thread_leak": NightPattern("thread_leak", (0.5, 1.0, 2.0), "threads"),
    "unjoined_threads": NightPattern("unjoined_threads", (0.5, 1.0), "stacks"),
    "fd_leak": NightPattern("fd_leak", (1.0, 2.0), "fds"),
    "thread_leak_32": NightPattern("thread_leak", (0.5, 1.0), "threads"),  # 32-bit: stacks eat address space
}
NIGHT_NON_LEAKS = tuple(p for p, spec in NIGHT_PATTERNS.items() if spec.kind is None)
NIGHT_LEAKS = tuple(p for p, spec in NIGHT_PATTERNS.items() if spec.kind is not None)
NIGHT_NOISE = 4 * MiB  # heap level from one night to the next: uniform within +-4 MiB


@dataclass(frozen=True)
class NightTruth:
    """What a generated history really does, and the nights its events fell on."""

    pattern: str
    rate: float
    kind: str | None
    nights: int
    reboots: tuple[int, ...]  # nights that start a new boot (firmware upgrades included)
    upgrades: tuple[int, ...]
    restarts: tuple[int, ...]  # nights before which the watchdog restarted the target


def _weekday(t: float) -> int:
    """Monday 0 .. Sunday 6 (1970-01-01 was a Thursday)."""
    return (int(t // DAY) + 3) % 7


def _events(pattern: str, nights: int, rng: random.Random) -> tuple[list[int], list[int], list[int]]:
    """Reboots (about every 40 nights), firmware upgrades (about every 90) and watchdog restarts."""
    reboots, upgrades, restarts = [], [], []
    every = rng.randint(3, 15) if pattern == "watchdog" else rng.randint(5, 10) if "restart" in pattern else 0
    next_restart = every
    for k in range(1, nights):
        if rng.random() < 1 / 90:
            upgrades.append(k)
            reboots.append(k)
        elif rng.random() < 1 / 40:
            reboots.append(k)
        elif every and k >= next_restart:
            restarts.append(k)
            next_restart = k + every
        elif not every and rng.random() < 1 / 60:
            restarts.append(k)  # an occasional watchdog restart for any program
    return reboots, upgrades, restarts


def night_history(
    pattern: str, nights: int, seed: int, rate: float | None = None, background: int = 3
) -> tuple[list[tuple[float, DeviceMetrics]], NightTruth]:
    """``nights`` nightly sweeps (3 samples a minute apart at ~02:00) of one device.

    The device runs ``target`` doing ``pattern`` at ``rate`` per day (default: the pattern's first
    rate), ``logd`` (a log buffer cleared every Sunday), and ``background`` steady daemons. Every
    random draw comes from ``seed``, so a history is the same on every run.
    """
    spec = NIGHT_PATTERNS[pattern]
    rng = random.Random(seed)
    rate = spec.rates[0] if rate is None else rate
    reboots, upgrades, restarts = _events(pattern, nights, rng)
    bits = 32 if pattern.endswith("_32") else 64
    names = ["target", "logd", *(f"daemon{k}" for k in range(background))]
    base = {nm: rng.uniform(4, 40) * MiB for nm in names}
    threads0 = {nm: rng.randint(2, 10) for nm in names}
    fds0 = {nm: rng.randint(8, 40) for nm in names}
    warm = rng.uniform(4, 24) * MiB if pattern in ("warmup", "watchdog") else rng.uniform(0, 2) * MiB
    warm_nights = rng.uniform(0.2, 0.6)  # a warm-up levels off within a day or two
    log_rate = rng.uniform(0.5, 3.0) * MiB
    weekly_target = rng.uniform(1.0, 4.0) * MiB
    avail0 = rng.uniform(180, 320) * MiB
    cache_fill = rng.uniform(8, 32) * MiB
    # The load average has a generator of its own, so the rest of a history is the same with or
    # without it: a usage peak keeps the CPU busy (mildly, on some nights), and now and then a cron
    # job does too on a quiet night, without touching memory.
    load_rng = random.Random(seed * 7919 + 1)
    quiet_load = load_rng.uniform(0.1, 1.0)

    samples: list[tuple[float, DeviceMetrics]] = []
    boot, firmware, boot_t0 = 0, 1, START - 3600.0
    started = {nm: START for nm in names}  # wall time of each process's (re)start
    pid_of = {nm: 300 + 17 * k for k, nm in enumerate(names)}
    has_firmware = "firmware" in {f.name for f in fields(DeviceMetrics)}
    for k in range(nights):
        t0 = START + k * DAY + 2 * 3600 + rng.uniform(-1200.0, 1200.0)
        if k in reboots:
            boot += 1
            boot_t0 = t0 - rng.uniform(3600.0, 20 * 3600.0)
            started = dict.fromkeys(names, boot_t0 + 20.0)
            pid_of = {nm: 300 + 17 * j for j, nm in enumerate(names)}  # a deterministic boot
            if k in upgrades:
                firmware += 1
                for nm in names:  # the new firmware's programs use a little more or less memory
                    base[nm] *= rng.uniform(0.9, 1.15)
        if k in restarts:
            started["target"] = t0 - rng.uniform(600.0, 20 * 3600.0)
            pid_of["target"] += 97
        busy = rng.random() < 1 / 7  # the sweep finds the device still busy: a usage peak
        night_noise = {nm: rng.uniform(-1.0, 1.0) for nm in names}
        peak, cron, cron_load = load_rng.uniform(0.5, 4.0), load_rng.random() < 1 / 20, load_rng.uniform(1, 2)
        night_load = (
            quiet_load + load_rng.uniform(0.0, 0.3) + (peak if busy else 0.0) + (cron_load if cron else 0.0)
        )
        for j in range(3):
            t = t0 + 60.0 * j + rng.uniform(-3.0, 3.0)
            procs = []
            for nm in names:
                age = (t - started[nm]) / DAY  # days since this instance started
                pat = pattern if nm == "target" else "weekly_log" if nm == "logd" else "steady"
                pm = _night_values(
                    pat, nm, t, age, rate, rng,
                    base=base[nm], threads0=threads0[nm], fds0=fds0[nm], bits=bits if nm == "target" else 64,
                    noise=night_noise[nm], busy=busy,
                    warm=warm if nm == "target" else 1 * MiB, warm_nights=warm_nights,
                    weekly=log_rate if nm == "logd" else weekly_target,
                )  # fmt: skip
                start = int((started[nm] - boot_t0) * HZ)
                exe = f"/usr/bin/{nm}"
                procs.append(replace(pm, pid=pid_of[nm], start_time=start, name=nm, exe=exe, cmdline=exe))
            since_boot = (t - boot_t0) / DAY
            grown = sum(max(0, (p.anon_private or 0) - int(base[p.name] * 0.6)) for p in procs)
            avail = (
                avail0
                - cache_fill * (1.0 - math.exp(-since_boot / warm_nights))
                - grown
                + rng.uniform(-1.0, 1.0) * NIGHT_NOISE * 0.5
                - (8 * MiB if busy else 0)
            )
            slab = {
                "dentry": int(3 * MiB + 2 * MiB * (1.0 - math.exp(-since_boot)) + rng.gauss(0, 16 * KiB)),
                "kmalloc-256": int(2 * MiB + rng.gauss(0, 32 * KiB)),
                "kmalloc-1k": int(1 * MiB + rng.gauss(0, 32 * KiB) + (256 * KiB if busy else 0)),
            }
            dm = DeviceMetrics(
                boot_id=f"boot-{seed}-{boot}",
                kernel="4.9.88",
                uptime=t - boot_t0,
                mem_total=512 * MiB,
                mem_free=int(avail * 0.4),
                mem_available=max(0, int(avail)),
                load1=round(night_load + load_rng.uniform(-0.05, 0.05), 2),
                slab=slab,
                processes=tuple(procs),
            )
            if has_firmware:
                dm = replace(dm, firmware=f"v1.{firmware}")  # type: ignore[call-arg]
            samples.append((t, dm))
    truth = NightTruth(pattern, rate, spec.kind, nights, tuple(reboots), tuple(upgrades), tuple(restarts))
    return samples, truth


def _night_values(
    pattern: str,
    name: str,
    t: float,
    age: float,
    rate: float,
    rng: random.Random,
    *,
    base: float,
    threads0: int,
    fds0: int,
    bits: int,
    noise: float,
    busy: bool,
    warm: float,
    warm_nights: float,
    weekly: float,
) -> ProcessMetrics:
    """One sample of one process ``age`` days after it started; pid and name are filled later."""
    heap = base + warm * (1.0 - math.exp(-age / warm_nights)) + rng.gauss(0.0, 4 * PAGE)
    spread = NIGHT_NOISE if pattern == "noisy" or "heap" in pattern else NIGHT_NOISE / 8
    heap += noise * spread + (rng.uniform(2, 8) * MiB if busy and pattern != "steady" else 0.0)
    threads, stacks_extra, fds = threads0, 0, fds0
    names = {name: 1, "worker": threads0 - 1}
    if pattern == "weekly_log":
        since_sunday = (_weekday(t) + 1) % 7 + (t % DAY) / DAY  # days since Sunday 00:00
        heap += weekly * min(since_sunday, age)
    elif pattern == "pool" or busy:
        extra = rng.randint(0, 3) + (3 if busy else 0)
        threads += extra
        names["worker"] += extra
        fds += rng.randint(0, 4) + (4 if busy else 0)
    if pattern in ("heap_leak", "restart_heap_leak"):
        heap += rate * age
    elif pattern in ("thread_leak", "thread_leak_32"):
        new = int(rate * age)
        threads += new
        names["rtsp_worker"] = new
        heap += new * 16 * KiB
    elif pattern == "unjoined_threads":
        stacks_extra = int(rate * age)
        heap += stacks_extra * 8 * KiB
    elif pattern == "fd_leak":
        fds += int(rate * age) + rng.randint(-2, 2)
    stacks = threads - 1 + stacks_extra
    rss = max(PAGE, int(heap + 2 * MiB) // PAGE * PAGE)
    vm = int(base * 3 + 32 * MiB + stacks * (STACK + PAGE))
    if bits == 32:
        vm += 600 * MiB
    return ProcessMetrics(
        pid=0,
        start_time=0,
        name="",
        rss=rss,
        pss=rss - 64 * KiB,
        vm_size=vm,
        anon_private=max(PAGE, int(heap) // PAGE * PAGE),
        threads=threads,
        stack_count=stacks,
        stack_bytes=stacks * STACK,
        stack_size=STACK if stacks else None,
        thread_names={k: v for k, v in names.items() if v > 0},
        fds=fds,
        address_bits=bits,
    )
