"""What a collection is asked to do (CollectOptions) and the limits it works under."""

from __future__ import annotations

from dataclasses import dataclass

# Far above any real capture (32,000 leaked threads print ~8 MiB); a device printing more is broken.
# The collector holds at most concurrency x this much capture data at once.
MAX_CAPTURE_BYTES = 16 * 1024 * 1024
KEEP_CONNECTION_MAX_INTERVAL = 300.0  # reconnect per sample beyond this: idle sessions die in NATs
# A device whose kept shell did not answer gets a shell per capture in later runs for this long,
# then its kept shell is tried again (a firmware update may have fixed its login wrapper).
ONE_SHOT_SHELL_DAYS = 30.0
# Devices holding a kept connection at once in a multi-sample run (~35 KiB and one socket each);
# further devices start their samples as earlier ones finish theirs.
MAX_CONNECTED = 2000


@dataclass(frozen=True)
class CollectOptions:
    samples: int = 1  # 0: until stopped (soak mode)
    interval: float = 60.0
    until: float | None = None  # wall-clock time (epoch s): no sample starts at or after it
    concurrency: int = 64
    # On a kept connection, read every process's maps, cmdline and thread names, and slabinfo, on
    # one sample in N only; the others read them for new processes and for those whose VmSize or
    # thread count changed between the two samples before, and copy the rest from the sample before
    # (fleet.extract.steady_maps); slabinfo is not read on those (slab caches grow slowly).
    maps_every: int = 1
    max_capture_bytes: int = MAX_CAPTURE_BYTES
    max_connected: int = MAX_CONNECTED
