"""The emulated fleet: real Dropbear + BusyBox devices, each in its own pid/mount/IPC namespace.

Each device is ``unshare --pid --mount --ipc --fork --kill-child --mount-proc init boot.sh``:

* ``init`` (workloads/init.c) is PID 1 and reaps orphans;
* ``boot.sh`` (BusyBox ash) bind-mounts a BusyBox-only /usr/bin (Debian's /bin links there), a
  passwd whose root shell is /bin/sh (or the hang/banner shell), an /etc/shells listing those
  shells (Dropbear refuses users whose shell is not listed) and the firmware over /opt; starts
  the workloads and finally execs Dropbear on the device's own loopback address, port 22;
* no network namespace: 127.0.0.0/8 all lives on ``lo``, so 127.N.x.y needs no setup.

The unshare parent ignores SIGTERM: a device is stopped by SIGKILL to its unshare pid, whose
``--kill-child`` SIGKILLs init, and the kernel then kills the whole namespace. Only recorded
(pid, start time) pairs are ever signalled.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import FleetError
from fleet.lab import procs
from fleet.lab.build import SHELLS, build_firmware, build_programs, build_usr_bin
from fleet.lab.keys import known_hosts_line, write_client_key, write_dropbear_host_key
from fleet.lab.profiles import FIRMWARE, WORKLOADS, DeviceSpec, plan

STATE_VERSION = 1
DROPBEAR = Path("/usr/sbin/dropbear")
UNSHARE_FLAGS = ("--pid", "--mount", "--ipc", "--fork", "--kill-child", "--mount-proc")
PORT = 22
# Paths the device mounts over: a lab directory below one of them would vanish inside the device.
_MOUNT_POINTS = ("/usr/bin", "/opt", "/etc/passwd", "/etc/shells", "/etc/os-release", "/proc")

# Popen objects of devices started by this process, so stop_lab can reap them (no zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LabError(FleetError, RuntimeError):
    """The lab could not be started or is not in the expected state."""


@dataclass(frozen=True)
class LabDevice:
    """One running device: where to reach it, what it runs, and the pids the lab owns."""

    name: str
    host: str
    port: int
    shell: str  # sh, or a misbehaving login shell: see fleet.lab.build.SHELLS
    workloads: tuple[str, ...]
    pid: int  # the unshare process (host pid namespace): the one to SIGKILL
    start_time: int  # of ``pid``, field 22 of /proc/PID/stat
    init_pid: int | None = None  # the device's PID 1 as seen from the host
    init_start_time: int | None = None
    firmware: str = FIRMWARE  # the version its /etc/os-release named at start (set_firmware changes it)

    @property
    def comms(self) -> tuple[str, ...]:
        """Names of its workload processes (as in /proc/PID/comm)."""
        return tuple(WORKLOADS[w].comm for w in self.workloads)

    @property
    def expected_findings(self) -> tuple[str, ...]:
        """Finding kinds a correct analysis reports for this device's processes."""
        return tuple(f for w in self.workloads if (f := WORKLOADS[w].finding))

    @property
    def thread_names(self) -> dict[str, tuple[str, ...]]:
        """comm -> long-lived thread names that process shows in /proc/PID/task/*/comm."""
        return {WORKLOADS[w].comm: WORKLOADS[w].threads for w in self.workloads}


@dataclass(frozen=True)
class Lab:
    """A started lab and the files a client needs to reach it."""

    dir: Path
    profile: str
    devices: tuple[LabDevice, ...]

    @property
    def identity_file(self) -> Path:
        """Client key authorized on every device."""
        return self.dir / "id_ed25519"

    @property
    def wrong_identity_file(self) -> Path:
        """A valid key that no device authorizes (for auth_failed tests)."""
        return self.dir / "wrong_ed25519"

    @property
    def known_hosts(self) -> Path:
        """Every device's ed25519 host key: makes clients offer only ssh-ed25519."""
        return self.dir / "known_hosts"

    @property
    def inventory(self) -> Path:
        """Inventory (docs/interface.md format) of every device of the lab."""
        return self.dir / "inventory.yaml"

    def device(self, name: str) -> LabDevice:
        """The device called ``name``."""
        for d in self.devices:
            if d.name == name:
                return d
        raise KeyError(name)

    def stop(self) -> list[int]:
        """Same as :func:`stop_lab` on this lab's directory."""
        return stop_lab(self.dir)


# --- state.json -----------------------------------------------------------------------------


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)  # atomic: a reader never sees half a state file


def _state(lab: Lab, *, stopped: bool = False) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "profile": lab.profile,
        "stopped": stopped,
        "devices": [
            {
                "name": d.name,
                "host": d.host,
                "port": d.port,
                "shell": d.shell,
                "workloads": list(d.workloads),
                "comms": list(d.comms),
                "pid": d.pid,
                "start_time": d.start_time,
                "init_pid": d.init_pid,
                "init_start_time": d.init_start_time,
                "firmware": d.firmware,
            }
            for d in lab.devices
        ],
    }


def load_lab(lab_dir: Path) -> tuple[Lab, bool] | None:
    """The lab recorded in ``lab_dir/state.json`` and whether it was stopped; None without one."""
    path = Path(lab_dir) / "state.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LabError(f"{path}: unreadable lab state: {exc}") from exc
    if data.get("version") != STATE_VERSION:
        raise LabError(f"{path}: lab state version {data.get('version')!r}, expected {STATE_VERSION}")
    devices = tuple(
        LabDevice(
            name=d["name"],
            host=d["host"],
            port=int(d["port"]),
            shell=d["shell"],
            workloads=tuple(d["workloads"]),
            pid=int(d["pid"]),
            start_time=int(d["start_time"]),
            init_pid=d.get("init_pid"),
            init_start_time=d.get("init_start_time"),
            firmware=d.get("firmware", FIRMWARE),
        )
        for d in data["devices"]
    )
    return Lab(Path(lab_dir).resolve(), data["profile"], devices), bool(data.get("stopped"))


def free_subnet(first: int = 100, last: int = 199) -> str:
    """A ``127.N`` subnet whose first addresses nobody listens on, starting at a random N.

    Tests take one of these so they never collide with a lab started by hand on 127.77 or with
    another engineer's test session on the same machine.
    """
    up = procs.listening(PORT)
    candidates = list(range(first, last + 1))
    start = secrets.randbelow(len(candidates))
    for n in candidates[start:] + candidates[:start]:
        if not any(f"127.{n}.0.{i}" in up for i in (1, 2, 201, 202)):
            return f"127.{n}"
    raise LabError(f"no free subnet in 127.{first}-127.{last}")


# --- starting ---------------------------------------------------------------------------------


def check_host() -> None:
    """Raise LabError unless this machine can run the lab (root, dropbear, busybox, gcc, unshare)."""
    if os.geteuid() != 0:
        raise LabError("the lab needs root (mount and pid namespaces, port 22)")
    missing = [
        what
        for what, ok in (
            ("dropbear (apt-get install dropbear-bin)", DROPBEAR.exists()),
            ("busybox (apt-get install busybox-static)", Path("/usr/bin/busybox").exists()),
            ("gcc", shutil.which("gcc") is not None),
            ("unshare (util-linux)", shutil.which("unshare") is not None),
        )
        if not ok
    ]
    if missing:
        raise LabError("missing: " + ", ".join(missing))


def _boot_script(
    spec: DeviceSpec, lab_dir: Path, dev_dir: Path, usr_bin: Path, password: bool = False
) -> str:
    q = shlex.quote
    lines = [
        "# Boot script of lab device " + spec.name + " (generated by fleet.lab; runs as the",
        "# device's first process under init, in BusyBox ash).",
        "set -e",
        f"mount --bind {q(str(usr_bin))} /usr/bin",
        f"mount --bind {q(str(dev_dir / 'passwd'))} /etc/passwd",
        f"mount --bind {q(str(lab_dir / 'shells'))} /etc/shells",
        f"mount --bind {q(str(lab_dir / 'firmware'))} /opt",
        # The device's firmware identity (fleet's default firmware_files end with os-release).
        f"mount --bind {q(str(dev_dir / 'os-release'))} /etc/os-release",
        # A device with a password gets its own shadow: never the host's root password.
        *([f"mount --bind {q(str(dev_dir / 'shadow'))} /etc/shadow"] if password else []),
        "set +e",
        # Like a container runtime's masked paths: Dropbear reads /proc/timer_list to seed its RNG
        # on every connection, and the host-wide list grows with every lab device's timers, which
        # made each handshake O(lab size). A real device has its own short list.
        "mount --bind /dev/null /proc/timer_list 2>/dev/null",
        "cd /",
        "export PATH=/usr/bin:/bin",
        # Workloads first: once Dropbear listens (what start_lab waits for), they all exist.
    ]
    for name in spec.workloads:
        w = WORKLOADS[name]
        env = " ".join(f"{k}={q(v)}" for k, v in sorted(spec.env.get(name, {}).items()))
        cmd = f"/opt/respawn /opt/{w.comm}" if w.respawn else f"/opt/{w.comm}"
        lines.append(f"{env} {cmd} </dev/null >/dev/null 2>&1 &".strip())
    lines.append("/opt/respawn sleep 3600 </dev/null >/dev/null 2>&1 &")
    no_password = "" if password else " -s"  # -s: password logins off
    lines.append(
        f"exec {DROPBEAR} -F -E{no_password} -j -k -r {q(str(dev_dir / 'host_key'))}"
        f" -p {spec.host}:{PORT} -P {q(str(dev_dir / 'dropbear.pid'))}"
    )
    return "\n".join(lines) + "\n"


def _crypt(password: str) -> str:
    """A SHA-512 crypt(3) hash, as in /etc/shadow (libcrypt: Python 3.13 drops the crypt module)."""
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("crypt") or "libcrypt.so.1")
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    salt = "$6$" + secrets.token_hex(8) + "$"
    hashed: bytes | None = lib.crypt(password.encode(), salt.encode())
    if not hashed or not hashed.startswith(b"$6$"):
        raise LabError("crypt(3) cannot make a SHA-512 password hash here")
    return hashed.decode()


def _prepare(
    lab_dir: Path,
    specs: Sequence[DeviceSpec],
    usr_bin: Path,
    passwords: Mapping[str, str] | None = None,
) -> None:
    """Write keys, known_hosts, shells, and every device's passwd, host key and boot script."""
    passwords = passwords or {}
    home = lab_dir / "home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    (home / ".ssh").chmod(0o700)
    # Reuse client keys across restarts: users may have pointed their ssh config at them.
    pubs = {}
    for name, comment in (("id_ed25519", "fleet-lab"), ("wrong_ed25519", "fleet-lab-unauthorized")):
        key = lab_dir / name
        pub = lab_dir / (name + ".pub")
        pubs[name] = (
            pub.read_text().strip() if key.exists() and pub.exists() else write_client_key(key, comment)
        )
    auth = home / ".ssh" / "authorized_keys"
    auth.write_text(pubs["id_ed25519"] + "\n")
    auth.chmod(0o600)
    (lab_dir / "shells").write_text("".join(f"{s}\n" for s in ("/bin/sh", "/usr/bin/sh", *SHELLS.values())))
    devices_dir = lab_dir / "devices"
    if devices_dir.exists():
        shutil.rmtree(devices_dir)
    known = []
    for spec in specs:
        dev_dir = devices_dir / spec.name
        dev_dir.mkdir(parents=True)
        public = write_dropbear_host_key(dev_dir / "host_key")
        known.append(known_hosts_line(spec.host, PORT, public))
        (dev_dir / "passwd").write_text(f"root:x:0:0:root:{home}:{SHELLS[spec.shell]}\n")
        (dev_dir / "os-release").write_text(os_release(spec.firmware))
        if spec.name in passwords:
            shadow = dev_dir / "shadow"
            shadow.write_text(f"root:{_crypt(passwords[spec.name])}:19000:0:99999:7:::\n")
            shadow.chmod(0o600)
        boot = _boot_script(spec, lab_dir, dev_dir, usr_bin, password=spec.name in passwords)
        (dev_dir / "boot.sh").write_text(boot)
    (lab_dir / "known_hosts").write_text("\n".join(known) + "\n")


def os_release(version: str) -> str:
    """A lab device's /etc/os-release, as a Buildroot-based camera firmware writes one."""
    return (
        f'NAME="fleet lab camera"\nVERSION="{version} (lab)"\nID=fleet-lab\nVERSION_ID={version}\n'
        f'PRETTY_NAME="fleet lab camera {version}"\n'
    )


def set_firmware(lab: Lab, name: str, version: str) -> None:
    """Flash ``version`` onto a running device, as an update that does not reboot it would: its
    os-release changes in place (the same file, bind-mounted over the device's /etc/os-release)."""
    lab.device(name)  # KeyError for a device the lab does not have
    (lab.dir / "devices" / name / "os-release").write_text(os_release(version))


def write_inventory(lab: Lab, path: Path, *, timeout: float = 10.0) -> None:
    """The lab as an inventory (docs/interface.md): groups by workload, tags by behaviour."""
    used = sorted({w for d in lab.devices for w in d.workloads})
    devices: dict[str, Any] = {}
    for d in lab.devices:
        entry: dict[str, Any] = {"host": d.host}
        if d.port != PORT:
            entry["port"] = d.port
        entry["groups"] = list(d.workloads)
        entry["tags"] = [lab.profile if d.shell == "sh" else d.shell, *d.comms]
        devices[d.name] = entry
    doc = {
        "defaults": {
            "user": "root",
            "port": PORT,
            "identity_file": str(lab.identity_file),
            "known_hosts": str(lab.known_hosts),
            "host_key_checking": "strict",
            "timeout": timeout,
        },
        "groups": {w: {} for w in used},
        "devices": devices,
    }
    header = f"# The emulated lab in {lab.dir} (written by `fleet lab start`; rewritten on every start).\n"
    path.write_text(header + yaml.dump(doc, Dumper=_InventoryDumper, sort_keys=False))


class _InventoryDumper(yaml.SafeDumper):
    """Block mappings, one-line lists: ``groups: [thread_leak, steady_daemon]``."""


_InventoryDumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)


def _spawn(lab_dir: Path, spec: DeviceSpec, init: Path, usr_bin: Path) -> LabDevice:
    dev_dir = lab_dir / "devices" / spec.name
    unshare = shutil.which("unshare") or "unshare"
    with open(dev_dir / "console.log", "wb") as console:
        proc = subprocess.Popen(
            [unshare, *UNSHARE_FLAGS, str(init), str(usr_bin / "busybox"), "sh", str(dev_dir / "boot.sh")],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            cwd="/",
            env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C"},
            start_new_session=True,  # a Ctrl-C in the terminal that ran `fleet lab start` spares it
        )
    _CHILDREN[proc.pid] = proc
    started = procs.start_time(proc.pid)
    if started is None:  # died before we could look: record it anyway, readiness reports why
        started = -1
    return LabDevice(
        spec.name, spec.host, PORT, spec.shell, spec.workloads, proc.pid, started, firmware=spec.firmware
    )


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no console log)"


def _await_ready(lab: Lab, deadline: float) -> tuple[LabDevice, ...]:
    """Wait until every device listens on its port; fill in init pids. Raises LabError."""
    pending = {d.name: d for d in lab.devices}
    ready: dict[str, LabDevice] = {}
    delay = 0.01
    while pending:
        up = procs.listening(PORT)
        for name, d in list(pending.items()):
            proc = _CHILDREN.get(d.pid)
            dead = proc.poll() is not None if proc else not procs.is_running(d.pid, d.start_time)
            if dead:
                log = _tail(lab.dir / "devices" / name / "console.log")
                raise LabError(f"device {name} ({d.host}) exited during boot: {log}")
            if d.host in up:
                kids = procs.children(d.pid)
                init_pid = kids[0] if kids else None
                init_start = procs.start_time(init_pid) if init_pid else None
                ready[name] = replace(d, init_pid=init_pid, init_start_time=init_start)
                del pending[name]
        if not pending:
            break
        if time.monotonic() > deadline:
            names = ", ".join(sorted(pending)[:5])
            raise LabError(f"{len(pending)} device(s) not listening in time: {names}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)
    return tuple(ready[d.name] for d in lab.devices)


def start_lab(
    lab_dir: Path,
    devices: int = 8,
    *,
    subnet: str = "127.77",
    profile: str = "mixed",
    extras: Sequence[str] = (),
    speed: float = 1.0,
    env: Mapping[str, Mapping[str, int | str]] | None = None,
    timeout: float | None = None,
    inventory_timeout: float = 10.0,
    passwords: Mapping[str, str] | None = None,
) -> Lab:
    """Build and start a lab in ``lab_dir`` and return once every device accepts TCP on port 22.

    ``profile``: "mixed" (the leak catalogue, see fleet/lab/README.md) or "light" (cheap flat
    devices for benchmarks). ``extras``: additional devices "hang" (login works, the capture never
    ends) and "banner" (prints a MOTD first). ``speed`` divides every workload interval, warm-up
    and lifetime; ``env`` overrides LAB_* settings per workload. Devices use ``subnet``.0.1.. .
    ``passwords`` (device name -> root password) enables password logins on those devices only.
    On any failure every device already started is stopped again.
    """
    check_host()
    lab_dir = Path(lab_dir).resolve()
    for mount_point in _MOUNT_POINTS:
        if lab_dir.is_relative_to(mount_point):
            raise LabError(f"{lab_dir}: a lab directory below {mount_point} is hidden inside the devices")
    existing = load_lab(lab_dir)
    if existing and any(procs.is_running(d.pid, d.start_time) for d in existing[0].devices):
        raise LabError(f"a lab is already running in {lab_dir}: stop it first (fleet lab stop --dir ...)")
    specs = plan(profile, devices, subnet=subnet, extras=extras, speed=speed, env=env)
    busy = procs.listening(PORT) & ({s.host for s in specs} | {"0.0.0.0"})
    if busy:
        raise LabError(f"port {PORT} already in use on {', '.join(sorted(busy)[:5])}: pick another subnet")
    lab_dir.mkdir(parents=True, exist_ok=True)
    programs = build_programs(lab_dir)
    usr_bin = build_usr_bin(lab_dir)
    build_firmware(lab_dir, programs)
    _prepare(lab_dir, specs, usr_bin, passwords)
    started: list[LabDevice] = []
    lab = Lab(lab_dir, profile, ())
    try:
        for spec in specs:
            started.append(_spawn(lab_dir, spec, programs["init"], usr_bin))
        lab = Lab(lab_dir, profile, tuple(started))
        _write_json(lab_dir / "state.json", _state(lab))  # recorded before waiting: stop_lab works
        deadline = time.monotonic() + (timeout if timeout is not None else 30 + 0.1 * len(specs))
        lab = Lab(lab_dir, profile, _await_ready(lab, deadline))
        _write_json(lab_dir / "state.json", _state(lab))
        write_inventory(lab, lab.inventory, timeout=inventory_timeout)
    except BaseException:
        _kill(Lab(lab_dir, profile, tuple(started)))
        _write_json(lab_dir / "state.json", _state(Lab(lab_dir, profile, tuple(started)), stopped=True))
        raise
    return lab


# --- stopping ---------------------------------------------------------------------------------


def _kill(lab: Lab, wait_s: float = 15.0) -> list[int]:
    """SIGKILL each recorded unshare pid that is still the process we started, then wait."""
    killed = []
    for d in lab.devices:
        if procs.is_running(d.pid, d.start_time):
            try:
                os.kill(d.pid, signal.SIGKILL)
                killed.append(d.pid)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + wait_s
    stuck = []
    for d in lab.devices:
        proc = _CHILDREN.pop(d.pid, None)
        if proc is not None:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                stuck.append(d.pid)
        elif not procs.wait_gone(d.pid, d.start_time, deadline):
            stuck.append(d.pid)
        # Its namespace dies with init (killed by --kill-child); wait so the port is free again.
        if d.init_pid and not procs.wait_gone(d.init_pid, d.init_start_time, deadline):
            stuck.append(d.init_pid)
    if stuck:
        raise LabError(f"processes still alive after SIGKILL: {stuck[:10]}")
    return killed


def stop_lab(lab_dir: Path) -> list[int]:
    """Stop the lab recorded in ``lab_dir``: SIGKILL exactly its unshare pids and wait for them.

    Safe to call twice and on a directory without a lab. Returns the pids it killed.
    """
    loaded = load_lab(Path(lab_dir))
    if loaded is None:
        return []
    lab, _ = loaded
    killed = _kill(lab)
    _write_json(lab.dir / "state.json", _state(lab, stopped=True))
    return killed


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceStatus:
    """Liveness and footprint of one device as seen from the host."""

    device: LabDevice
    running: bool
    listening: bool
    processes: int  # in the namespace, plus the unshare parent
    pss_kib: int  # proportional set size of all of them


def lab_status(lab: Lab) -> list[DeviceStatus]:
    """Per-device liveness, process count and memory (PSS, shared pages split fairly)."""
    up = procs.listening(PORT)
    out = []
    for d in lab.devices:
        running = procs.is_running(d.pid, d.start_time)
        pids = procs.descendants(d.pid) if running else []
        out.append(
            DeviceStatus(d, running, running and d.host in up, len(pids), sum(procs.pss_kib(p) for p in pids))
        )
    return out
