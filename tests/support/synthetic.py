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
from dataclasses import dataclass, field, replace

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
