"""Fuzzing the capture-output splitter and the capture extractor (issue 8, item 7).

Inputs: random bytes; real captures (format 3 taken with ``grep -z``, with a grep that lacks -z
and without grep at all, each in a small PID namespace so they stay ~30 KiB) mutated, truncated,
spliced and salted with forged headers; device content holding forged headers and forged grep
prefixes; and a model of a device printed the way the capture script prints it. Every test states
in its docstring how many inputs it tries (``max_examples``): the default run tries 2,800 inputs in
about 10 s.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.capture.script import DEVICE_FILES, FORMAT_VERSION, capture_script, new_token
from fleet.capture.split import Capture, CaptureFormatError, ProcessCapture, split_capture
from fleet.metrics.from_capture import metrics_from_capture
from fleet.metrics.model import DeviceMetrics

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOKEN = new_token()
OTHER = new_token()  # what a device may print: any token but the one it was never told


# Real captures: the script as it runs with a grep that has -z ("a" section), with a grep that lacks
# it ("g", BusyBox built without EXTRA_COMPAT), and with no grep at all ("cat": f sections).
KINDS = ("a", "g", "cat")
_NO_Z_GREP = """#!/bin/sh
case "$1" in -z*) echo "grep: invalid option -- 'z'" >&2; exit 2 ;; esac
exec {grep} "$@"
"""


def _synthetic(kind: str) -> bytes:
    """A small capture printed by the model, for machines that cannot take a real one."""
    files = {"/proc/uptime": "12.5 3.0\n", "/proc/meminfo": "MemTotal: 1000 kB\nMemFree: 10 kB\n"}
    proc = ProcessCapture(
        pid=7,
        files={"stat": "7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 4096 10\n", "cmdline": "/bin/x\0"},
        tasks={7: "x"},
        fd_count=4,
    )
    return print_capture(TOKEN, files, {7: proc}, {"a": 4, "g": 2, "cat": 1}[kind])


@functools.cache
def real_capture(kind: str) -> bytes:
    """A real capture of a tiny /proc: a fresh PID namespace holding two sleepers and the shell."""
    shell = ["busybox", "sh"] if kind == "a" else ["dash"]
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which(shell[0]):
        return _synthetic(kind)
    with tempfile.TemporaryDirectory() as bin_dir:
        os.symlink(shutil.which("cat") or "/bin/cat", os.path.join(bin_dir, "cat"))
        if kind == "g":
            grep = os.path.join(bin_dir, "grep")
            with open(grep, "w") as f:
                f.write(_NO_Z_GREP.format(grep=shutil.which("grep")))
            os.chmod(grep, 0o755)
        path = os.environ.get("PATH", "/usr/bin:/bin") if kind == "a" else bin_dir
        run = f"exec env PATH={path} {shutil.which(shell[0])} {' '.join(shell[1:])} -s"
        # pid 1 of the namespace runs the capture; the sleepers die with it
        out = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c", f"sleep 30 & sleep 30 & {run}"],
            input=capture_script(TOKEN).encode(),
            capture_output=True,
            timeout=60,
        )
    if out.returncode != 0 or not split_capture(out.stdout, TOKEN).complete:
        return _synthetic(kind)
    return out.stdout


def print_capture(
    token: str,
    files: dict[str, str],
    procs: dict[int, ProcessCapture],
    version: int,
    without_program: int = 0,
    firmware: tuple[str, str] | None = None,
) -> bytes:
    """What the capture script prints for this device state (the splitter's specification);
    ``without_program``: how many pids format 4 counted without reading them; ``firmware``: the
    firmware file (format 6) and its content, read with the device files."""
    out = [f"{token} v {version}\n".encode()]
    if version >= 6 and firmware is not None:
        out.append(f"{token} w {firmware[0]}\n".encode())
        files = {**files, firmware[0]: firmware[1]}
    if version > 1:
        out += [
            f"{token} d {p.pid} {p.fd_count}\n".encode() for p in procs.values() if p.fd_count is not None
        ]
    if version >= 4:
        out.append(f"{token} k {without_program}\n".encode())
    if version >= 3:  # grep -zH: a text file is one record, a cmdline one record per argument
        out.append(f"{token} a\n".encode())
        out += [f"{path.removeprefix('/proc/')}:{text}\0".encode() for path, text in files.items() if text]
        for p in procs.values():
            for name, text in p.files.items():
                records = text.split("\0")[:-1] if name == "cmdline" else [text]
                out += [f"{p.pid}/{name}:{rec}\0".encode() for rec in records]
            out += [f"{p.pid}/task/{tid}/comm:{comm}\n\0".encode() for tid, comm in p.tasks.items()]
    elif version == 2:
        out.append(f"{token} z\n".encode())
        for p in procs.values():
            for rec in p.files.get("cmdline", "").split("\0")[:-1]:
                out.append(f"{p.pid}/cmdline:{rec}\0".encode())
        out.append(f"{token} g\n".encode())
        grep: list[tuple[str, str]] = [(path.removeprefix("/proc/"), text) for path, text in files.items()]
        for p in procs.values():
            grep += [(f"{p.pid}/{name}", text) for name, text in p.files.items() if name != "cmdline"]
            grep += [(f"{p.pid}/task/{tid}/comm", comm + "\n") for tid, comm in p.tasks.items()]
        for name, text in grep:
            out += [f"{name}:{line}\n".encode() for line in text.split("\n")[:-1]]
    else:
        for path, text in files.items():
            out.append(f"{token} f {path}\n{text}".encode())
        for p in procs.values():
            out.append(f"{token} p {p.pid}\n".encode())
            for name, text in p.files.items():
                out.append(f"{token} f /proc/{p.pid}/{name}\n{text}".encode())
            out += [f"{token} t {tid} {comm}\n".encode() for tid, comm in p.tasks.items()]
    out.append(f"{token} end\n".encode())
    return b"".join(out)


def split_or_refuse(data: bytes, token: str = TOKEN) -> Capture | None:
    """The only outcomes allowed: a Capture, or CaptureFormatError (None here)."""
    try:
        cap = split_capture(data, token)
    except CaptureFormatError:
        return None
    assert isinstance(cap, Capture)
    return cap


def extract_never_raises(cap: Capture) -> DeviceMetrics:
    m = metrics_from_capture(cap)
    assert isinstance(m, DeviceMetrics)
    assert all(isinstance(p, str) for p in m.problems)
    assert {p.pid for p in m.processes} <= set(cap.processes)
    return m


def attribution(cap: Capture) -> tuple[object, ...]:
    """Which files, tasks and fd counts belong to which process, without their content."""
    return (
        sorted(cap.files),
        {pid: (sorted(p.files), sorted(p.tasks), p.fd_count) for pid, p in cap.processes.items()},
    )


# Byte strings a mutation inserts: headers with the real and forged tokens, separators, garbage.
SALT = st.sampled_from(
    [
        f"{TOKEN} p 4242\n".encode(),
        f"{TOKEN} f /proc/4242/stat\n".encode(),
        f"{TOKEN} t 1 x\n".encode(),
        f"{TOKEN} d 1 99999999999999999999\n".encode(),
        f"{TOKEN} v 9\n".encode(),
        f"{TOKEN} a\n".encode(),
        f"{TOKEN} g\n".encode(),
        f"{TOKEN} z\n".encode(),
        f"{TOKEN} end\n".encode(),
        f"{TOKEN} ! /proc/meminfo\n".encode(),
        f"{OTHER} p 4242\n{OTHER} f /proc/4242/stat\n".encode(),
        TOKEN.encode(),
        b"4242/stat:4242 (evil) S 1\n",
        b"4242/task/4243/comm:evil\n",
        b"\n",
        b"\0",
        b":",
        b"\xff\xfe\xc3(",
        b"\x1b[2J\r",
    ]
)


EDITS = ("flip", "cut", "salt", "bytes", "truncate", "splice")


def edited(draw: st.DrawFn, data: bytes, rounds: st.SearchStrategy[int], ops: Sequence[str] = EDITS) -> bytes:
    """``data`` after a drawn number of random byte flips, cuts, insertions, truncations and
    splices with another real capture (``ops``: which of them)."""
    out = bytearray(data)
    for _ in range(draw(rounds)):
        op = draw(st.sampled_from(ops))
        at = draw(st.integers(0, len(out)))
        if op == "flip" and out:
            out[min(at, len(out) - 1)] = draw(st.integers(0, 255))
        elif op == "cut":
            del out[at : at + draw(st.integers(1, 4096))]
        elif op == "salt":
            out[at:at] = draw(SALT)
        elif op == "bytes":
            out[at:at] = draw(st.binary(max_size=64))
        elif op == "truncate":
            del out[at:]
        elif op == "splice":
            other = real_capture(draw(st.sampled_from(KINDS)))
            out[at:] = other[draw(st.integers(0, len(other))) :]
    return bytes(out)


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> bytes:
    """A real capture after 1-8 random edits."""
    return edited(draw, real_capture(kind), st.integers(1, 8))


@settings(FUZZ, max_examples=1500)
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes_split_or_are_refused(data: bytes, with_header: bool) -> None:
    """1,500 random byte strings (half of them behind a valid ``v 3`` header): a Capture or
    CaptureFormatError, nothing else; what splits also extracts without raising."""
    if with_header:
        data = f"{TOKEN} v 3\n".encode() + data
    cap = split_or_refuse(data)
    if with_header:
        assert cap is not None
    if cap is not None:
        extract_never_raises(cap)


@settings(FUZZ, max_examples=400)
@given(st.sampled_from(KINDS).flatmap(lambda k: mutated(k)))
def test_mutated_real_captures_split_and_extract(data: bytes) -> None:
    """400 real captures (grep -z, grep without -z, cat) mutated 1-8 times each (flipped bytes,
    cuts, forged and real headers inserted, truncations, splices of two captures): the splitter
    returns a Capture or raises CaptureFormatError, and metrics_from_capture never raises."""
    cap = split_or_refuse(data)
    if cap is not None:
        extract_never_raises(cap)


def _hostile_text(lines: int) -> st.SearchStrategy[str]:
    """Content lines a device controls: forged headers, forged grep prefixes, markup, anything."""
    piece = st.one_of(
        st.text(max_size=20).map(lambda s: s.replace("\n", "").replace("\0", "")),
        st.sampled_from(
            [
                f"{OTHER} p 4242",
                f"{OTHER} f /proc/4242/maps",
                f"{OTHER} end",
                "4242/stat:4242 (evil) S 1",
                "4242/task/4243/comm:evil",
                "@@fleet-",
                "<script>",
                ":",
            ]
        ),
    )
    return st.lists(st.lists(piece, max_size=4).map("".join), min_size=1, max_size=lines)


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_forged_content_in_a_real_capture_never_moves_a_file(data: st.DataObject) -> None:
    """300 real captures (grep with and without -z) in which one file's content (a stat, status,
    maps, thread name or cmdline record) is replaced by device-chosen lines holding forged headers,
    forged grep prefixes and random text, printed the way grep prints them: every file, task and fd
    count still belongs to the same process, no forged process appears, the content is verbatim."""
    section = data.draw(st.sampled_from(["a", "g"]))
    raw = real_capture(section)
    base = split_capture(raw, TOKEN)
    sep = "\n" if section == "g" else "\0"
    start = raw.index(f"{TOKEN} {section}\n".encode()) + len(TOKEN) + 3
    end = raw.index(TOKEN.encode(), start)
    body = raw[start:end].decode()
    records = body.split(sep)[:-1]
    names = [r.split(":", 1)[0] for r in records]
    candidates = [i for i, n in enumerate(names) if re.fullmatch(r"\d+/.+", n)]
    if not candidates:
        pytest.skip("no process file in this capture")
    i = data.draw(st.sampled_from(candidates))
    name = names[i]
    lines = data.draw(_hostile_text(1 if "/task/" in name else 5))
    end_of_line = "\0" if name.endswith("/cmdline") else "\n"
    text = "".join(line + end_of_line for line in lines)
    if section == "a" and end_of_line == "\n":
        new = [f"{name}:{text}"]  # grep -z: the whole text file is one record
    else:
        new = [f"{name}:{line}" for line in lines]
    # the whole file (every record with this name) becomes the hostile content
    kept = [r for r, n in zip(records, names, strict=True) if n != name]
    kept[min(i, len(kept)) : min(i, len(kept))] = new
    forged = raw[:start] + "".join(r + sep for r in kept).encode() + raw[end:]
    cap = split_capture(forged, TOKEN)
    assert attribution(cap) == attribution(base)
    assert 4242 not in cap.processes
    pid, _, rest = name.partition("/")
    proc = cap.processes[int(pid)]
    if rest.startswith("task/"):
        assert proc.tasks[int(rest.split("/")[1])] == text[:-1]
    elif section == "g" and rest == "cmdline":
        assert proc.files[rest] == "".join(line + "\n" for line in lines)  # a grep without -z
    else:
        assert proc.files[rest] == text
    extract_never_raises(cap)


FILE_TEXT = _hostile_text(4).map(lambda ls: "".join(line + "\n" for line in ls))
PROCS = st.dictionaries(
    st.integers(1, 4_194_304),
    st.tuples(
        st.dictionaries(st.sampled_from(["stat", "statm", "status", "maps", "smaps_rollup"]), FILE_TEXT),
        _hostile_text(3).map(lambda ls: "".join(line + "\0" for line in ls)),
        st.dictionaries(st.integers(1, 4_194_304), st.text(max_size=15).map(lambda s: s.replace("\0", ""))),
        st.none() | st.integers(0, 10**6),
    ),
    max_size=5,
)


def _model(
    device: dict[str, str], procs: dict[int, tuple[dict[str, str], str, dict[int, str], int | None]]
) -> tuple[dict[str, str], dict[int, ProcessCapture]]:
    files = {path: text for path, text in device.items() if text}  # an empty file prints nothing
    out = {}
    for pid, (pfiles, cmdline, tasks, fds) in procs.items():
        keep = {k: v for k, v in pfiles.items() if v}
        if cmdline:
            keep["cmdline"] = cmdline
        out[pid] = ProcessCapture(pid=pid, files=keep, tasks=tasks, fd_count=fds)
    return files, out


@settings(FUZZ, max_examples=300)
@given(
    st.dictionaries(st.sampled_from(DEVICE_FILES), FILE_TEXT),
    PROCS,
    st.sampled_from([2, 3, 4, 6]),
    st.integers(0, 500),
    st.one_of(st.none(), st.tuples(st.sampled_from(["/etc/os-release", "/opt/fw dir/v'1"]), FILE_TEXT)),
)
def test_model_device_round_trips_through_formats_2_to_6(
    device: dict[str, str],
    procs: dict[int, tuple[dict[str, str], str, dict[int, str], int | None]],
    version: int,
    without_program: int,
    firmware: tuple[str, str] | None,
) -> None:
    """300 model devices (up to 5 processes, thread names with newlines, every file's lines full of
    forged headers and grep prefixes) printed as grep prints them (formats 3 to 6: ``grep -zH``,
    format 2: ``grep -H`` plus ``grep -zH`` for cmdlines): the split gives back exactly the model:
    every file in its process, with its content, format 4's count of pids left unread and format
    6's firmware file, named by its absolute path."""
    files, model = _model(device, procs)
    raw = print_capture(TOKEN, files, model, version, without_program, firmware)
    cap = split_capture(raw, TOKEN)
    assert cap.without_program == (without_program if version >= 4 else None)
    if version >= 6 and firmware is not None:
        assert cap.firmware_file == firmware[0]
        files = {**files, firmware[0]: firmware[1]} if firmware[1] else files  # empty: grep prints nothing
    else:
        assert cap.firmware_file is None
    assert cap.complete and cap.files == files
    expected = {pid: p for pid, p in model.items() if p.files or p.tasks or p.fd_count is not None}
    assert cap.processes == expected
    extract_never_raises(cap)


@settings(FUZZ, max_examples=300)
@given(
    st.dictionaries(st.sampled_from(DEVICE_FILES), st.text(max_size=200)),
    st.dictionaries(
        st.integers(1, 4_194_304),
        st.tuples(
            st.dictionaries(
                st.sampled_from(["stat", "statm", "status", "maps", "smaps_rollup", "cmdline"]), st.text()
            ),
            st.dictionaries(
                st.integers(1, 4_194_304),
                st.text(max_size=15).map(lambda s: s.replace("\n", "").replace("\r", "")),
            ),
        ),
        max_size=5,
    ),
    st.sampled_from([f"{OTHER} p 4242\n{OTHER} f /proc/4242/stat\n", f"\n{OTHER} end\n", "@@fleet-", ""]),
)
def test_model_device_round_trips_through_format_1(
    device: dict[str, str], procs: dict[int, tuple[dict[str, str], dict[int, str]]], forged: str
) -> None:
    """300 model devices in the cat format (raw file content, any characters including NUL and
    newlines, plus forged headers of another token appended to every file): the split gives back
    exactly the model."""
    files = {path: text + forged for path, text in device.items()}
    model = {
        pid: ProcessCapture(pid=pid, files={k: v + forged for k, v in pf.items()}, tasks=tasks)
        for pid, (pf, tasks) in procs.items()
    }
    cap = split_capture(print_capture(TOKEN, files, model, 1), TOKEN)
    assert cap.complete and cap.files == files and cap.processes == model
    extract_never_raises(cap)


def test_real_captures_are_real() -> None:
    """The fuzz seeds: real captures of a small PID namespace split completely (or the model's)."""
    for kind in KINDS:
        raw = real_capture(kind)
        cap = split_capture(raw, TOKEN)
        assert cap.complete and cap.processes, kind
        assert not metrics_from_capture(cap).problems
        if os.geteuid() == 0 and shutil.which("unshare") and shutil.which("dash"):
            assert raw.startswith(f"{TOKEN} v {FORMAT_VERSION}\n".encode()), kind  # real, not the model
            header = {"a": " a\n", "g": " g\n", "cat": " f /proc/meminfo\n"}[kind]
            assert (TOKEN + header).encode() in raw, kind


@pytest.mark.parametrize("section", ["a", "g", "z"])
@pytest.mark.parametrize("line", [b"a", b"a:", b"1/maps:a", b"\xff"])
def test_a_hostile_shell_cannot_stall_the_splitter(section: str, line: bytes) -> None:
    """Found by the mutation fuzzer: the block regex went quadratic on a long line without a colon
    or separator (40 KB: 8 s). A shell that ran the script knows the token, so it may print such a
    section up to the 16 MiB output cap; the splitter is linear now (16 MiB: well under a second)."""
    import time

    body = line * (16 * 1024 * 1024 // len(line))
    raw = f"{TOKEN} v 2\n{TOKEN} {section}\n".encode() + body + f"{TOKEN} end\n".encode()
    started = time.monotonic()
    cap = split_capture(raw, TOKEN)
    assert time.monotonic() - started < 10  # 0.01-0.15 s measured; generous for a shared machine
    assert cap.complete


HUGE_FILES = (
    *("uptime", "loadavg", "meminfo", "slabinfo"),
    *("5/stat", "5/statm", "5/status", "5/maps", "5/smaps_rollup"),
)


@pytest.mark.parametrize("name", HUGE_FILES)
def test_huge_hostile_files_extract_quickly(name: str) -> None:
    """8 files x 9 shapes of a 1 MiB line (letters, blanks, digits, brackets, key-value, tabs) in a
    capture: metrics_from_capture lists a problem or reads it, each in well under a second."""
    import time

    n = 1024 * 1024
    shapes = [b"a" * n, b" " * n, b"a:" * (n // 2), b"1" * n, b"0" * n + b"-", b"(" * n, b")" * n]
    shapes += [b"Name: " + b"1 " * (n // 2), b"a:\t" * (n // 3)]
    stat = b"5/stat:5 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 4096 10\n"
    for body in shapes:
        raw = f"{TOKEN} v 2\n{TOKEN} g\n".encode() + (b"" if name == "5/stat" else stat)
        raw += name.encode() + b":" + body + b"\n" + f"{TOKEN} end\n".encode()
        started = time.monotonic()
        extract_never_raises(split_capture(raw, TOKEN))
        assert time.monotonic() - started < 5, body[:10]  # ~0.03 s measured at 4 MiB
