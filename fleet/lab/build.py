"""Build what the lab's devices run: the C programs, the BusyBox /usr/bin and the /opt firmware.

Everything is cached in the lab directory and rebuilt only when its inputs change (the hash of
the source and compiler flags is stored beside each binary), so restarting a lab costs no
compilation.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from fleet.lab.profiles import WORKLOADS

SOURCES = Path(__file__).parent / "workloads"
BUSYBOX = Path("/usr/bin/busybox")
GCC_FLAGS = ("-O1", "-Wall", "-pthread")
# PID 1 is static: it must not depend on the host's /usr/bin, which the device hides.
INIT_FLAGS = ("-Os", "-Wall", "-static")

# Firmware scripts installed in /opt on every device.
RESPAWN = """#!/bin/sh
# respawn PROGRAM [ARG...]: the firmware's watchdog loop; restarts PROGRAM whenever it exits or crashes.
while :; do "$@"; sleep 1; done
"""
# Login shell of the "hang" device: the login succeeds but the command is never run and never
# ends. It leaves once its SSH session process (its parent) is gone, so abandoned sessions do not
# pile up in a lab left running.
HANGSH = """#!/bin/sh
while kill -0 $PPID 2>/dev/null; do sleep 1; done
"""
# Login shell of the "banner" device: prints a MOTD on every command, like firmware whose
# /etc/profile or shell wrapper is chatty, then runs the real shell.
BANNERSH = """#!/bin/sh
echo "BusyBox v1.35.0 built-in shell (ash)"
echo "*** IPC-4K firmware V5.2.1 -- authorized access only ***"
exec /bin/sh "$@"
"""
# Login shells of broken or hostile devices (issue 8), each failing the way real firmware does.
# Dropbear runs them as `SHELL -c COMMAND`, so "$2" is the command (fleet's `sh -s`).
FLOODSH = """#!/bin/sh
# prints forever: a runaway log, a device stuck in a loop
exec cat /dev/zero
"""
GARBAGESH = """#!/bin/sh
# binary garbage instead of a capture, then a clean exit
head -c 300000 /dev/urandom
"""
DROPSH = """#!/bin/sh
# starts the capture, then the session dies mid-stream (a crash, a watchdog reboot): right after
# 20,000 bytes, whether or not the shell running the capture has ended ($PPID: the session)
/bin/sh -c "$2" | { head -c 20000; kill -9 $PPID; }
"""
SLOWSH = """#!/bin/sh
# the real capture, trickled out one byte every 2 ms
/bin/sh -c "$2" | /opt/trickle
"""
BUFFERSH = """#!/bin/sh
# a login wrapper that pipes every command's output through a filter writing whole 4 KiB blocks
# (stdio on a pipe: a logger, a tee to flash): the last block only comes when the command ends
/bin/sh -c "$2" | /opt/blockbuf
"""
REFUSESH = """#!/bin/sh
# a restricted login shell: refuses every command at once, without reading its input
echo "restricted shell: '$2' is not allowed" >&2
exit 126
"""
# Hostile captures (issue 22): the real capture, edited on its way out by workloads/capmangle.c.
BIGNUMSH = """#!/bin/sh
# numbers no store holds: a 20-digit MemAvailable, a process with a 20-digit thread count and start time
/bin/sh -c "$2" | /opt/capmangle bignum
"""
PROCFLOODSH = """#!/bin/sh
# a capture claiming 100,000 more processes than the device runs
/bin/sh -c "$2" | /opt/capmangle procflood
"""
FIRMWARE_SCRIPTS = {
    "respawn": RESPAWN,
    "hangsh": HANGSH,
    "bannersh": BANNERSH,
    "floodsh": FLOODSH,
    "garbagesh": GARBAGESH,
    "dropsh": DROPSH,
    "slowsh": SLOWSH,
    "refusesh": REFUSESH,
    "buffersh": BUFFERSH,
    "bignumsh": BIGNUMSH,
    "procfloodsh": PROCFLOODSH,
}
SHELLS = {
    "sh": "/bin/sh",
    "hang": "/opt/hangsh",
    "banner": "/opt/bannersh",
    "flood": "/opt/floodsh",
    "garbage": "/opt/garbagesh",
    "drop": "/opt/dropsh",
    "slow": "/opt/slowsh",
    "refuse": "/opt/refusesh",
    "buffered": "/opt/buffersh",
    "bignum": "/opt/bignumsh",
    "procflood": "/opt/procfloodsh",
}
HELPER_PROGRAMS = ("trickle", "blockbuf", "capmangle")  # installed in /opt under their own names


class BuildError(RuntimeError):
    """A lab program could not be built."""


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def build_programs(lab_dir: Path) -> dict[str, Path]:
    """Compile every ``workloads/*.c`` into ``lab_dir/bin`` (in parallel); returns name -> binary."""
    bin_dir = lab_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, subprocess.Popen[bytes], Path, str]] = []
    built: dict[str, Path] = {}
    headers = b"".join(h.read_bytes() for h in sorted(SOURCES.glob("*.h")))  # lab.h: a change rebuilds all
    for src in sorted(SOURCES.glob("*.c")):
        name = src.stem
        flags = INIT_FLAGS if name == "init" else GCC_FLAGS
        digest = _digest(src.read_bytes(), headers, " ".join(flags).encode())
        out, stamp = bin_dir / name, bin_dir / f"{name}.sha256"
        built[name] = out
        if out.exists() and stamp.exists() and stamp.read_text() == digest:
            continue
        tmp = bin_dir / f".{name}.tmp"
        proc = subprocess.Popen(
            ["gcc", *flags, "-o", str(tmp), str(src)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        jobs.append((name, proc, tmp, digest))
    errors = []
    for name, proc, tmp, digest in jobs:
        output, _ = proc.communicate()
        if proc.returncode != 0:
            errors.append(f"{name}.c: {output.decode(errors='replace').strip()}")
            continue
        tmp.replace(bin_dir / name)
        (bin_dir / f"{name}.sha256").write_text(digest)
    if errors:
        raise BuildError("gcc failed:\n" + "\n".join(errors))
    missing = set(WORKLOADS) - set(built)
    if missing or "init" not in built:
        raise BuildError(f"workload sources missing: {sorted(missing | ({'init'} - set(built)))}")
    return built


def build_usr_bin(lab_dir: Path) -> Path:
    """``lab_dir/rootfs/usr/bin``: a copy of static busybox plus one relative link per applet.

    A copy, not a link: the directory is bind-mounted over /usr/bin, which hides the original.
    """
    usr_bin = lab_dir / "rootfs" / "usr" / "bin"
    stamp = usr_bin / ".busybox.sha256"
    digest = _digest(BUSYBOX.read_bytes())
    if stamp.exists() and stamp.read_text() == digest:
        return usr_bin
    if usr_bin.exists():
        shutil.rmtree(usr_bin)
    usr_bin.mkdir(parents=True)
    shutil.copy2(BUSYBOX, usr_bin / "busybox")
    listing = subprocess.run(
        [str(usr_bin / "busybox"), "--list"], check=True, capture_output=True, text=True
    ).stdout
    for applet in listing.split():
        if applet != "busybox" and "/" not in applet:
            (usr_bin / applet).symlink_to("busybox")
    stamp.write_text(digest)
    return usr_bin


def build_firmware(lab_dir: Path, programs: dict[str, Path]) -> Path:
    """``lab_dir/firmware``, bind-mounted over /opt: each workload under its comm, plus scripts.

    Hard links (copies across filesystems) rather than symlinks: the kernel names the process
    after the path it executes, and ``/proc/PID/exe`` then shows ``/opt/AiApp`` like a real device.
    """
    fw = lab_dir / "firmware"
    fw.mkdir(parents=True, exist_ok=True)
    installs = [(w.comm, programs[w.name]) for w in WORKLOADS.values()]
    installs += [(name, programs[name]) for name in HELPER_PROGRAMS]
    for comm, src in installs:
        dest = fw / comm
        if dest.exists() and os.path.samefile(dest, src):
            continue
        dest.unlink(missing_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
    for name, text in FIRMWARE_SCRIPTS.items():
        path = fw / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        path.chmod(0o755)
    return fw
