"""metrics_from_capture: a real local capture, the lab corpus as a capture, and broken files."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.capture.script import capture_script, new_token
from fleet.capture.split import Capture, ProcessCapture, split_capture
from fleet.metrics.from_capture import metrics_from_capture, page_size
from fleet.metrics.model import DeviceMetrics

T0 = Path(__file__).resolve().parent / "data" / "proc" / "this-machine-linux-6" / "t0" / "proc"
KB = 1024


def _local_capture() -> Capture:
    token = new_token()
    out = subprocess.run(
        ["sh", "-s"], input=capture_script(token).encode(), capture_output=True, check=True, timeout=60
    ).stdout
    return split_capture(out, token)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_local_capture() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="fleet-probe", daemon=True)
    worker.start()
    try:
        capture = _local_capture()
    finally:
        stop.set()
        worker.join()
    assert capture.complete
    m = metrics_from_capture(capture)
    assert m.problems == ()
    assert m.boot_id and len(m.boot_id) == 36
    assert m.kernel == os.uname().release
    assert m.uptime and m.uptime > 0 and m.load1 is not None
    assert m.mem_total and m.mem_available and 0 < m.mem_available <= m.mem_total
    me = next(p for p in m.processes if p.pid == os.getpid())
    with open(f"/proc/{os.getpid()}/stat") as f:
        assert me.start_time == int(f.read().rsplit(")", 1)[1].split()[19])
    assert me.threads is not None and me.threads >= 2  # main + the probe thread
    assert me.rss and me.rss > 0 and me.vm_size and me.vm_size > me.rss
    assert me.anon_private and me.anon_private > 0 and me.pss is None  # PSS: not captured
    assert me.address_bits == 64 or me.address_bits == 32
    assert me.exe and "python" in me.exe
    assert me.cmdline and "\0" not in me.cmdline
    assert me.fds and me.fds >= 3
    assert me.stack_count >= 1 and me.stack_size  # the probe thread's stack, found by shape
    assert sum(me.thread_names.values()) == len(capture.processes[os.getpid()].tasks)
    assert not me.kernel_thread and me.class_counts["executable"] >= 1
    # kernel threads (kthreadd is pid 2 where this test sees the host's pids) are counted, not recorded
    if 2 in capture.processes and "kthreadd" in capture.processes[2].files.get("stat", ""):
        assert m.kernel_threads and 2 not in {p.pid for p in m.processes}


def _corpus_capture() -> Capture:
    """The this-machine corpus snapshot shaped as if the capture script had read it."""
    if not T0.exists():
        pytest.skip("corpus not available")
    files = {f"/proc/{n}": (T0 / n).read_text() for n in ("meminfo", "slabinfo", "loadavg", "uptime")}
    processes = {}
    for pid in (2, 27807, 27809, 29099, 29108):
        pc = ProcessCapture(pid=pid)
        for name in ("stat", "status", "maps", "smaps_rollup", "cmdline"):
            pc.files[name] = (T0 / str(pid) / name).read_text()
        for task in sorted((T0 / str(pid) / "task").iterdir()):
            pc.tasks[int(task.name)] = (task / "comm").read_text().rstrip("\n")
        processes[pid] = pc
    return Capture(files=files, processes=processes, complete=True)


def test_corpus_capture_values() -> None:
    m = metrics_from_capture(_corpus_capture())
    assert m.problems == ()
    assert (m.uptime, m.load1, m.mem_total) == (573.66, 0.81, 24684084 * KB)
    assert m.slab["dentry"] == 76205 * 192
    by_pid = {p.pid: p for p in m.processes}
    lab = by_pid[29099]
    assert (lab.name, lab.start_time, lab.threads) == ("leakd64", 56662, 5)
    assert (lab.rss, lab.pss, lab.anon_private) == (6332416, 4823 * KB, 4714496)
    assert (lab.stack_count, lab.stack_bytes, lab.stack_size) == (4, 32 * 1024 * 1024, 8 * 1024 * 1024)
    assert (lab.shm_count, lab.shm_bytes, lab.address_bits) == (1, 64 * KB, 64)
    assert lab.exe == "/opt/lab/leakd64"
    assert lab.thread_names == {
        "leakd64": 1,
        "net rx (0)": 1,
        "io) wrk (1": 1,
        "sleeper": 1,
        "leak-worker": 1,
    }
    assert by_pid[29108].address_bits == 32 and by_pid[29108].exe == "/opt/lab/leakd32"
    assert by_pid[27807].name == "evil) S 1 (x y"
    assert by_pid[27809].cmdline == "sleep 900"
    # kthreadd (PF_KTHREAD in its stat) is counted, not recorded: nothing of its own to leak
    assert 2 not in by_pid and m.kernel_threads == 1


def test_broken_files_become_problems() -> None:
    cap = _corpus_capture()
    cap.processes[29099].files["maps"] = "557d4b9e7000-557d4b9e8000 r--p 00000000 fe:00 1 /a\ngarbage\n"
    cap.processes[29108].files["stat"] = "29108 (leakd32) S 1 2\n"
    del cap.processes[27809].files["stat"]  # vanished mid-capture: dropped silently
    cap.files["/proc/meminfo"] = "MemTotal: 12\n"
    m = metrics_from_capture(cap)
    assert "pid 29099 maps: line 2: not a mapping line: 'garbage'" in m.problems
    assert any(p.startswith("pid 29108 stat: line 1: only") for p in m.problems)
    assert "pid 29108: dropped, no start time without a readable stat" in m.problems
    assert any(p.startswith("meminfo: line 1: MemTotal") for p in m.problems)
    assert m.partial and m.mem_total is None and m.uptime == 573.66
    pids = {p.pid for p in m.processes}
    assert 29108 not in pids and 27809 not in pids
    lab = next(p for p in m.processes if p.pid == 29099)
    assert lab.rss == 6332416 and lab.stack_count == 0 and lab.exe is None  # the rest still used


def test_old_kernel_fallbacks() -> None:
    """No RssAnon, no smaps_rollup, no Threads: fall back as documented, never invent zeros."""
    cap = _corpus_capture()
    pc = cap.processes[29099]
    pc.files["status"] = "\n".join(
        line for line in pc.files["status"].splitlines() if not line.startswith(("RssAnon", "Threads"))
    )
    del pc.files["smaps_rollup"]
    m = metrics_from_capture(cap)
    lab = next(p for p in m.processes if p.pid == 29099)
    assert lab.anon_private is None and lab.pss is None
    assert lab.threads == 5  # stat field 20


def _statm_capture() -> Capture:
    """The corpus capture as format 5 reads it: statm instead of status."""
    cap = _corpus_capture()
    for pid, pc in cap.processes.items():
        del pc.files["status"], pc.files["smaps_rollup"]
        pc.files["statm"] = (T0 / str(pid) / "statm").read_text()
    return cap


def test_statm_gives_what_status_gave() -> None:
    """Format 5 reads statm, not status: on a real kernel's files the same VmSize, VmRSS and
    RssAnon (resident - shared pages) come out, in bytes through the page size stat's vsize gives."""
    by_status = {p.pid: p for p in metrics_from_capture(_corpus_capture()).processes}
    m = metrics_from_capture(_statm_capture())
    assert m.problems == ()
    assert len(m.processes) == len(by_status) == 4
    for p in m.processes:
        want = by_status[p.pid]
        assert (p.vm_size, p.rss, p.anon_private, p.threads) == (
            want.vm_size,
            want.rss,
            want.anon_private,
            want.threads,
        ), p.pid
        assert p.pss is None
    assert m.kernel_threads == 1  # kthreadd's statm is all zeros; its stat says what it is


def test_page_size_comes_from_stat_vsize_and_survives_a_race() -> None:
    """A 64 KiB-page kernel (arm64, ppc64) counts statm in 64 KiB pages; one process that mapped
    memory between its stat and statm reads (an odd ratio) is outvoted; without any usable ratio
    the counts stay unknown and say why, and VmSize still comes from stat's vsize."""
    big = 64 * KB

    def proc(pid: int, pages: int, vsize: int) -> ProcessCapture:
        stat = f"{pid} (d{pid}) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 {100 + pid} {vsize} 9"
        return ProcessCapture(pid=pid, files={"stat": stat + "\n", "statm": f"{pages} 30 10 1 0 5 0\n"})

    def run(*procs: ProcessCapture) -> DeviceMetrics:
        return metrics_from_capture(Capture(files={}, processes={p.pid: p for p in procs}, complete=True))

    m = run(proc(10, 100, 100 * big), proc(11, 200, 200 * big), proc(12, 300, 300 * big + 4096))
    assert page_size([]) is None and m.problems == ()
    assert [(p.vm_size, p.rss, p.anon_private) for p in m.processes] == [
        (100 * big, 30 * big, 20 * big),
        (200 * big, 30 * big, 20 * big),
        (300 * big, 30 * big, 20 * big),
    ]
    m = run(proc(10, 100, 100 * 3000), proc(11, 7, 7 * 4096 + 1))
    assert [(p.vm_size, p.rss, p.anon_private) for p in m.processes] == [
        (100 * 3000, None, None),
        (7 * 4096 + 1, None, None),
    ]
    assert m.problems == (
        "statm: page size unknown (no process's stat vsize is a whole number of its pages)",
    )


def test_a_kernel_thread_without_its_flag_is_told_by_statm_zeros_and_an_empty_maps() -> None:
    """Kernels before 2.6.27 do not mark kernel threads in stat: no memory (statm all zeros) and
    an empty maps tell them; a user process whose counts are only unknown (no page size) is not
    one."""

    def proc(pid: int, statm: str, vsize: int) -> ProcessCapture:
        stat = f"{pid} (k{pid}) S 2 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {pid} {vsize} 0\n"
        return ProcessCapture(pid=pid, files={"stat": stat, "statm": statm, "maps": ""})

    cap = Capture(
        files={},
        processes={5: proc(5, "0 0 0 0 0 0 0\n", 0), 6: proc(6, "7 3 1 1 0 2 0\n", 7 * 3000)},
        complete=True,
    )
    by_pid = {p.pid: p for p in metrics_from_capture(cap).processes}
    assert by_pid[5].kernel_thread and by_pid[5].vm_size is None
    assert not by_pid[6].kernel_thread and by_pid[6].vm_size == 7 * 3000 and by_pid[6].rss is None


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_statm_figures_of_a_live_process_equal_its_status() -> None:
    """This machine's kernel: a sleeping process's VmSize, VmRSS and RssAnon, read from its status
    before and after the capture (and the same both times: it was not still starting), equal what
    the capture made of its statm."""
    sleeper = subprocess.Popen(["sleep", "60"])

    def figures() -> tuple[int, int, int]:
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{sleeper.pid}/status").read_text().splitlines()
        )
        vm_size, rss, anon = (int(status[k].split()[0]) * KB for k in ("VmSize", "VmRSS", "RssAnon"))
        return vm_size, rss, anon

    try:
        for _ in range(50):
            before = figures()
            me = next(p for p in metrics_from_capture(_local_capture()).processes if p.pid == sleeper.pid)
            if figures() == before:
                break
            time.sleep(0.1)  # still being exec'ed and loaded
    finally:
        sleeper.kill()
        sleeper.wait()
    assert (me.vm_size, me.rss, me.anon_private) == before
    assert me.rss and me.anon_private and me.anon_private < me.rss


def test_unchanged_maps_are_copied_from_the_previous_sample_not_parsed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fleet.metrics.from_capture

    capture = _local_capture()  # this machine: ~100-300 processes, most with maps
    first = metrics_from_capture(capture)
    with_maps = [p for p in first.processes if p.maps_digest]
    assert len(with_maps) >= 3 and all(p.class_counts for p in with_maps)

    # One process's mappings change (a new anonymous mapping): only its maps are parsed again.
    changed = next(pc for pc in capture.processes.values() if pc.files.get("maps"))
    changed.files["maps"] += "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n"
    classified: list[str] = []
    real = fleet.metrics.from_capture._classified_maps

    def counting(text: str) -> object:
        classified.append(text)
        return real(text)

    monkeypatch.setattr(fleet.metrics.from_capture, "_classified_maps", counting)
    again = metrics_from_capture(capture, previous=first)
    assert classified == [changed.files["maps"]]
    monkeypatch.setattr(fleet.metrics.from_capture, "_classified_maps", real)
    assert again == metrics_from_capture(capture)  # copying changes nothing but the time it takes
    grown = next(p for p in again.processes if p.pid == changed.pid)
    before = next(p for p in first.processes if p.pid == changed.pid)
    assert grown.class_bytes["anon"] == before.class_bytes.get("anon", 0) + 0x100000
    assert grown.maps_digest != before.maps_digest


def test_figures_of_another_classifier_are_not_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    import fleet.metrics.from_capture

    capture = _local_capture()
    first = metrics_from_capture(capture)
    monkeypatch.setattr(
        fleet.metrics.from_capture, "CLASSIFIER", b"mapclass 2\0"
    )  # a fleet whose classes differ
    classified: list[str] = []
    real = fleet.metrics.from_capture._classified_maps
    monkeypatch.setattr(
        fleet.metrics.from_capture, "_classified_maps", lambda t: classified.append(t) or real(t)
    )
    second = metrics_from_capture(capture, previous=first)
    assert len(classified) == sum(1 for p in first.processes if p.maps_digest)
    assert {p.maps_digest for p in second.processes}.isdisjoint(
        {p.maps_digest for p in first.processes} - {None}
    )


def test_skipped_maps_cmdline_and_thread_names_are_carried_from_the_previous_sample() -> None:
    """A capture that left some maps out on purpose (``--maps-every``) gets their figures from the
    previous sample's same process, so the series stays exact; a pid that now names another
    process (another start time) cannot borrow them and is left out."""
    full = _local_capture()
    first = metrics_from_capture(full)
    with_maps = {p.pid: p for p in first.processes if p.maps_digest}
    token = new_token()
    skip = sorted(with_maps)
    out = subprocess.run(
        ["sh", "-s"], input=capture_script(token, skip).encode(), capture_output=True, check=True, timeout=60
    ).stdout
    partial = split_capture(out, token)
    assert partial.skipped > set(skip)  # and the capture's own shell
    assert not any(
        {"maps", "cmdline"} & set(partial.processes[pid].files) or partial.processes[pid].tasks
        for pid in skip
        if pid in partial.processes
    )
    second = metrics_from_capture(partial, previous=first)
    assert not second.problems
    carried = [p for p in second.processes if p.pid in with_maps]
    assert len(carried) >= 3
    for p in carried:
        before = with_maps[p.pid]
        assert p.start_time == before.start_time
        assert (p.exe, p.stack_count, p.class_bytes, p.maps_digest, p.cmdline, p.thread_names) == (
            before.exe,
            before.stack_count,
            before.class_bytes,
            before.maps_digest,
            before.cmdline,
            before.thread_names,
        )
        assert p.thread_names  # every user process has at least its main thread
    # the same capture against a previous sample where one pid had another start time
    victim = carried[0].pid
    reused = replace(
        first,
        processes=tuple(
            replace(p, start_time=p.start_time + 1) if p.pid == victim else p for p in first.processes
        ),
    )
    third = metrics_from_capture(partial, previous=reused)
    assert victim not in {p.pid for p in third.processes}
    assert len(third.processes) == len(second.processes) - 1
    # and without any previous sample, skipped processes cannot be completed: all left out
    alone = metrics_from_capture(partial)
    assert not {p.pid for p in alone.processes} & set(skip)
