"""The capture script on real shells (BusyBox ash, dash) and the splitter on hostile streams."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from pathlib import Path

import pytest

from fleet.capture.script import capture_script, end_marker, new_token
from fleet.capture.split import CaptureFormatError, split_capture
from fleet.metrics.from_capture import metrics_from_capture
from fleet.procfs import parse_statm

SHELLS = [s for s in (["busybox", "sh"], ["dash"]) if shutil.which(s[0])]


def run_capture(
    shell: list[str], skip: tuple[int, ...] = (), env: dict[str, str] | None = None, *, slabinfo: bool = True
) -> tuple[str, bytes]:
    token = new_token()
    out = subprocess.run(
        [shutil.which(shell[0]) or shell[0], *shell[1:], "-s"],
        input=capture_script(token, skip, slabinfo=slabinfo).encode(),
        capture_output=True,
        check=True,
        timeout=60,
        env=env,
    )
    return token, out.stdout


def cat_only_env(shell: list[str], grep: bool, tmp_path: Path) -> dict[str, str] | None:
    """None (this machine's PATH), or without ``grep`` a PATH holding only ``cat`` so the script
    takes its cat fallback; BusyBox ash finds its own grep applet anyway, so only dash can."""
    if grep:
        return None
    if shell[0] != "dash":
        pytest.skip("only dash falls back to cat without grep on PATH")
    (tmp_path / "cat").symlink_to(shutil.which("cat") or "/bin/cat")
    return {"PATH": str(tmp_path)}


@pytest.mark.skipif(not (shutil.which("strace") and shutil.which("dash")), reason="needs strace and dash")
@pytest.mark.parametrize("skip", [False, True], ids=["full", "steady-skipped"])
def test_the_shell_writes_its_own_lines_three_times_whatever_the_number_of_processes(
    skip: bool, tmp_path: Path
) -> None:
    """Each write the shell makes tends to become one SSH packet, which both ends encrypt and the
    collector handles in Python: the shell's own lines (version, skip list, every process's fd
    count, the kernel-thread count, the section start) go out in two writes, the end marker in a
    third, and grep (another process) prints the files. Traced with strace on this machine's
    /proc (dozens of processes)."""
    log = tmp_path / "writes"
    pids = tuple(int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()) if skip else ()
    token = new_token()
    out = subprocess.run(
        ["strace", "-f", "-e", "trace=write", "-o", str(log), shutil.which("dash") or "dash", "-s"],
        input=capture_script(token, pids, slabinfo=not skip).encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    cap = split_capture(out.stdout, token)
    assert cap.complete and sum(pc.fd_count is not None for pc in cap.processes.values()) >= 5
    calls = [line.split(None, 1) for line in log.read_text().splitlines()]  # "PID<spaces>call"
    shell = calls[0][0]  # strace's child: the shell; grep is a child of its own
    writes = [call for pid, call in calls if pid == shell and call.startswith("write(1,")]
    assert len(writes) == 3, writes
    assert token + " v 6" in writes[0] and writes[2].startswith(f'write(1, "{token} end')


def test_script_fits_every_dropbear_exec_path() -> None:
    script = capture_script(new_token())
    # fed on stdin, but keep it small anyway: 32 KiB worked on every Dropbear measured
    assert len(script.encode()) < 4096
    assert "[[" not in script and "function " not in script and "$(<" not in script  # no bash-isms
    assert " &\n" not in script and not script.rstrip().endswith("&")  # never background work


def test_bad_token_is_refused() -> None:
    with pytest.raises(ValueError):
        capture_script("@@fleet-x; rm -rf /")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_capture_on_a_real_shell_sees_this_process(shell: list[str]) -> None:
    if not SHELLS:
        pytest.skip("no busybox or dash")
    token, raw = run_capture(shell)
    cap = split_capture(raw, token)
    assert cap.complete
    assert cap.files["/proc/meminfo"].startswith("MemTotal:")
    assert len(cap.files["/proc/sys/kernel/random/boot_id"].strip()) == 36
    me = cap.processes[os.getpid()]
    assert me.files["stat"].startswith(f"{os.getpid()} (")
    assert parse_statm(me.files["statm"]).resident > 0
    assert "status" not in me.files  # its memory figures come from statm since format 5
    assert "python" in me.files["maps"]
    assert "smaps_rollup" not in me.files  # PSS only, a page-table walk: not read (fleet.capture)
    assert me.fd_count is not None and me.fd_count >= 3
    assert os.getpid() in me.tasks  # the main thread is a task too
    assert (
        me.files["cmdline"].split("\0")[0].endswith(("python", "python3")) or "python" in me.files["cmdline"]
    )


def test_processes_that_exit_mid_capture_are_tolerated() -> None:
    """Many short-lived processes come and go while the capture runs: it must still finish."""
    if not SHELLS:
        pytest.skip("no busybox or dash")
    churn = subprocess.Popen(
        ["sh", "-c", "i=0; while [ $i -lt 400 ]; do sleep 0.01 & i=$((i+1)); done; wait"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(3):
            token, raw = run_capture(SHELLS[0])
            assert split_capture(raw, token).complete
            assert b" g\n" not in raw  # grep exited 2 for a vanished file, not for want of -z
    finally:
        churn.kill()
        churn.wait()


def test_forged_headers_in_file_content_are_just_content() -> None:
    token = new_token()
    other = new_token()
    raw = (
        f"Welcome to cam-7!\n{token} v 1\n{token} p 5\n{token} f /proc/5/maps\n"
        f"00400000-00401000 r-xp 00000000 00:00 0 /bin/{other} f /proc/5/stat\n"
        f"{token} t 5 x@@fleet-0000000000000000 f /etc/shadow\n{token} end\n"
    ).encode()
    cap = split_capture(raw, token)
    assert cap.preamble == "Welcome to cam-7!\n"
    assert list(cap.processes[5].files) == ["maps"]
    assert other in cap.processes[5].files["maps"]
    assert cap.processes[5].tasks == {5: "x@@fleet-0000000000000000 f /etc/shadow"}
    assert cap.complete


def test_content_without_trailing_newline_keeps_the_next_header() -> None:
    token = new_token()
    raw = f"{token} v 1\n{token} f /proc/uptime\n12.5 3.0{token} f /proc/loadavg\n0.1 0.2 0.3 1/2 3\n"
    cap = split_capture(raw.encode(), token)
    assert cap.files["/proc/uptime"] == "12.5 3.0"
    assert cap.files["/proc/loadavg"].startswith("0.1")
    assert not cap.complete  # no end marker: the stream was cut


def test_unreadable_files_are_recorded_not_kept_empty() -> None:
    token = new_token()
    raw = f"{token} v 1\n{token} f /proc/slabinfo\n{token} ! /proc/slabinfo\n{token} end\n".encode()
    cap = split_capture(raw, token)
    assert "/proc/slabinfo" not in cap.files
    assert cap.unreadable == ("/proc/slabinfo",)


def test_invalid_utf8_and_garbage_never_crash() -> None:
    token = new_token()
    raw = (
        f"{token} v 1\n{token} p 9\n{token} t 9 ".encode() + b"\xff\xfe<script>\n" + f"{token} end\n".encode()
    )
    cap = split_capture(raw, token)
    assert cap.processes[9].tasks[9] == "\\xff\\xfe<script>"
    with pytest.raises(CaptureFormatError):
        split_capture(b"\x00\x01 garbage only", token)
    with pytest.raises(CaptureFormatError):
        split_capture(f"{token} v 99\n".encode(), token)


def test_format_1_captures_from_the_store_still_split() -> None:
    """Captures written by the first (per-file cat) script are re-parsed from the store."""
    token = new_token()
    raw = (
        f"{token} v 1\n{token} f /proc/uptime\n12.5 3.0\n{token} p 7\n{token} f /proc/7/stat\n7 (x) S 1\n"
        f"{token} f /proc/7/maps\n{token} f /proc/7/cmdline\n/bin/x\0-v\0{token} t 7 x\n{token} t 8 w\n"
        f"{token} d 7 4\n{token} end\n"
    ).encode()
    cap = split_capture(raw, token)
    assert cap.complete and cap.files["/proc/uptime"] == "12.5 3.0\n"
    p = cap.processes[7]
    assert p.files == {"stat": "7 (x) S 1\n", "maps": "", "cmdline": "/bin/x\0-v\0"}
    assert p.tasks == {7: "x", 8: "w"} and p.fd_count == 4


def test_grep_sections_cannot_be_forged_by_content() -> None:
    """In a g section every line starts with the name grep was given: content stays content."""
    token = new_token()
    raw = (
        f"{token} v 2\n{token} d 5 3\n{token} z\n5/cmdline:/bin/cam\0005/cmdline:12/maps:x\0"
        f"{token} g\nuptime:1.0 2.0\n5/stat:5 (a\n5/stat:12/status:Name:\tevil) S 1\n"
        f"5/maps:00400000-00401000 r-xp 00000000 00:00 0 /bin/cam\n5/task/5/comm:cam\n5/task/6/comm:w:1\n"
        f"{token} end\n"
    ).encode()
    cap = split_capture(raw, token)
    assert set(cap.processes) == {5}
    p = cap.processes[5]
    assert p.files["stat"] == "5 (a\n12/status:Name:\tevil) S 1\n"
    assert p.files["cmdline"] == "/bin/cam\x0012/maps:x\0"
    assert p.tasks == {5: "cam", 6: "w:1"} and p.fd_count == 3
    assert cap.files == {"/proc/uptime": "1.0 2.0\n"}
    assert "/proc/meminfo" in cap.unreadable and cap.complete


def test_whole_file_records_cannot_be_forged_by_content() -> None:
    """In an ``a`` section a text file is one record: newlines, colons and other files' names in
    its content stay content; only cmdline has NULs, and grep names each of its records."""
    token = new_token()
    raw = (
        f"{token} v 3\n{token} d 5 3\n{token} a\nuptime:1.0 2.0\n\0"
        f"5/stat:5 (a\n12/status:Name:\tevil) S 1\n\0"
        f"5/maps:00400000-00401000 r-xp 00000000 00:00 0 /bin/cam\n6/maps:x\n\0"
        "5/cmdline:/bin/cam\0" + "5/cmdline:12/maps:x\n\0"
        "5/task/5/comm:cam\n\0" + "5/task/6/comm:w:1\n\0"
        f"5/status:Name:\tcam\n\0{token} end\n"
    ).encode()
    cap = split_capture(raw, token)
    assert set(cap.processes) == {5}
    p = cap.processes[5]
    assert p.files["stat"] == "5 (a\n12/status:Name:\tevil) S 1\n"
    assert p.files["maps"] == "00400000-00401000 r-xp 00000000 00:00 0 /bin/cam\n6/maps:x\n"
    assert p.files["cmdline"] == "/bin/cam\x0012/maps:x\n\0" and p.files["status"] == "Name:\tcam\n"
    assert p.tasks == {5: "cam", 6: "w:1"} and p.fd_count == 3
    assert cap.files == {"/proc/uptime": "1.0 2.0\n"}
    assert "/proc/meminfo" in cap.unreadable and cap.complete


def test_a_cut_whole_file_record_is_dropped_not_half_kept() -> None:
    token = new_token()
    raw = f"{token} v 3\n{token} a\nuptime:1.0 2.0\n\0meminfo:MemTotal: 1 kB\nMemFr".encode()
    cap = split_capture(raw, token)
    assert cap.files == {"/proc/uptime": "1.0 2.0\n"} and not cap.complete


@pytest.mark.parametrize("path", ["grep -z", "cat"])
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_pids_without_a_program_are_counted_not_read(shell: list[str], path: str, tmp_path: Path) -> None:
    """Kernel threads and zombies have no exe link: a root shell counts them (format 4's ``k``
    header) and reads nothing of them, not even stat (kernel threads are 50-150 pids on a camera).
    Real: a fresh PID namespace holding a zombie (a child its parent, now ``sleep``, never reaps)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a PID namespace")
    env = cat_only_env(shell, path == "grep -z", tmp_path)
    token = new_token()
    run = f"exec env PATH={(env or os.environ)['PATH']} {shutil.which(shell[0])} {' '.join(shell[1:])} -s"
    out = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", "/bin/sh", "-c",
         f"sh -c 'sleep 0.05 & exec sleep 30' & sleep 0.5; {run}"],
        input=capture_script(token).encode(),
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    cap = split_capture(out.stdout, token)
    assert cap.complete and cap.without_program == 1, out.stdout[-300:]
    m = metrics_from_capture(cap)
    assert m.kernel_threads == 1 and not m.problems
    # pid 1 (the capture's shell) and the sleeper are read; the zombie (pid 3) is not
    assert sorted(p.pid for p in m.processes) == [1, 2] and 3 not in cap.processes
    assert [p.name for p in m.processes] == [shell[0], "sleep"]


@pytest.mark.skipif(not shutil.which("dash"), reason="no dash")
def test_without_grep_the_script_falls_back_to_cat(tmp_path: os.PathLike[str]) -> None:
    """A device without grep (or whose grep cannot run) still gets a complete capture."""
    bin_dir = os.path.join(str(tmp_path), "bin")
    os.mkdir(bin_dir)
    os.symlink(shutil.which("cat") or "/bin/cat", os.path.join(bin_dir, "cat"))
    token = new_token()
    out = subprocess.run(
        [shutil.which("dash") or "dash", "-s"],
        input=capture_script(token).encode(),
        capture_output=True,
        check=True,
        timeout=60,
        env={"PATH": bin_dir},
    )
    cap = split_capture(out.stdout, token)
    assert cap.complete and cap.files["/proc/meminfo"].startswith("MemTotal:")
    me = cap.processes[os.getpid()]
    assert me.files["stat"].startswith(f"{os.getpid()} (") and parse_statm(me.files["statm"]).resident > 0
    assert me.fd_count is not None and os.getpid() in me.tasks


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("grep", [True, False], ids=["grep", "cat-fallback"])
def test_skipped_pids_maps_and_cmdline_are_not_read_and_are_named(
    shell: list[str], grep: bool, tmp_path: Path
) -> None:
    """``skip`` leaves out exactly those pids' maps and cmdline, on both paths, and says so."""
    env = cat_only_env(shell, grep, tmp_path)
    ppid = os.getppid()
    token, raw = run_capture(shell, skip=(os.getpid(), 999_999_999), env=env)
    cap = split_capture(raw, token)
    # and the capture's own shell, a new process each time, left out of such samples
    (shell_pid,) = cap.skipped - {os.getpid(), 999_999_999}
    assert cap.complete and shell_pid in cap.processes and shell_pid != os.getpid()
    me = cap.processes[os.getpid()]
    assert not {"maps", "cmdline"} & set(me.files) and not me.tasks
    assert parse_statm(me.files["statm"]).size > 0 and "stat" in me.files  # the rest is still read
    parent = cap.processes[ppid]  # not named: read in full
    assert parent.files["maps"] and parent.files["cmdline"] and parent.tasks
    assert (b" f /proc/meminfo\n" in raw) is not grep  # the path this case meant to take


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("grep", [True, False], ids=["grep", "cat-fallback"])
def test_slabinfo_left_out_on_purpose_is_said_and_not_unreadable(
    shell: list[str], grep: bool, tmp_path: Path
) -> None:
    env = cat_only_env(shell, grep, tmp_path)
    token, out = run_capture(shell, env=env, slabinfo=False)
    cap = split_capture(out, token)
    assert cap.complete and cap.omitted == {"/proc/slabinfo"}
    assert "/proc/slabinfo" not in cap.files and "/proc/slabinfo" not in cap.unreadable
    assert cap.files["/proc/meminfo"].startswith("MemTotal:") and cap.processes[os.getpid()].files["maps"]
    assert (b" f /proc/meminfo\n" in out) is not grep  # the path this case meant to take
    token, out = run_capture(shell, env=env)
    full = split_capture(out, token)
    assert not full.omitted and (full.files.get("/proc/slabinfo") or "/proc/slabinfo" in full.unreadable)


def test_pid_prefixes_do_not_match_in_the_skip_list() -> None:
    """Skipping pid 1 must not skip pid 12 or 21: the shell matches whole words."""
    script = capture_script(new_token(), [12, 1])
    assert "K=' 1 12'" in script
    assert 'case "$K " in *" $p "*)' in script
    with pytest.raises(ValueError):
        capture_script(new_token(), ["1; reboot"])  # type: ignore[list-item]


def _logging_grep(tmp_path: Path) -> Path:
    """A grep on PATH that logs how it was called (one line per run), then runs the real one."""
    log = tmp_path / "grep.log"
    (tmp_path / "grep").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {shutil.which("grep")} "$@"\n')
    (tmp_path / "grep").chmod(0o755)
    return log


@pytest.mark.skipif(not shutil.which("dash"), reason="no dash")
def test_one_grep_reads_every_file_and_only_unskipped_cmdlines(tmp_path: Path) -> None:
    """Format 3 forks one ``grep -zH`` for everything (a second, tiny ``grep -z`` only when the
    first exits 2: a vanished process), and asks for the maps and cmdline of unskipped pids only."""
    log = _logging_grep(tmp_path)
    present = [int(d.name) for d in Path("/proc").iterdir() if d.name.isdigit()]
    others = tuple(p for p in present if p != os.getpid())
    token, raw = run_capture(["dash"], skip=others, env={"PATH": str(tmp_path)})
    cap = split_capture(raw, token)
    assert cap.complete and cap.files["/proc/meminfo"].startswith("MemTotal:")
    runs = log.read_text().splitlines()
    assert runs[0].startswith("-zH  ") and all(r == "-z " for r in runs[1:]), runs
    named = runs[0].split()
    # a process born after /proc was listed is not in the skip list and is read in full: only
    # skipped pids must never be asked for their maps or cmdline
    for kind in ("cmdline", "maps"):
        pids = [int(w.split("/")[0]) for w in named if w.endswith(f"/{kind}")]
        assert os.getpid() in pids and not set(pids) & set(others), (kind, pids)
    assert f"{os.getppid()}/statm" in named and f"{os.getppid()}/stat" in named
    # maps last: a device too short of memory for grep -z's biggest record loses maps only
    log.unlink()
    run_capture(["dash"], env={"PATH": str(tmp_path)})
    named = log.read_text().splitlines()[0].split()
    first_maps = min(i for i, w in enumerate(named) if w.endswith("/maps"))
    assert len(named[first_maps:]) > 3 and all(w.endswith("/maps") for w in named[first_maps:])
    assert b" g\n" not in raw and b" z\n" not in raw


@pytest.mark.skipif(not shutil.which("dash"), reason="no dash")
def test_a_grep_without_z_still_reads_everything_line_by_line(tmp_path: Path) -> None:
    """BusyBox built without EXTRA_COMPAT has no ``grep -z``: getopt32 prints the usage and exits 2,
    like a grep that met a vanished file. The script tells the two apart with one more tiny grep and
    re-reads the same files line by line. Stand-in (this machine's BusyBox has -z): a wrapper that
    refuses -z exactly so and runs GNU grep otherwise."""
    log = tmp_path / "grep.log"
    (tmp_path / "grep").write_text(
        f'#!/bin/sh\necho "$*" >> {log}\ncase "$1" in -z*) echo "grep: invalid option -- \'z\'" >&2; '
        f'exit 2 ;; esac\nexec {shutil.which("grep")} "$@"\n'
    )
    (tmp_path / "grep").chmod(0o755)
    token, raw = run_capture(["dash"], env={"PATH": str(tmp_path)})
    cap = split_capture(raw, token)
    assert cap.complete and cap.files["/proc/meminfo"].startswith("MemTotal:")
    me = cap.processes[os.getpid()]
    assert me.files["stat"].startswith(f"{os.getpid()} (") and parse_statm(me.files["statm"]).resident > 0
    assert "python" in me.files["maps"] and os.getpid() in me.tasks
    assert [r.split()[0] for r in log.read_text().splitlines()] == ["-zH", "-z", "-H"]
    assert b" g\n" in raw and b" f /proc/meminfo" not in raw


def test_numbers_a_device_forges_never_reach_int() -> None:
    """int() raises on 4,300+ digits and on non-ASCII digits ("²", Arabic-Indic): such pids, tids, counts and
    names are ignored, so a hostile device's capture still splits instead of failing as a parser bug."""
    t = new_token()
    huge = "9" * 5000
    raw = (
        f"{t} v 2\n{t} m {huge} 12 ²\n{t} d 1 {huge}\n{t} d ² 3\n{t} p ²\n{t} p {huge}\n"
        f"{t} z\n\u0661/cmdline:x\0{huge}/cmdline:y\0"
        f"{t} g\n{huge}/stat:x\n7/task/{huge}/comm:w\n7/stat:7 (a) S\n"
        f"{t} p 7\n{t} t {huge} w\n{t} end\n"
    )
    cap = split_capture(raw.encode(), t)
    assert cap.complete and cap.skipped == {12}
    assert set(cap.processes) == {7} and cap.processes[7].files == {"stat": "7 (a) S\n"}
    assert not cap.processes[7].tasks and cap.processes[7].fd_count is None


def captures_in_one_shell(
    shell: list[str], env: dict[str, str] | None, *scripts: tuple[tuple[int, ...], bool]
) -> list[tuple[str, bytes]]:
    """Run one capture per (skip, slabinfo) in one ``sh -s``, each read up to its end marker while
    the shell waits for the next, as fleet.transport.Session.capture does on a kept connection."""
    proc = subprocess.Popen(
        [shutil.which(shell[0]) or shell[0], *shell[1:], "-s"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    out = []
    try:
        for skip, slabinfo in scripts:
            token = new_token()
            proc.stdin.write(capture_script(token, skip, slabinfo=slabinfo).encode())
            proc.stdin.flush()
            raw = b""
            while not raw.endswith(end_marker(token)):
                ready, _, _ = select.select([proc.stdout], [], [], 30)
                chunk = os.read(proc.stdout.fileno(), 65536) if ready else b""
                assert chunk, f"the shell stopped or hung before the end of capture {len(out) + 1}"
                raw += chunk
            out.append((token, raw))
        assert proc.poll() is None  # still waiting for the next script
    finally:
        proc.kill()
        proc.wait()
    return out


@pytest.mark.parametrize("path", ["grep -z", "grep without -z", "cat"])
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_captures_in_one_kept_shell_are_each_whole(shell: list[str], path: str, tmp_path: Path) -> None:
    """A skipping capture between two full ones: the third must not inherit the second's skip
    list or slabinfo choice (the script sets every variable it reads), and no command may read
    stdin (it would hang there). Every read path: BusyBox, dash, grep with and without -z, cat."""
    env = None
    if path == "cat":
        env = cat_only_env(shell, False, tmp_path)
    elif path == "grep without -z":
        if shell[0] != "dash":
            pytest.skip("BusyBox ash runs its own grep applet")
        (tmp_path / "grep").write_text(
            f'#!/bin/sh\ncase "$1" in -z*) exit 2 ;; esac\nexec {shutil.which("grep")} "$@"\n'
        )
        (tmp_path / "grep").chmod(0o755)
        env = {"PATH": str(tmp_path)}
    me = os.getpid()
    runs = captures_in_one_shell(shell, env, ((), True), ((me,), False), ((), True))
    caps = [split_capture(raw, token) for token, raw in runs]
    assert all(c.complete and c.files["/proc/meminfo"].startswith("MemTotal:") for c in caps)
    full, light, again = caps
    assert "maps" in full.processes[me].files and "maps" not in light.processes[me].files
    assert "maps" in again.processes[me].files and not again.skipped and not again.omitted
    assert light.omitted == {"/proc/slabinfo"} and me in light.skipped
    (shell_pid,) = light.skipped - {me}  # $$, named last by a skipping capture
    assert all(shell_pid in c.processes for c in caps)  # the same shell ran all three


def _firmware_capture(shell: list[str], files: list[str], env: dict[str, str] | None) -> tuple[str, bytes]:
    token = new_token()
    out = subprocess.run(
        [shutil.which(shell[0]) or shell[0], *shell[1:], "-s"],
        input=capture_script(token, firmware_files=files).encode(),
        capture_output=True,
        check=True,
        timeout=60,
        env=env,
    )
    return token, out.stdout


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
@pytest.mark.parametrize("path", ["grep", "grep-without-z", "cat-fallback"])
def test_the_first_firmware_file_found_is_named_and_read_on_every_path(
    shell: list[str], path: str, tmp_path: Path
) -> None:
    """Format 6: the shell picks the first of the inventory's firmware_files that exists (a test
    builtin, no process), names it in a ``w`` header and reads it with the other files: with the one
    grep, line by line, or with cat. Paths with spaces, quotes and shell syntax stay one word."""
    odd = tmp_path / "fw dir $(reboot) 'q'"
    odd.mkdir()
    (odd / "os-release").write_text('NAME="Acme"\nVERSION_ID="2.3.1"\n')
    (tmp_path / "later").write_text("9.9.9\n")
    files = [str(tmp_path / "missing"), str(odd), str(odd / "os-release"), str(tmp_path / "later")]
    env: dict[str, str] | None = None
    if path == "cat-fallback":
        env = cat_only_env(shell, False, tmp_path)
    elif path == "grep-without-z":
        if shell[0] != "dash":
            pytest.skip("BusyBox ash runs its own grep applet")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "grep").write_text(
            f'#!/bin/sh\ncase "$1" in -z*) exit 2 ;; esac\nexec {shutil.which("grep")} "$@"\n'
        )
        (bin_dir / "grep").chmod(0o755)
        env = {"PATH": str(bin_dir)}
    token, raw = _firmware_capture(shell, files, env)
    cap = split_capture(raw, token)
    assert cap.complete and cap.firmware_file == str(odd / "os-release")  # a directory is no file
    assert cap.files[str(odd / "os-release")] == 'NAME="Acme"\nVERSION_ID="2.3.1"\n'
    assert str(tmp_path / "later") not in cap.files and not (tmp_path / "reboot").exists()
    m = metrics_from_capture(cap)
    assert m.firmware == "2.3.1" and m.kernel_version and m.kernel_version.startswith("Linux version ")
    assert cap.files["/proc/meminfo"].startswith("MemTotal:") and cap.processes[os.getpid()].files["maps"]
    assert (b" g\n" in raw) is (path == "grep-without-z")
    assert (b" f /proc/meminfo" in raw) is (path == "cat-fallback")


@pytest.mark.skipif(not shutil.which("dash"), reason="no dash")
def test_firmware_is_read_by_the_same_one_grep(tmp_path: Path) -> None:
    """Nothing extra forked on the device: the firmware file is one more name on grep's command line."""
    log = _logging_grep(tmp_path)
    fw = tmp_path / "fw_version"
    fw.write_text("\n 1.0-beta \n")
    token, raw = _firmware_capture(["dash"], [str(fw)], {"PATH": str(tmp_path)})
    runs = log.read_text().splitlines()
    # the tiny "-z" probe runs only when grep met a vanished process (exit 2), as without firmware
    assert str(fw) in runs[0].split() and runs[0].startswith("-zH  ") and all(r == "-z " for r in runs[1:])
    assert metrics_from_capture(split_capture(raw, token)).firmware == "1.0-beta"


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_no_firmware_file_no_header_and_an_empty_list_reads_none(shell: list[str], tmp_path: Path) -> None:
    for files in ([str(tmp_path / "nope"), str(tmp_path / "nor-this")], []):
        token, raw = _firmware_capture(shell, files, None)
        cap = split_capture(raw, token)
        assert cap.complete and cap.firmware_file is None and f"{token} w ".encode() not in raw
        assert metrics_from_capture(cap).firmware is None and "/proc/version" in cap.files
    empty = tmp_path / "empty"
    empty.write_text("")
    token, raw = _firmware_capture(shell, [str(empty)], None)
    cap = split_capture(raw, token)
    assert cap.firmware_file == str(empty) and metrics_from_capture(cap).firmware is None


@pytest.mark.parametrize("bad", ["/etc/v\nreboot", "/etc/v\0", "etc/version", "/a:b", ""])
def test_firmware_paths_a_capture_cannot_name_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        capture_script(new_token(), firmware_files=[bad])


def test_format_5_captures_have_no_firmware_and_miss_no_kernel_version() -> None:
    """Stored captures of format 5 and older: no ``w`` header, no /proc/version; neither counts as
    unreadable, and their metrics say unknown (None)."""
    t = new_token()
    raw = f"{t} v 5\n{t} k 0\n{t} a\nuptime:5.0 1.0\n\0meminfo:MemTotal: 1 kB\n\0{t} end\n".encode()
    cap = split_capture(raw, t)
    assert cap.firmware_file is None and "/proc/version" not in cap.unreadable
    assert "/proc/loadavg" in cap.unreadable  # still read by format 5, so missing
    m = metrics_from_capture(cap)
    assert m.firmware is None and m.kernel_version is None
    raw6 = raw.replace(b" v 5\n", b" v 6\n")
    assert "/proc/version" in split_capture(raw6, t).unreadable
