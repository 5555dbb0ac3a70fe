"""The kept shell: every capture of one session runs in one ``sh -s`` (fleet.transport.Session.capture).

Real Dropbear + BusyBox lab devices, both transports. A repeat sample must fork no shell, and a
shell that dies, hangs, floods or is abandoned mid-capture must never leave its output to the next
capture: that one runs in a new shell and gets only its own output.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from fleet.collect.collector import collect
from fleet.collect.options import ONE_SHOT_SHELL_DAYS, CollectOptions
from fleet.inventory.load import load_inventory
from fleet.inventory.model import Device
from fleet.lab import Lab, free_subnet, start_lab, stop_lab
from fleet.ssh.asyncssh_transport import AsyncsshTransport
from fleet.ssh.outcomes import CaptureError, CommandResult, Session, Transport
from fleet.ssh.paramiko_transport import ParamikoTransport
from fleet.store.store import Store

END = b"@@fleet-0123456789abcdef end\n"
T = TypeVar("T")


@pytest.fixture(params=["asyncssh", "paramiko"])
def transport(request: pytest.FixtureRequest) -> Transport:
    return ParamikoTransport() if request.param == "paramiko" else AsyncsshTransport()


@pytest.fixture
def device(lab: Lab) -> Device:
    return next(d for d in load_inventory(lab.inventory).devices if d.name == "lab-01")


def script(*lines: bytes) -> bytes:
    """A shell script printing ``lines``' output, then the end marker."""
    return b"\n".join(lines) + b"\nprintf '%s' '" + END + b"'\n"


def in_session(transport: Transport, device: Device, body: Callable[[Session], Awaitable[T]]) -> T:
    async def main() -> T:
        session = await transport.connect(device)
        try:
            return await body(session)
        finally:
            await session.close()

    return asyncio.run(main())


async def shell_pid(session: Session, keep: bool = True) -> int:
    """The pid of the shell the capture ran in (``$$``), from a whole capture."""
    result = await session.capture(script(b"echo $$"), END, 4096, keep=keep)
    assert result.stdout.endswith(END) and not result.truncated
    assert result.exit_status == (None if keep else 0)  # a kept shell has not exited
    return int(result.stdout[: -len(END)])


def test_every_capture_of_a_session_runs_in_one_shell(transport: Transport, device: Device) -> None:
    async def body(session: Session) -> list[int]:
        return [await shell_pid(session) for _ in range(3)]

    pids = in_session(transport, device, body)
    assert len(set(pids)) == 1, pids


def test_without_keep_each_capture_has_its_own_shell_until_one_is_kept(
    transport: Transport, device: Device
) -> None:
    """``keep=False`` (no sample follows on the session): a one-shot ``sh -s`` that exits at the
    end of its input; a shell already kept is used all the same."""

    async def body(session: Session) -> list[int]:
        pids = [await shell_pid(session, keep=False) for _ in range(2)]
        kept = await shell_pid(session, keep=True)
        result = await session.capture(script(b"echo $$"), END, 4096, keep=False)
        return [*pids, kept, int(result.stdout[: -len(END)])]

    one, two, kept, last = in_session(transport, device, body)
    assert len({one, two, kept}) == 3 and last == kept


def test_a_shell_killed_between_captures_is_replaced(transport: Transport, device: Device) -> None:
    async def body(session: Session) -> tuple[int, int]:
        first = await shell_pid(session)
        killed = await session.run(f"kill -9 {first}", b"", 4096)
        assert killed.exit_status == 0, killed
        await asyncio.sleep(0.3)  # the channel's close reaches the collector
        return first, await shell_pid(session)

    first, second = in_session(transport, device, body)
    assert first != second


def test_a_shell_that_exits_is_reported_and_the_next_capture_starts_another(
    transport: Transport, device: Device
) -> None:
    async def body(session: Session) -> tuple[CommandResult, int, int]:
        first = await shell_pid(session)
        exited = await session.capture(b"echo half\necho gone >&2\nexit 3\n", END, 4096, keep=True)
        return exited, first, await shell_pid(session)

    exited, first, second = in_session(transport, device, body)
    assert (exited.stdout, exited.stderr, exited.exit_status) == (b"half\n", b"gone\n", 3)
    assert first != second


def test_output_over_the_cap_is_refused_and_the_next_capture_is_clean(
    transport: Transport, device: Device
) -> None:
    flood = b"i=0; while [ $i -lt 3000 ]; do echo flood-flood-flood-flood; i=$((i+1)); done"

    async def main() -> tuple[CommandResult, int, int]:
        session = await transport.connect(device)
        try:
            first = await shell_pid(session)
            over = await session.capture(script(flood), END, 16 * 1024, keep=True)
            # Dropbear refuses a new exec on the connection for a moment after a channel whose
            # shell is blocked writing was closed (16 times in 40 at once, never after 50 ms), and
            # Dropbear 2022.83 now and then drops the whole connection there (its log: "Failed
            # assertion (common-channel.c): `!channel->sent_close'", 3 runs in 80). The collector
            # never reuses a session after an over-the-cap capture, it reconnects; so does this.
            for _ in range(20):
                with contextlib.suppress(CaptureError):
                    return over, first, await shell_pid(session)
                await asyncio.sleep(0.1)
        finally:
            await session.close()
        session = await transport.connect(device)
        try:
            return over, first, await shell_pid(session)
        finally:
            await session.close()

    over, first, second = asyncio.run(main())
    assert over.truncated and over.stdout == b""
    assert first != second  # the flooding shell was dropped, its rest never read as a capture


def test_a_capture_abandoned_midway_leaves_nothing_to_the_next(transport: Transport, device: Device) -> None:
    """A timeout cancels the capture while the shell still prints: that shell is not reused."""

    async def body(session: Session) -> tuple[int, int, CommandResult]:
        first = await shell_pid(session)
        slow = script(b"echo stale", b"sleep 1", b"echo stale")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(session.capture(slow, END, 4096, keep=True), 0.3)
        second = await shell_pid(session)
        await asyncio.sleep(1.2)  # the abandoned shell's last lines are printed by now
        return (
            first,
            second,
            await session.capture(script(b"echo fresh"), END, 4096, keep=True),
        )

    first, second, fresh = in_session(transport, device, body)
    assert first != second
    assert fresh.stdout == b"fresh\n" + END


@pytest.fixture(scope="module")
def buffered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Device]:
    """The lab's "buffered" device: its login wrapper passes output on in whole 4 KiB blocks."""
    lab_dir = tmp_path_factory.mktemp("buffered-lab")
    try:
        lab = start_lab(lab_dir, 1, profile="light", subnet=free_subnet(), extras=("buffered",))
        yield next(d for d in load_inventory(lab.inventory).devices if d.name == "lab-buffered")
    finally:
        stop_lab(lab_dir)


@pytest.mark.parametrize("kind", ["asyncssh", "paramiko"])
def test_behind_a_buffering_login_wrapper_the_device_falls_back_to_one_shot_shells(
    buffered: Device, kind: str, tmp_path: Path
) -> None:
    """A kept shell's end marker waits in the wrapper's buffer until the shell exits: the first
    sample times out, and the device's later samples run in one-shot shells and land. Without the
    fallback every sample but the last would time out."""
    device = dataclasses.replace(buffered, timeout=2.0, transport=kind)
    with Store(tmp_path) as store:
        [outcome] = asyncio.run(collect([device], store, CollectOptions(samples=3, interval=3.0)))
        statuses = [s for (s,) in store.sql("SELECT status FROM attempts ORDER BY at")]
    assert statuses == ["timeout", "ok", "ok"], (statuses, outcome.error)
    assert (outcome.status, outcome.samples) == ("ok", 2)


@pytest.mark.parametrize("kind", ["asyncssh", "paramiko"])
def test_a_device_whose_kept_shell_did_not_answer_starts_the_next_run_on_one_shot_shells(
    buffered: Device, kind: str, tmp_path: Path
) -> None:
    """The store remembers the fallback: the next run loses no sample to it. After
    ONE_SHOT_SHELL_DAYS the kept shell is tried again (and the fallback found again)."""
    device = dataclasses.replace(buffered, timeout=2.0, transport=kind)
    opts = CollectOptions(samples=3, interval=3.0)

    def run(store: Store) -> list[str]:
        [outcome] = asyncio.run(collect([device], store, opts))
        (run_id,) = store.sql("SELECT max(id) FROM runs")[0]
        rows = store.sql("SELECT status FROM attempts WHERE run_id = ? ORDER BY at", (run_id,))
        return [s for (s,) in rows] + [f"{outcome.samples} samples"]

    with Store(tmp_path) as store:
        assert run(store) == ["timeout", "ok", "ok", "2 samples"]
        [(flagged_at,)] = store.sql("SELECT one_shot_shell FROM devices")
        assert flagged_at is not None
        assert run(store) == ["ok", "ok", "ok", "3 samples"]
        stale = flagged_at - ONE_SHOT_SHELL_DAYS * 86400 - 60
        store.sql("UPDATE devices SET one_shot_shell = ?", (stale,))
        assert run(store) == ["timeout", "ok", "ok", "2 samples"]
        [(again,)] = store.sql("SELECT one_shot_shell FROM devices")
        assert again > flagged_at


def test_a_device_whose_kept_shell_answers_is_never_flagged(device: Device, tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        [outcome] = asyncio.run(collect([device], store, CollectOptions(samples=2, interval=0.5)))
        assert (outcome.status, outcome.samples) == ("ok", 2)
        assert store.sql("SELECT one_shot_shell FROM devices") == [(None,)]


def test_the_cap_counts_the_end_marker_exactly(transport: Transport, device: Device) -> None:
    """A capture of exactly ``limit`` bytes, end marker included, is whole; one byte more is over."""
    body = script(b"printf '%05000d' 0")
    size = 5000 + len(END)

    async def run(session: Session) -> tuple[CommandResult, CommandResult]:
        whole = await session.capture(body, END, size, keep=True)
        return whole, await session.capture(body, END, size - 1, keep=True)

    whole, over = in_session(transport, device, run)
    assert len(whole.stdout) == size and whole.stdout.endswith(END) and not whole.truncated
    assert over.truncated and over.stdout == b""
