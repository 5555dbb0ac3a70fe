"""Fixtures for the unattended path: a real SMTP server, the fleet CLI as a subprocess, captures.

Everything here is real: aiosmtpd listens on 127.0.0.1, ``fleet`` runs as its own process (so locks,
signals and exit codes are the kernel's, not a test double's), and captures come from running the
capture script through a local ``sh -s`` or from the lab's Dropbear devices.
"""

from __future__ import annotations

import email
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.capture.script import capture_script, new_token
from fleet.lab import Lab

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Mailbox:
    """Messages the test SMTP server accepted."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.box.messages.append(email.message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    box = Mailbox("127.0.0.1", free_port())
    controller = controller_mod.Controller(_Handler(box), hostname=box.host, port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def fleet_env(**extra: str) -> dict[str, str]:
    """The environment of a fleet subprocess: no inherited FLEET_* settings, no terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(extra)
    return env


def fleet_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "fleet", *map(str, args)]


def on_a_terminal(args: Sequence[str | Path], cwd: Path) -> tuple[int, bytes, bytes]:
    """Run fleet with stderr on a new pseudo-terminal (stdout a pipe): exit code, what the
    terminal received, stdout."""
    main, sub = os.openpty()
    try:
        proc = subprocess.Popen(
            fleet_cmd(*args),
            cwd=cwd,
            env=fleet_env(TERM="xterm", COLUMNS="100"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=sub,
        )
        os.close(sub)
        sub = -1
        tty = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            tty += chunk
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        os.close(main)
        if sub >= 0:
            os.close(sub)
    return proc.returncode, tty, out


def run_fleet(
    *args: str | Path, cwd: Path, timeout: float = 120.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``fleet ARGS`` as a real process and wait for it."""
    return subprocess.run(
        fleet_cmd(*args),
        cwd=cwd,
        env=env or fleet_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def spawn_fleet(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        fleet_cmd(*args),
        cwd=cwd,
        env=env or fleet_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def lab_subset(lab: Lab, path: Path, names: Sequence[str], **overrides: Any) -> Path:
    """The lab's inventory cut down to ``names`` (fewer devices: a faster sweep)."""
    doc = yaml.safe_load(lab.inventory.read_text())
    doc["devices"] = {n: {**doc["devices"][n], **overrides} for n in names}
    path.write_text(yaml.safe_dump(doc))
    return path


@dataclass(frozen=True)
class LocalCapture:
    token: str
    raw: bytes


def local_capture() -> LocalCapture:
    """The capture script run through this machine's ``sh -s``: the bytes a device would send."""
    token = new_token()
    out = subprocess.run(
        ["sh", "-s"], input=capture_script(token).encode(), capture_output=True, timeout=60, check=True
    ).stdout
    assert (token + " end").encode() in out[-200:]
    return LocalCapture(token, out)
