"""The store writer: one thread per run does every store write, so SQLite sees a single writer and
parsing never stalls the event loop. Per sample: the raw capture first, then its metrics, then the attempt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from fleet.collect.options import ONE_SHOT_SHELL_DAYS
from fleet.inventory.model import Device
from fleet.metrics.from_capture import steady_maps
from fleet.ssh.outcomes import CAPTURE_ERROR, device_flags
from fleet.store.parse import parse_sample_metrics
from fleet.store.store import Store

_T = TypeVar("_T")


class StoreWriter:
    """Serialises store access on one thread; the store never sees two writers from one collector."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store, self.run_id = store, run_id
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-store")
        self.ids: dict[str, int] = {}
        self.one_shot: set[str] = set()  # devices that start on a shell per capture (fleet.collect.sampler)

    async def call(self, fn: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    async def register(self, devices: Sequence[Device]) -> None:
        """Every device's row in one transaction (one commit, not one per device), in name order:
        two collectors registering the same devices take their row locks in the same order."""

        def write() -> tuple[dict[str, int], set[int]]:
            ids: dict[str, int] = {}
            with self.store.transaction():
                for device in sorted(devices, key=lambda d: d.name):
                    device_id = self.store.device_id(device.name, device.host, device.groups, device.tags)
                    self.store.set_device_flags(device_id, device_flags(device))
                    ids[device.name] = device_id
            return ids, self.store.one_shot_shell_devices(time.time() - ONE_SHOT_SHELL_DAYS * 86400)

        ids, one_shot = await self.call(write)
        self.ids.update(ids)
        self.one_shot.update(name for name, device_id in ids.items() if device_id in one_shot)

    async def sample(
        self,
        device: Device,
        at: float,
        raw: bytes,
        token: str,
        seconds: float,
        complete: bool,
        attempt: tuple[str, str | None, float],
    ) -> tuple[list[str], str | None, frozenset[int]]:
        """Store and parse one capture, then record the attempt (status, error, seconds) in the
        same trip to the writer thread: its problems, why it was refused (over a cap of
        fleet.limits: the attempt is then a capture_error saying so), and the pids whose maps the
        next capture may skip (unchanged since the device's previous sample, fleet.extract.steady_maps)."""

        def write() -> tuple[list[str], str | None, frozenset[int]]:
            device_id = self.ids[device.name]
            sid = self.store.add_raw_sample(
                device_id, self.run_id, at, raw, token=token, duration=seconds, complete=complete
            )
            previous = self.store.previous_metrics(sid)
            problems, metrics, refused = parse_sample_metrics(
                self.store, sid, raw, token, previous, previous_read=True
            )
            status, error, took = attempt
            if refused is not None:
                status, error = CAPTURE_ERROR, refused
            self.store.record_attempt(device_id, self.run_id, status, error, took)
            if previous is None or metrics is None or not complete:
                return problems, refused, frozenset()
            return problems, refused, steady_maps(previous, metrics)

        return await self.call(write)

    async def one_shot_shell(self, device: Device) -> None:
        device_id = self.ids[device.name]
        await self.call(lambda: self.store.set_one_shot_shell(device_id, time.time()))

    async def attempt(self, device: Device, status: str, error: str | None, seconds: float) -> None:
        await self.call(
            lambda: self.store.record_attempt(self.ids[device.name], self.run_id, status, error, seconds)
        )

    async def end_run(self) -> None:
        """The run's end in the store, then the writer thread's."""
        await self.call(lambda: self.store.end_run(self.run_id))
        self.pool.shutdown(wait=True)
