"""The capture: a POSIX sh script run on the device, and the splitter for what it prints.

The script is fed on stdin to ``sh -s``: Dropbear refuses or drops long exec commands (see
docs/ssh-field-notes), and a token in an exec command would be readable in the shell's
/proc/PID/cmdline by every process on the device, which could then forge sections. It uses only
ash builtins plus ``grep`` (``cat`` when grep cannot run), never backgrounds anything (Dropbear
closes the channel when the shell exits) and tolerates processes that vanish mid-capture. On a
kept connection every capture runs in the same shell (fleet.transport.Session.capture: a repeat
sample forks no shell), so the script sets every variable it reads and no command in it reads
stdin (it would wait there for the next capture's script). Formats 3 to 5 fork one process per
capture, whatever the number of pids (format 1 forked a ``cat`` per file per pid, format 2 two
greps; benchmarks/README.md has the measured costs). The shell's own header lines go out in two
writes (before and after the pid loop), not one per line: each write tends to become an SSH packet
that both ends encrypt and the collector handles in Python (a light sample on a kept shell: ~15
packets before, ~10 now).

``grep -z`` holds a whole record, i.e. a whole text file, in memory: BusyBox grep peaks at 4.0 MB
RSS on a maps of 32,000 thread stacks (2.6 MB) against 1.3 MB line by line; a typical maps is
10-40 KB and changes nothing. Maps come last on grep's command line, so a device too short of
memory for its biggest maps loses maps only, never the memory counters and thread names before them.

Not read since format 3: ``smaps_rollup``. Its only figure the others lack is PSS, which nothing
in the analysis or the report uses (the leak measure is private anonymous memory, resident
anonymous pages; smaps_rollup exists since 4.15), and the kernel walks every page table of
the process to print it: 42 % of the capture's device CPU on a device of 30 multi-threaded
processes. Captures that have it (formats 1 and 2) still give PSS.

Not read since format 5: ``status``. The analysis takes four figures from it (VmSize, VmRSS,
RssAnon, Threads); ``statm`` holds the first three as one line of page counts (RssAnon = resident
- shared, on kernels older than 4.5 too, where status has no RssAnon) and stat's field 20 the
fourth. A process's status is ~55 lines (~1.3 KB): two thirds of a light sample's bytes when
``--maps-every`` skips the maps, and most of the collector's parse time for such a sample. The
page size statm counts in is stat's vsize (bytes) over statm's size (pages), see fleet.extract.

Output format: a stream of sections. Every header line starts with a per-capture random token
(``@@fleet-<nonce>``) that nothing on the device can know in advance, so no file content (a thread
named ``@@fleet``, a mapping path with a newline) can forge a section boundary. Headers:

    <token> v 5                  format version (the splitter also reads formats 1 to 4)
    <token> m PID...             maps, cmdline and thread names of these pids were not read on
                                 purpose: the collector has them from the device's previous sample
                                 (``--maps-every``); the last pid is the capture's own shell
    <token> o PATH               PATH (/proc/slabinfo) was not read on purpose (``--maps-every``)
    <token> k COUNT              number of pids without a program (no exe link: kernel threads,
                                 zombies), not read at all (format 4)
    <token> d PID COUNT          number of open fds of PID
    <token> a                    ``grep -zH '' FILE...`` in /proc: "NAME:record" + NUL for each
                                 NUL-terminated record, so a text file is one record (no NUL in it)
                                 and a cmdline one record per argument. Files: the device files
                                 and, for user processes (kernel threads and zombies have no exe;
                                 format 3 read every PID/stat), PID/stat, statm (status before
                                 format 5), maps, cmdline and PID/task/TID/comm. Without a
                                 readable exe (not root) every pid is read, and kernel threads
                                 are told by their stat's PF_KTHREAD. (A
                                 root shell that may read pid 1's exe link but not another user
                                 process's, an LSM policy no embedded firmware seen has, would
                                 count that process too: format 3 still read its stat.)
                                 Only cmdline holds NULs, and grep names each of its records, so
                                 content cannot forge a file boundary; an empty or unreadable file
                                 prints nothing.
    <token> g                    the same files through ``grep -H ''`` ("NAME:line" for every line),
                                 for a grep without -z (BusyBox built without EXTRA_COMPAT, where a
                                 cmdline prints up to its first NUL: the program only)
    <token> z                    (format 2) ``grep -zH '' PID/cmdline...``
    <token> f PATH               the content of PATH follows  (format 1, and the fallback when grep
    <token> ! PATH               PATH could not be read        is missing or cannot run: exit > 2)
    <token> p PID                the files of process PID follow
    <token> t TID COMM           one task (thread) of the current process and its comm
    <token> end                  the capture finished (absent: the stream was cut)

Anything before the first token (a banner, a MOTD printed by a login script) is kept as preamble.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

FORMAT_VERSION = 5
READABLE_VERSIONS = ("1", "2", "3", "4", "5")  # the splitter reads every format fleet ever wrote

DEVICE_FILES = (
    "/proc/sys/kernel/random/boot_id",
    "/proc/sys/kernel/osrelease",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/meminfo",
    "/proc/slabinfo",
)
SLABINFO = "/proc/slabinfo"

_SCRIPT = """\
N='{token}'
K='{skip}'
S='{slabinfo}'
[ -z "$K" ] || K="$K $$"
LC_ALL=C; export LC_ALL
H="$N v {version}
"
[ -z "$K" ] || H="$H$N m$K
"
[ -n "$S" ] || H="$H$N o /proc/slabinfo
"
printf '%s' "$H"
cd /proc || exit 1
X=; [ -e 1/exe ] || X=1
A=; T=; M=; D=; n=0
for p in [0-9]*; do
  if [ -e $p/exe ] || {{ [ -n "$X" ] && [ -d $p ]; }}; then
    m=" $p/maps"; c=" $p/cmdline"; t=" $p/task/[0-9]*/comm"
    case "$K " in *" $p "*) m=; c=; t= ;; esac
    A="$A $p/stat $p/statm$c"
    M="$M$m"
    T="$T$t"
    set -- $p/fd/*
    [ -e "$1" ] && D="$D$N d $p $#
"
  else
    n=$((n+1))
  fi
done
F="{device_files} $S"
printf '%s' "$D$N k $n
$N a
"
grep -zH '' $F $A $T $M </dev/null 2>/dev/null
s=$?
if [ $s = 2 ] && {{ grep -z '' </dev/null 2>/dev/null; [ $? = 2 ]; }}; then
  printf '%s g\\n' "$N"
  grep -H '' $F $A $T $M </dev/null 2>/dev/null
  s=$?
fi
[ $s -le 2 ] || {{
f() {{ printf '%s f %s\\n' "$N" "$1"; cat "$1" 2>/dev/null || printf '%s ! %s\\n' "$N" "$1"; }}
{device_f}
for p in /proc/[0-9]*; do
  [ -e $p/exe ] || {{ [ -n "$X" ] && [ -d $p ]; }} || continue
  printf '%s p %s\\n' "$N" "${{p#/proc/}}"
  f $p/stat; f $p/statm
  case "$K " in *" ${{p#/proc/}} "*) k=1 ;; *) k= ; f $p/maps ;; esac
  [ -n "$k" ] || f $p/cmdline
  [ -n "$k" ] || for t in $p/task/[0-9]*; do
    {{ IFS= read -r c < $t/comm && printf '%s t %s %s\\n' "$N" "${{t##*/}}" "$c"; }} 2>/dev/null
  done
done
}}
printf '%s end\\n' "$N"
"""


def new_token() -> str:
    """A fresh section token; 64 random bits make forging a header hopeless."""
    return "@@fleet-" + secrets.token_hex(8)


def capture_script(token: str, skip: Iterable[int] = (), *, slabinfo: bool = True) -> str:
    """The sh script (for ``sh -s`` on stdin) that prints one capture delimited by ``token``.

    ``skip``: pids whose maps, cmdline and thread names are not read (the caller has them from
    the previous sample): maps and thread names are most of a capture's bytes and of the kernel's
    work for them on a device of multi-threaded processes. ``slabinfo=False`` leaves
    /proc/slabinfo out (a third of a light capture's device CPU and half its bytes; slab caches
    grow slowly, so a sample in N is enough): the capture says so with an ``o`` header.
    """
    if not re.fullmatch(r"@@fleet-[0-9a-f]{16}", token):
        raise ValueError(f"bad capture token {token!r}")
    return _SCRIPT.format(
        token=token,
        skip="".join(f" {int(pid)}" for pid in sorted(set(skip))),
        version=FORMAT_VERSION,
        slabinfo="slabinfo" if slabinfo else "",
        device_files=" ".join(p.removeprefix("/proc/") for p in DEVICE_FILES if p != SLABINFO),
        device_f="\n".join(
            f"f {path}" if path != SLABINFO else f'[ -z "$S" ] || f {path}' for path in DEVICE_FILES
        ),
    )


def end_marker(token: str) -> bytes:
    """The last line of a whole capture: where a kept shell's output for one capture ends."""
    return f"{token} end\n".encode()


@dataclass
class ProcessCapture:
    """What the script printed for one pid. A file absent from ``files`` could not be read."""

    pid: int
    files: dict[str, str] = field(default_factory=dict)  # "stat", "statm", "maps", ... -> text
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
    skipped: frozenset[int] = frozenset()  # pids whose maps, cmdline, thread names were left out
    omitted: frozenset[str] = frozenset()  # device files left out on purpose (/proc/slabinfo)
    # pids not read because they run no program (format 4: kernel threads, zombies), only counted
    without_program: int | None = None


class CaptureFormatError(ValueError):
    """The bytes are not a capture made with the given token."""


class CaptureLimitError(CaptureFormatError):
    """The capture holds more than a device can (more processes than the caller reads)."""


def visible(text: str, keep: str = "") -> str:
    """Control characters as ``\\xNN`` (others ``\\uNNNN``; bytes kept as surrogates by a decoder
    as ``\\xNN``): device strings shown on a terminal, in a log or a report must not be able to move
    the cursor, clear the screen, fake a line or reorder text. ``keep``: characters left as they are
    (the report keeps newlines and tabs, which HTML renders harmlessly)."""
    if text.isprintable():
        return text
    out = []
    for c in text:
        if (c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF) or c in keep:
            out.append(c)
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # surrogateescape of byte 0x80-0xff
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        else:
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return "".join(out)


def decode(data: bytes) -> str:
    """Device bytes to text; invalid UTF-8 stays visible as escapes instead of failing."""
    return data.decode("utf-8", errors="backslashreplace")


def split_capture(data: bytes, token: str, *, max_processes: int | None = None) -> Capture:
    """Split the raw output of :func:`capture_script` (any format version) into files.

    ``max_processes``: raise :class:`CaptureLimitError` at the first process beyond it, before
    holding them all (a 16 MiB capture can name 200,000 pids).
    """
    tok = token.encode()
    parts = data.split(tok + b" ")
    if len(parts) < 2:
        raise CaptureFormatError("no capture header found in the output")
    preamble = decode(parts[0])
    files: dict[str, str] = {}
    unreadable: list[str] = []
    processes: dict[int, ProcessCapture] = {}
    current: ProcessCapture | None = None
    complete = grep_seen = False
    skipped: set[int] = set()
    omitted: set[str] = set()
    without_program: int | None = None

    def process(pid: int) -> ProcessCapture:
        pc = processes.get(pid)
        if pc is None:
            if max_processes is not None and len(processes) >= max_processes:
                raise CaptureLimitError(f"capture holds more than {max_processes} processes")
            pc = processes[pid] = ProcessCapture(pid=pid)
        return pc

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
        elif kind == "a":
            grep_seen = True
            _split_grep(body_bytes, b"\0", files, process, whole_files=True)
        elif kind == "g":
            grep_seen = True
            _split_grep(body_bytes, b"\n", files, process)
        elif kind == "z":
            _split_grep(body_bytes, b"\0", files, process)
        elif kind == "p" and (pid_number := _number(rest)) is not None:
            current = process(pid_number)
        elif kind == "t" and current is not None:
            tid, _, comm = rest.partition(" ")
            if (tid_number := _number(tid)) is not None:
                current.tasks[tid_number] = comm
        elif kind == "d":
            pid, _, count = rest.partition(" ")
            pid_number, fds = _number(pid), _number(count)
            if pid_number is not None and fds is not None and (current is None or pid_number == current.pid):
                process(pid_number).fd_count = fds
        elif kind == "m":
            skipped.update(n for w in rest.split() if (n := _number(w)) is not None)
        elif kind == "k":
            without_program = _number(rest.strip())
        elif kind == "o" and rest.strip() in DEVICE_FILES:
            omitted.add(rest.strip())
        elif kind == "end":
            complete = True
        elif kind == "v" and rest.strip() not in READABLE_VERSIONS:
            raise CaptureFormatError(
                f"capture format version {rest.strip()!r} is not one of {READABLE_VERSIONS}"
            )
    if grep_seen:
        unreadable.extend(
            p for p in DEVICE_FILES if p not in files and p not in unreadable and p not in omitted
        )
    return Capture(
        files=files,
        processes=processes,
        complete=complete,
        preamble=preamble,
        unreadable=tuple(unreadable),
        skipped=frozenset(skipped),
        omitted=frozenset(omitted),
        without_program=without_program,
    )


def _number(word: str) -> int | None:
    """A pid, tid or count as /proc prints them (ASCII digits, at most 10), else None: a device's
    "4300 digits" or "²" must not reach int(), which raises on both."""
    return int(word) if len(word) <= 10 and word.isascii() and word.isdigit() else None


# ``grep -H '' FILE...`` run in /proc prints every line as "NAME:line", NAME as grep was given it
# (relative to /proc). A block is a run of lines with the same NAME: one file. ``grep -zH`` does the
# same per NUL-terminated record: a whole text file, or one argument of a cmdline.
_PROC_PATH = re.compile(r"([0-9]{1,10})/(?:task/([0-9]{1,10})/comm|([a-z_]+))")


def _split_grep(
    body: bytes,
    sep: bytes,
    files: dict[str, str],
    process: Callable[[int], ProcessCapture],
    *,
    whole_files: bool = False,
) -> None:
    """Files from an ``a``, ``g`` or ``z`` section: every line (record) carries its file's name,
    so no content can forge a boundary. grep prints nothing for an empty or unreadable file (a
    kernel thread's maps, a vanished pid): such files are absent. Each file comes back as the
    kernel wrote it: with ``whole_files`` (``a``) a text file is one record and its ``sep`` is
    grep's, dropped, while a cmdline's records end with the kernel's NULs, kept; otherwise every
    line gets its ``sep`` back. A line without a name (no ``:``) and an unterminated last line
    (a cut stream) are skipped.

    One pass over the lines, linear in the size of the section: a regex scanning for blocks went
    quadratic on a long line without ``:`` or ``sep`` (40 KB took 8 s; a hostile shell knows the
    token and may print up to the 16 MiB cap).
    """
    lines = body.split(sep)
    lines.pop()  # what follows the last separator: b"" or an unterminated (cut) line
    i = 0
    while i < len(lines):
        name, colon, first = lines[i].partition(b":")
        i += 1
        if not colon:
            continue
        prefix = name + b":"
        chunk = [first]
        while i < len(lines) and lines[i].startswith(prefix):
            chunk.append(lines[i][len(prefix) :])
            i += 1
        kept_sep = not whole_files or name.endswith(b"/cmdline")
        text = decode(sep.join(chunk) + sep if kept_sep else sep.join(chunk))
        path = decode(name)
        pm = _PROC_PATH.fullmatch(path)
        if pm is None:
            files["/proc/" + path] = text
        elif pm.group(2) is not None:
            process(int(pm.group(1))).tasks[int(pm.group(2))] = text.removesuffix("\n")
        else:
            process(int(pm.group(1))).files[pm.group(3)] = text
