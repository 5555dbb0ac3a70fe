"""The splitter: a capture's raw bytes (any format version) into files per process.

Format: docs/capture-format.md. Pure: bytes in, :class:`Capture` out."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from fleet.capture.script import DEVICE_FILES, DEVICE_FILES_SINCE, READABLE_VERSIONS
from fleet.errors import FleetError
from fleet.text import decode


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
    # the file the device's firmware identity is read from (format 6: the first of the inventory's
    # firmware_files that exists); its content is in ``files`` under this path when it was readable
    firmware_file: str | None = None


class CaptureFormatError(FleetError, ValueError):
    """The bytes are not a capture made with the given token."""


class CaptureLimitError(CaptureFormatError):
    """The capture holds more than a device can (more processes than the caller reads)."""


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
    firmware_file: str | None = None
    version = 1

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
        elif kind == "w" and rest.startswith("/"):
            firmware_file = rest
        elif kind == "k":
            without_program = _number(rest.strip())
        elif kind == "o" and rest.strip() in DEVICE_FILES:
            omitted.add(rest.strip())
        elif kind == "end":
            complete = True
        elif kind == "v":
            if rest.strip() not in READABLE_VERSIONS:
                raise CaptureFormatError(
                    f"capture format version {rest.strip()!r} is not one of {READABLE_VERSIONS}"
                )
            version = int(rest.strip())
    if grep_seen:
        unreadable.extend(
            p
            for p in DEVICE_FILES
            if p not in files
            and p not in unreadable
            and p not in omitted
            and version >= DEVICE_FILES_SINCE.get(p, 1)
        )
        if firmware_file is not None and firmware_file not in files:
            unreadable.append(firmware_file)
    return Capture(
        files=files,
        processes=processes,
        complete=complete,
        preamble=preamble,
        unreadable=tuple(unreadable),
        skipped=frozenset(skipped),
        omitted=frozenset(omitted),
        without_program=without_program,
        firmware_file=firmware_file,
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
        if pm is None:  # a device file, named relative to /proc, or the firmware file (absolute)
            files[path if path.startswith("/") else "/proc/" + path] = text
        elif pm.group(2) is not None:
            process(int(pm.group(1))).tasks[int(pm.group(2))] = text.removesuffix("\n")
        else:
            process(int(pm.group(1))).files[pm.group(3)] = text
