"""Fixtures for the report and email tests: a small lab with the hostile device, collected once;
a real SMTP server (aiosmtpd) with and without STARTTLS, one offering AUTH in clear, a relay that
records what crosses the wire; headless Chromium when installed."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.lab import Lab, free_subnet, start_lab, stop_lab
from tests.conftest import LAB_SPEED, lab_unavailable

# A device name an inventory accepts (no '/', no control characters) that is markup all the same.
MARKUP_NAME = "<img src=x onerror=alert(1) id=pwn5>\"'&amp;"
# Marker ids and texts the hostile workload and names carry: none may ever become an element.
PWN_IDS = ("pwn1", "pwn2", "pwn3", "pwn4", "pwn5", "pwn6")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Collected:
    """A store collected from the report lab: lab-01 (AiApp), lab-hostile, its markup alias, a dead one."""

    lab: Lab
    store: Path
    inventory: Path


@pytest.fixture(scope="session")
def report_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collected]:
    """lab-01 (thread_leak) and lab-hostile, sampled 8 times 2 s apart, plus an unreachable device.

    The hostile device is listed twice: as lab-hostile and under a markup name. Its own lab (not
    the session ``lab``) keeps the hostile workload out of the other tests' expectations; it is
    stopped at the end of the session, also when a test fails.
    """
    reason = lab_unavailable()
    if reason:
        pytest.skip(f"emulated lab unavailable: {reason}")
    lab_dir = tmp_path_factory.mktemp("report-lab")
    try:
        lab = start_lab(lab_dir, 1, subnet=free_subnet(), extras=("hostile",), speed=LAB_SPEED)
        doc = yaml.safe_load(lab.inventory.read_text())
        doc["devices"][MARKUP_NAME] = {"host": lab.device("lab-hostile").host}
        subnet = lab.device("lab-01").host.rsplit(".", 2)[0]
        doc["devices"]["dead-01"] = {"host": f"{subnet}.0.250", "timeout": 3}
        inventory = lab_dir / "report-inventory.yaml"
        inventory.write_text(yaml.safe_dump(doc))
        store = lab_dir / "store"
        res = CliRunner().invoke(
            app, ["collect", str(inventory), "--store", str(store), "--samples", "8", "--interval", "2"]
        )
        assert res.exit_code == 0, res.output
        yield Collected(lab, store, inventory)
    finally:
        stop_lab(lab_dir)


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """Messages an aiosmtpd server received, parsed; and whether each session used TLS."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.inbox.envelopes.append(envelope)
        self.inbox.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        self.inbox.tls.append(session.ssl is not None)
        return "250 OK"


def _free_port() -> int:
    # aiosmtpd's Controller checks readiness by connecting to its port, so it needs a real one.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _controller(inbox: Inbox, **kwargs: Any) -> Any:
    from aiosmtpd.controller import Controller

    inbox.port = _free_port()
    return Controller(_Handler(inbox), hostname="127.0.0.1", port=inbox.port, **kwargs)


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    """A plain SMTP server on 127.0.0.1 and a free port."""
    pytest.importorskip("aiosmtpd", reason="aiosmtpd missing: pip install -e '.[test]'")
    inbox = Inbox("127.0.0.1", 0)
    ctl = _controller(inbox)
    ctl.start()
    try:
        yield inbox
    finally:
        ctl.stop()


@pytest.fixture
def limited_smtp_server() -> Iterator[Callable[[int | None], Inbox]]:
    """Start plain SMTP servers that refuse messages over ``limit`` bytes and say so in their EHLO
    (``SIZE limit``); ``None``: a server that states no limit."""
    pytest.importorskip("aiosmtpd", reason="aiosmtpd missing: pip install -e '.[test]'")
    started: list[Any] = []

    def start(limit: int | None) -> Inbox:
        inbox = Inbox("127.0.0.1", 0)
        ctl = _controller(inbox, data_size_limit=limit)
        ctl.start()
        started.append(ctl)
        return inbox

    try:
        yield start
    finally:
        for ctl in started:
            ctl.stop()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN) and its key, made with ``cryptography``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def starttls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An SMTP server that requires STARTTLS and a login; its self-signed certificate is trusted
    through SSL_CERT_FILE, the way a private CA would be, so fleet verifies it as usual."""
    pytest.importorskip("aiosmtpd", reason="aiosmtpd missing: pip install -e '.[test]'")
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret-pw"
        return AuthResult(success=ok)

    inbox = Inbox("127.0.0.1", 0)
    ctl = _controller(
        inbox,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        auth_exclude_mechanism=["LOGIN"],  # smtplib then uses PLAIN: a failed login answers at once
    )
    ctl.start()
    try:
        yield inbox
    finally:
        ctl.stop()


@dataclass
class WireTap:
    """A TCP relay in front of a server that keeps every byte clients sent through it: exactly
    what crossed the wire, TLS records included as the ciphertext they are."""

    host: str
    port: int
    upstream: tuple[str, int]
    sent: bytearray = field(default_factory=bytearray)
    connections: int = 0

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            self.connections += 1
            server = socket.create_connection(self.upstream, timeout=10)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    self.sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side is done: end the other's pump too, then let go of this side
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            src.close()


@contextlib.contextmanager
def wire_tap(upstream: Inbox) -> Iterator[WireTap]:
    """A :class:`WireTap` on a free port of 127.0.0.1 in front of ``upstream``."""
    listener = socket.create_server(("127.0.0.1", 0))
    tap = WireTap("127.0.0.1", listener.getsockname()[1], (upstream.host, upstream.port))
    thread = threading.Thread(target=tap.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield tap
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=10)


@pytest.fixture
def auth_without_tls_server() -> Iterator[tuple[Inbox, list[bytes]]]:
    """An SMTP server that offers AUTH (PLAIN, LOGIN) on a plain connection and no STARTTLS, as a
    misconfigured relay (or someone in the path) would; and the passwords it was sent. It refuses
    a password starting with ``wrong`` and, hostile, repeats it in its answer."""
    pytest.importorskip("aiosmtpd", reason="aiosmtpd missing: pip install -e '.[test]'")
    from aiosmtpd.smtp import AuthResult, LoginPassword

    received: list[bytes] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        received.append(auth_data.password)
        if auth_data.password.startswith(b"wrong"):
            echo = auth_data.password.decode()
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 {echo} is not it")
        return AuthResult(success=True)

    inbox = Inbox("127.0.0.1", 0)
    ctl = _controller(inbox, authenticator=authenticator, auth_require_tls=False)
    ctl.start()
    try:
        yield inbox, received
    finally:
        ctl.stop()


# --- Chromium ---------------------------------------------------------------------------------


def need_chromium() -> str:
    """The chromium binary, or skip with the reason (CI installs the Debian package)."""
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run does)")
    return CHROMIUM


def chromium(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium once on ``url`` with a throwaway profile and no network services."""
    binary = need_chromium()
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


# --- generated stores -------------------------------------------------------------------------


def synthetic_store(directory: Path, devices: int = 3, *, unreachable: int = 1, samples: int = 12) -> Path:
    """A store of generated devices (every third one leaking threads) plus unreachable ones.

    Samples go in as parsed metrics beside an empty raw capture, the way an import would look,
    so rank and report read them without a lab.
    """
    import random

    from fleet.store.store import Store
    from tests.support.synthetic import device_series, schedule

    rng = random.Random(7)
    with Store(directory, create=True) as st:
        run = st.begin_run("generated")
        for d in range(devices):
            name = f"cam-{d:03d}"
            procs = [("AiApp", "thread_leak" if d % 3 == 0 else "steady"), ("netmgr", "steady")]
            series, _ = device_series(
                schedule("regular", samples, rng), rng, procs, mem_decline=20000.0 if d % 3 == 0 else 0.0
            )
            dev = st.device_id(name, f"10.0.0.{d + 1}", ["cameras"])
            for t, metrics in series:
                sid = st.add_raw_sample(dev, run, t, b"", token=None, source="generated")
                st.set_metrics(sid, metrics)
            st.record_attempt(dev, run, "ok", None, 1.0, at=series[-1][0])
        for k in range(unreachable):
            dev = st.device_id(f"gw-{k:02d}", f"10.0.1.{k + 1}", ["gateways"])
            st.record_attempt(dev, run, "unreachable", "Connect call failed ('10.0.1.1', 22)", 3.0)
        st.end_run(run)
    return directory
