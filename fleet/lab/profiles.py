"""What runs on each lab device: the workload catalogue and the device plans of each profile.

Pure data, no I/O: :mod:`fleet.lab.lab` turns a plan into boot scripts. Every workload is a C
program in ``workloads/<name>.c``, installed on the device under a realistic firmware name (its
comm), with its rates in ``LAB_*`` environment variables documented at the top of the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PROFILES = ("mixed", "light")
EXTRAS = (
    *("hang", "banner", "hostile", "flood", "garbage", "drop", "slow", "refuse", "buffered"),
    *("bignum", "procflood"),
)
# Normal devices use .1-.200 of each /24; extras use .201 and up of the first one; .250 is left
# free on purpose so inventories can name an address where nothing listens.
_PER_OCTET = 200
_EXTRA_BASE = 201


@dataclass(frozen=True)
class Workload:
    """One C program and what a leak hunter should conclude about it."""

    name: str  # source stem in workloads/
    comm: str  # process name on the device (the binary is installed as /opt/<comm>)
    finding: str | None  # the finding kind it must produce; None for a non-leak
    threads: tuple[str, ...]  # names of its long-lived threads, besides the main thread
    env: Mapping[str, int]  # default LAB_* settings (mirrors the comment in the .c)
    respawn: bool = False  # run under the device's watchdog loop (/opt/respawn)


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "thread_leak",
            "AiApp",
            "thread_leak",
            ("isp_ctrl", "venc_poll", "rtsp_worker"),
            {"LAB_INTERVAL_MS": 1000, "LAB_MAX": 600},
        ),
        Workload(
            "unjoined_threads",
            "onvifd",
            "unjoined_threads",
            ("onvif_disc",),
            {"LAB_INTERVAL_MS": 1000, "LAB_MAX": 900},
        ),
        Workload(
            "heap_growth",
            "recorder",
            "heap_growth",
            ("rec_flush",),
            {"LAB_INTERVAL_MS": 1000, "LAB_CHUNK_KB": 32, "LAB_MAX": 2048},
        ),
        Workload("fd_leak", "uploader", "fd_leak", (), {"LAB_INTERVAL_MS": 1000, "LAB_MAX": 800}),
        Workload(
            "shm_leak",
            "vencd",
            "shm_leak",
            (),
            {"LAB_INTERVAL_MS": 1000, "LAB_CHUNK_KB": 32, "LAB_MAX": 1800},
        ),
        Workload(
            "warmup_plateau",
            "webui",
            None,
            ("http_worker",),
            {"LAB_INTERVAL_MS": 250, "LAB_WARMUP_S": 4, "LAB_CHUNK_KB": 256, "LAB_THREADS": 4},
        ),
        Workload(
            "sawtooth", "motiond", None, (), {"LAB_INTERVAL_MS": 230, "LAB_CHUNK_KB": 256, "LAB_PEAK": 14}
        ),
        Workload(
            "steady_daemon",
            "netmgr",
            None,
            ("netlink", "dhcpc", "ntp_sync"),
            {"LAB_INTERVAL_MS": 1000, "LAB_THREADS": 3, "LAB_CHUNK_KB": 16},
        ),
        Workload(
            "restart_leak",
            "streamer",
            "restart",
            (),
            {"LAB_INTERVAL_MS": 500, "LAB_CHUNK_KB": 128, "LAB_LIFETIME_S": 12},
            respawn=True,
        ),
        # Not in any profile: the "hostile" extra device runs it. Its comm, thread names, cmdline and
        # a mapped file name are markup, escape codes and invalid UTF-8 (see hostile.c); ``comm`` here
        # is only the file name in /opt, the process renames itself.
        Workload("hostile", "hostile", "thread_leak", (), {"LAB_INTERVAL_MS": 1000, "LAB_MAX": 300}),
    )
}

# Settings that are durations: divided by ``speed`` so tests can run the same story faster.
_TIMES = ("LAB_INTERVAL_MS", "LAB_WARMUP_S", "LAB_LIFETIME_S")

# The first 8 devices of the "mixed" profile; later devices repeat the pattern. Every device also
# runs netmgr (steady_daemon) and a respawned `sleep`, so each has flat processes beside its leak.
# AiApp leaks on three devices (one firmware bug seen fleet-wide); lab-07 has no leak at all.
MIXED_PATTERN: tuple[tuple[str, ...], ...] = (
    ("thread_leak",),
    ("unjoined_threads",),
    ("heap_growth", "warmup_plateau"),
    ("fd_leak", "sawtooth"),
    ("shm_leak", "thread_leak"),
    ("restart_leak",),
    ("warmup_plateau", "sawtooth"),
    ("thread_leak", "sawtooth"),
)
BASELINE = ("steady_daemon",)
# Two firmware versions, so the demo and the tests show which one leaks: the devices running AiApp
# (the thread leak) have the newer one, every other device the one before it.
FIRMWARE = "2.3.0"
LEAKING_FIRMWARE = "2.3.1"
# The "hostile" extra's firmware identity: markup and a terminal escape, device text like any other.
HOSTILE_FIRMWARE = "<img src=x onerror=alert(1) id=pwn6>\x1b]0;pwned\x07"
LIGHT_ENV: Mapping[str, Mapping[str, int]] = {"steady_daemon": {"LAB_THREADS": 1, "LAB_CHUNK_KB": 4}}


@dataclass(frozen=True)
class DeviceSpec:
    """One device to start: its address, its login shell behaviour and its programs."""

    name: str
    host: str
    workloads: tuple[str, ...]
    shell: str = "sh"  # sh, or a misbehaving login shell: see fleet.lab.build.SHELLS
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # workload -> LAB_* -> value
    firmware: str = FIRMWARE  # VERSION_ID of the device's /etc/os-release

    @property
    def comms(self) -> tuple[str, ...]:
        """Process names of its workloads, in start order."""
        return tuple(WORKLOADS[w].comm for w in self.workloads)


def check_subnet(subnet: str) -> str:
    """``127.N``: the lab's devices live in 127.N.0.0/16 on the loopback interface."""
    m = re.fullmatch(r"127\.(\d{1,3})", subnet)
    if not m or not 0 < int(m.group(1)) < 256:
        raise ValueError(f"subnet must look like '127.77', not {subnet!r}")
    return subnet


def device_host(subnet: str, index: int) -> str:
    """Address of normal device ``index`` (1-based): 127.N.0.1-200, then 127.N.1.1-200, ..."""
    if not 1 <= index <= _PER_OCTET * 256:
        raise ValueError(f"device index {index} out of range")
    return f"{subnet}.{(index - 1) // _PER_OCTET}.{(index - 1) % _PER_OCTET + 1}"


def settings(
    workload: str,
    *,
    speed: float = 1.0,
    profile_env: Mapping[str, int] | None = None,
    override: Mapping[str, int | str] | None = None,
) -> dict[str, str]:
    """The LAB_* environment for one workload: defaults, profile tweaks, speed, then overrides."""
    if speed <= 0:
        raise ValueError("speed must be positive")
    env: dict[str, int | str] = dict(WORKLOADS[workload].env)
    env.update(profile_env or {})
    for key in _TIMES:
        if key in env:
            env[key] = max(1, round(int(env[key]) / speed))
    env.update(override or {})
    return {k: str(v) for k, v in env.items()}


def plan(
    profile: str,
    devices: int,
    *,
    subnet: str = "127.77",
    extras: Sequence[str] = (),
    speed: float = 1.0,
    env: Mapping[str, Mapping[str, int | str]] | None = None,
) -> list[DeviceSpec]:
    """The devices of a lab: ``devices`` of ``profile`` named lab-01.., then the extras."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
    for extra in extras:
        if extra not in EXTRAS:
            raise ValueError(f"extra must be one of {', '.join(EXTRAS)}, not {extra!r}")
    if len(extras) > 49:
        raise ValueError("at most 49 extra devices")
    check_subnet(subnet)
    overrides = env or {}
    width = max(2, len(str(devices)))

    def env_for(names: tuple[str, ...], light: bool) -> dict[str, dict[str, str]]:
        return {
            w: settings(
                w,
                speed=speed,
                profile_env=LIGHT_ENV.get(w) if light else None,
                override=overrides.get(w),
            )
            for w in names
        }

    specs = []
    for i in range(1, devices + 1):
        light = profile == "light"
        names = BASELINE if light else MIXED_PATTERN[(i - 1) % len(MIXED_PATTERN)] + BASELINE
        firmware = LEAKING_FIRMWARE if "thread_leak" in names else FIRMWARE
        name = f"lab-{i:0{width}d}"
        env_i = env_for(names, light)
        specs.append(DeviceSpec(name, device_host(subnet, i), names, env=env_i, firmware=firmware))
    counts: dict[str, int] = {}
    for k, extra in enumerate(extras):
        counts[extra] = counts.get(extra, 0) + 1
        suffix = "" if extras.count(extra) == 1 else f"-{counts[extra]}"
        # "hostile" is a normal shell with one more program; hang and banner are login shells.
        names = (*BASELINE, "hostile") if extra == "hostile" else BASELINE
        specs.append(
            DeviceSpec(
                f"lab-{extra}{suffix}",
                f"{subnet}.0.{_EXTRA_BASE + k}",
                names,
                shell="sh" if extra == "hostile" else extra,
                env=env_for(names, True),
                firmware=HOSTILE_FIRMWARE if extra == "hostile" else FIRMWARE,
            )
        )
    return specs
