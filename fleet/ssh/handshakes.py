"""Opening connections gently: devices that ration unauthenticated connections get at most a few
handshakes per address at once, and a connection reset before the SSH banner is retried."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from fleet.ssh.outcomes import Unreachable

T = TypeVar("T")

# Pre-banner resets (Dropbear drops connections beyond 5 unauthenticated per source address):
# retried this many times with exponential backoff and jitter, inside the device's timeout.
BANNER_RETRIES = 4
BANNER_BACKOFF = 0.5  # seconds before the first retry; doubles, times a jitter of 0.5-1.5
HANDSHAKES_PER_HOST = 3  # never more simultaneous handshakes to one address


class BannerLost(Exception):
    """The device closed the connection before its SSH banner: busy, worth a retry."""


async def retry_lost_banner(handshake: Callable[[], Awaitable[T]]) -> T:
    """``handshake()``, tried again after each :class:`BannerLost`, BANNER_RETRIES times at most
    with exponential backoff and jitter; then Unreachable."""
    delay = BANNER_BACKOFF
    attempt = 0
    while True:
        try:
            return await handshake()
        except BannerLost:
            if attempt == BANNER_RETRIES:
                raise Unreachable(
                    f"connection closed before the SSH banner, {attempt + 1} tries"
                    " (device busy: too many unauthenticated connections?)"
                ) from None
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay *= 2
            attempt += 1


class _AddressSlots:
    """The handshakes to one address: at most HANDSHAKES_PER_HOST at once, and how many connects
    hold or wait for one (the address is forgotten when none does)."""

    def __init__(self) -> None:
        self.semaphore = asyncio.Semaphore(HANDSHAKES_PER_HOST)
        self.users = 0


class HandshakeSlots:
    """The addresses being connected to; ``len()`` is how many."""

    def __init__(self) -> None:
        self._addresses: dict[tuple[str, int], _AddressSlots] = {}

    def __len__(self) -> int:
        return len(self._addresses)

    @contextlib.asynccontextmanager
    async def slot(self, host: str, port: int) -> AsyncIterator[None]:
        """One of the HANDSHAKES_PER_HOST handshakes to this address. The address is forgotten
        once no connect uses it, so a sweep holds nothing for the devices it is done with."""
        address = (host, port)
        slots = self._addresses.get(address)
        if slots is None:
            slots = self._addresses[address] = _AddressSlots()
        slots.users += 1
        try:
            async with slots.semaphore:
                yield
        finally:
            slots.users -= 1
            if slots.users == 0:
                del self._addresses[address]
