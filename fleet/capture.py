"""The capture: a POSIX sh script run on the device, and the splitter for what it prints.

The script is fed on stdin to ``sh -s`` (Dropbear refuses or drops long exec commands, see
docs/ssh-field-notes). It uses only ash builtins plus ``cat``, never backgrounds anything (Dropbear
closes the channel when the shell exits) and tolerates processes that vanish mid-capture.

Output format: a stream of sections. Every header line starts with a per-capture random token
(``@@fleet-<nonce>``) that nothing on the device can know in advance, so no file content (a thread
named ``@@fleet``, a mapping path with a newline) can forge a section boundary. Headers:

    <token> v 1                  format version
    <token> f PATH               the content of PATH follows
    <token> ! PATH               PATH could not be read (vanished, permission, absent on this kernel)
    <token> p PID                the files of process PID follow
    <token> t TID COMM           one task (thread) of the current process and its comm
    <token> d PID COUNT          number of open fds of PID
    <token> end                  the capture finished (absent: the stream was cut)

Anything before the first token (a banner, a MOTD printed by a login script) is kept as preamble.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

FORMAT_VERSION = 1

# Per-process files, in capture order. smaps_rollup exists from Linux 4.15; cmdline holds NULs.
PROCESS_FILES = ("stat", "status", "maps", "smaps_rollup", "cmdline")
DEVICE_FILES = (
    "/proc/sys/kernel/random/boot_id",
    "/proc/sys/kernel/osrelease",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/meminfo",
    "/proc/slabinfo",
)

_SCRIPT = """\
N='{token}'
echo "$N v {version}"
f() {{ echo "$N f $1"; cat "$1" 2>/dev/null || echo "$N ! $1"; }}
{device_files}
for p in /proc/[0-9]*; do
  [ -d "$p" ] || continue
  echo "$N p ${{p#/proc/}}"
  f $p/stat; f $p/status; f $p/maps
  [ -e $p/smaps_rollup ] && f $p/smaps_rollup
  f $p/cmdline
  for t in $p/task/[0-9]*; do
    IFS= read -r c < $t/comm 2>/dev/null && echo "$N t ${{t##*/}} $c"
  done
  set -- $p/fd/*
  [ -e "$1" ] && echo "$N d ${{p#/proc/}} $#"
done
echo "$N end"
"""


def new_token() -> str:
    """A fresh section token; 64 random bits make forging a header hopeless."""
    return "@@fleet-" + secrets.token_hex(8)


def capture_script(token: str) -> str:
    """The sh script (for ``sh -s`` on stdin) that prints one capture delimited by ``token``."""
    if not re.fullmatch(r"@@fleet-[0-9a-f]{16}", token):
        raise ValueError(f"bad capture token {token!r}")
    device_files = "\n".join(f"f {path}" for path in DEVICE_FILES)
    return _SCRIPT.format(token=token, version=FORMAT_VERSION, device_files=device_files)


@dataclass
class ProcessCapture:
    """What the script printed for one pid. A file absent from ``files`` could not be read."""

    pid: int
    files: dict[str, str] = field(default_factory=dict)  # "stat", "status", "maps", ... -> text
    tasks: dict[int, str] = field(default_factory=dict)  # tid -> comm
    fd_count: int | None = None


@dataclass(frozen=True)
class Capture:
    """One sample of one device, split into files. ``files`` is keyed by /proc path."""

    files: dict[str, str]
    processes: dict[int, ProcessCapture]
    complete: bool  # the end marker was seen: nothing was cut
    preamble: str = ""  # what the shell printed before the capture (banner, MOTD)
    unreadable: tuple[str, ...] = ()  # device-level paths that could not be read


class CaptureFormatError(ValueError):
    """The bytes are not a capture made with the given token."""


def decode(data: bytes) -> str:
    """Device bytes to text; invalid UTF-8 stays visible as escapes instead of failing."""
    return data.decode("utf-8", errors="backslashreplace")


def split_capture(data: bytes, token: str) -> Capture:
    """Split the raw output of :func:`capture_script` into files per device and per process."""
    tok = token.encode()
    parts = data.split(tok + b" ")
    if len(parts) < 2:
        raise CaptureFormatError("no capture header found in the output")
    preamble = decode(parts[0])
    files: dict[str, str] = {}
    unreadable: list[str] = []
    processes: dict[int, ProcessCapture] = {}
    current: ProcessCapture | None = None
    complete = False
    for part in parts[1:]:
        header_bytes, _, body_bytes = part.partition(b"\n")
        header = decode(header_bytes)
        kind, _, rest = header.partition(" ")
        if kind == "f":
            body = decode(body_bytes)
            if current is not None and rest.startswith(f"/proc/{current.pid}/"):
                current.files[rest.rsplit("/", 1)[1]] = body
            else:
                files[rest] = body
        elif kind == "!":
            if current is not None and rest.startswith(f"/proc/{current.pid}/"):
                current.files.pop(rest.rsplit("/", 1)[1], None)
            else:
                files.pop(rest, None)
                unreadable.append(rest)
        elif kind == "p" and rest.isdigit():
            current = ProcessCapture(pid=int(rest))
            processes[current.pid] = current
        elif kind == "t" and current is not None:
            tid, _, comm = rest.partition(" ")
            if tid.isdigit():
                current.tasks[int(tid)] = comm
        elif kind == "d" and current is not None:
            pid, _, count = rest.partition(" ")
            if pid == str(current.pid) and count.isdigit():
                current.fd_count = int(count)
        elif kind == "end":
            complete = True
        elif kind == "v" and rest.strip() != str(FORMAT_VERSION):
            raise CaptureFormatError(f"capture format version {rest.strip()!r} is not {FORMAT_VERSION}")
    return Capture(
        files=files,
        processes=processes,
        complete=complete,
        preamble=preamble,
        unreadable=tuple(unreadable),
    )
