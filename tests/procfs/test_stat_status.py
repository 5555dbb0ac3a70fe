"""pid stat and status, loadavg and uptime: real files from 2.6.32 to 6.18 and adversarial comms."""

from __future__ import annotations

import pytest

from fleet.procfs import ParseError, parse_loadavg, parse_stat, parse_statm, parse_status, parse_uptime

from ._corpus import GOPI, PCP, PROM, T0, T1, corpus, corpus_files

KB = 1024


@pytest.mark.parametrize(
    ("rel", "pid", "comm", "state", "ppid", "starttime"),
    [
        (f"{PROM}/584/stat", 1020, "(a b ) ( c d) ", "R", 28378, 10839175),  # + '#!/bin/cat' 2nd line
        (f"{GOPI}/884/stat", 884, "rs:main Q:Reg", "S", 1, 2161),
        (f"{GOPI}/4854/stat", 4854, "(sd-pam)", "S", 4853, 4912),
        (f"{GOPI}/3323/stat", 3323, "proftpd", "S", 1, 2789),  # 32-bit: rlim 4294967295
        (f"{PCP}/procpid-2.6.32-root-001/proc/2/stat", 2, "kthreadd", "S", 0, 2),
        (f"{PCP}/procpid-3.19.0-root-002/proc/3196/stat", 3196, "(sd-pam)", "S", 3189, 7841),
        (f"{PCP}/procpid-4.2.3-root-004/proc/20520/stat", 20520, "DNS Res~r #3682", "S", 1, 231654138),
        (f"{PCP}/procpid-4.2.3-root-004/proc/11674/stat", 11674, "Latency Logger", "S", 1, 520601),
        (f"{T0}/27807/stat", 27807, "evil) S 1 (x y", "S", 1, 55824),
        (f"{T0}/29099/task/29109/stat", 29109, "io) wrk (1", "S", 1, 56663),
        (f"{T0}/29099/task/29107/stat", 29107, "net rx (0)", "S", 1, 56663),
    ],
)
def test_stat_corpus(rel: str, pid: int, comm: str, state: str, ppid: int, starttime: int) -> None:
    s = parse_stat(corpus(rel))
    assert (s.pid, s.comm, s.state, s.starttime) == (pid, comm, state, starttime)
    assert s.ppid == ppid
    assert s.field(22) == starttime


def test_stat_every_corpus_file_parses() -> None:
    files = corpus_files("stat")
    assert len(files) >= 45
    for rel in files:
        assert parse_stat(corpus(rel)).starttime >= 0


def test_stat_negative_fields_and_kernel_thread() -> None:
    s = parse_stat(corpus(f"{PROM}/26232/stat"))  # quirk: says pid 33, ata_sff, LONG_MIN fields
    assert s.pid == 33 and s.comm == "ata_sff"
    assert s.field(16) == -9223372036854775808
    assert s.field(19) == -20  # nice
    assert s.kernel_thread


def test_stat_32bit_and_vsize() -> None:
    s = parse_stat(corpus(f"{GOPI}/3323/stat"))
    assert s.vsize == 16601088
    assert s.rss_pages == 522
    assert s.field(25) == 4294967295
    assert not s.kernel_thread
    assert s.field(99) is None


def test_stat_this_machine_kthread() -> None:
    s = parse_stat(corpus(f"{T0}/2/stat"))
    assert s.kernel_thread and s.comm == "kthreadd" and s.num_threads == 1


def test_stat_comm_with_newline() -> None:
    s = parse_stat("7 (a\nb) S " + " ".join(["1"] * 20) + "\n")
    assert s.comm == "a\nb" and s.starttime == 1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no '\\(comm\\)'"),
        ("12 (x) S 1 2 3", "only 4 fields"),
        ("x (y) S " + "1 " * 20, "bad pid"),
        ("12 (x) SS " + "1 " * 20, "bad state"),
        ("12 (x) S " + "1 " * 10 + "z " + "1 " * 10, "bad field"),
        ("12 x) S " + "1 " * 20, "no '\\(comm\\)'"),
    ],
)
def test_stat_bad(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_stat(text)


def test_status_this_machine_32bit() -> None:
    s = parse_status(corpus(f"{T0}/29108/status"))
    assert s.name == "leakd32"
    assert (s.vm_size, s.vm_rss) == (45184 * KB, 6192 * KB)
    assert (s.rss_anon, s.rss_file, s.rss_shmem) == (4556 * KB, 1476 * KB, 160 * KB)
    assert (s.vm_data, s.vm_stk, s.threads) == (39752 * KB, 132 * KB, 5)
    assert s.other["Umask"] == "0022"


def test_status_adversarial_name() -> None:
    assert parse_status(corpus(f"{T0}/27807/status")).name == "evil) S 1 (x y"
    t1 = parse_status(corpus(f"{T1}/27807/status"))
    assert t1.vm_rss == 11640832


def test_status_spaces_after_colon() -> None:
    s = parse_status(corpus(f"{PROM}/26235/status"))
    assert (s.vm_size, s.vm_rss, s.rss_anon, s.threads) == (758200 * KB, 42652 * KB, 24852 * KB, 51)
    assert s.other["NSpid"] == "26235\t1"


def test_status_old_kernels() -> None:
    old = parse_status(corpus(f"{PCP}/procpid-2.6.32-root-001/proc/2230/status"))
    assert old.name == "acpid" and old.vm_rss == 632 * KB and old.rss_anon is None
    assert old.other["Utrace"] == "0"
    kthread = parse_status(corpus(f"{PCP}/procpid-2.6.32-root-001/proc/2/status"))
    assert kthread.vm_size is None and kthread.threads == 1
    gopi = parse_status(corpus(f"{GOPI}/3323/status"))
    assert gopi.vm_size == 16212 * KB and gopi.rss_anon is None and gopi.ppid == 1
    firefox = parse_status(corpus(f"{PCP}/procpid-4.2.3-root-004/proc/16080/status"))
    assert firefox.name == "mozStorage #10" and firefox.threads == 65


def test_status_every_corpus_file_parses() -> None:
    files = corpus_files("status")
    assert len(files) >= 20
    for rel in files:
        assert parse_status(corpus(rel)).name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no fields"),
        ("Name:\tx\nVmRSS:\t 12\n", "no kB unit"),  # truncated
        ("Name:\tx\nVmRSS: 12 MB\n", "is not kB"),
        ("Name:\tx\nno colon here\n", "line 2"),
        ("Name:\tx\nThreads:\tmany\n", "Threads value"),
        ("Name:\tx\nThreads:\n", "Threads: bad value"),
    ],
)
def test_status_bad(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_status(text)


def test_status_unknown_key_kept() -> None:
    s = parse_status("Name:\t  spaced\nFutureThing:\t42 widgets\nVmFuture:\t8 kB\n")
    assert s.name == "  spaced"
    assert s.other["FutureThing"] == "42 widgets"
    assert s.sizes["VmFuture"] == 8 * KB


def test_statm_every_corpus_file_agrees_with_its_status() -> None:
    """statm's size, resident and resident - shared are status's VmSize, VmRSS and RssAnon in 4 KiB
    pages, in every corpus process that has both files."""
    files = corpus_files("statm")
    assert len(files) >= 9
    compared = 0
    for rel in files:
        statm = parse_statm(corpus(rel))
        status_rel = rel.removesuffix("statm") + "status"
        if status_rel not in corpus_files("status"):
            continue
        status = parse_status(corpus(status_rel))
        if status.vm_size is None:  # a kernel thread: no Vm lines, statm all zeros
            assert statm == (0, 0, 0), rel
            continue
        assert (statm.size * 4096, statm.resident * 4096) == (status.vm_size, status.vm_rss), rel
        if status.rss_anon is not None:  # Linux 4.5+; older kernels show the anon pages in statm only
            assert statm.anon * 4096 == status.rss_anon, rel
            compared += 1
    assert compared >= 6


@pytest.mark.parametrize(
    "text",
    ["", "12 4\n", "12 -4 3 1 0 2 0\n", "12 4 3 x 0 2 0\n", "1" * 21 + " 4 3\n", "٣ 4 3\n", "12 4 3.0\n"],
)
def test_statm_bad(text: str) -> None:
    with pytest.raises(ParseError, match="statm"):
        parse_statm(text)


def test_statm_more_columns_and_a_second_line() -> None:
    assert parse_statm("10 4 3 1 0 2 0 9 9\njunk\n") == (10, 4, 3)
    assert parse_statm("10 3 4 1 0 2 0\n").anon == 0  # shared over resident: racy or forged, not negative


def test_loadavg_and_uptime() -> None:
    la = parse_loadavg(corpus(f"{PROM}/loadavg"))
    assert (la.load1, la.load5, la.load15, la.running, la.total, la.last_pid) == (
        0.02,
        0.04,
        0.05,
        1,
        497,
        11947,
    )
    assert parse_loadavg(corpus(f"{T0}/loadavg")).total == 192
    assert parse_loadavg(corpus(f"{GOPI}/loadavg")).last_pid == 11975
    up = parse_uptime(corpus(f"{GOPI}/uptime"))
    assert (up.uptime, up.idle) == (23535.50, 188023.20)
    assert parse_uptime(corpus(f"{T0}/uptime")).uptime == 573.66
    assert parse_uptime(corpus(f"{T1}/uptime")).uptime == 585.97


@pytest.mark.parametrize(
    "text", ["", "1 2 3 4/5", "a b c 1/2 3", "1 2 3 12 3", "1 2 3 1/x 3", "inf 1 1 1/1 1"]
)
def test_loadavg_bad(text: str) -> None:
    with pytest.raises(ParseError):
        parse_loadavg(text)


@pytest.mark.parametrize("text", ["", "1", "1 2 3", "nan 1", "1e5 2", "-.5 1"])
def test_uptime_bad(text: str) -> None:
    with pytest.raises(ParseError):
        parse_uptime(text)
