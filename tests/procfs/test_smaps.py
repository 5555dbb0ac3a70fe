"""smaps and smaps_rollup: rollup on 4.15+, summed smaps before, cross-checked against status."""

from __future__ import annotations

import pytest

from fleet.procfs import ParseError, parse_smaps, parse_smaps_rollup, parse_status, rollup_from_smaps

from ._corpus import AOSP, GOPI, PROM, T0, T1, corpus, corpus_files

KB = 1024


def test_prometheus_rollup_equals_summed_smaps() -> None:
    r = parse_smaps_rollup(corpus(f"{PROM}/26231/smaps_rollup"))
    assert (r.rss, r.pss, r.anonymous, r.lazy_free, r.swap, r.swap_pss) == (
        29948 * KB, 29944 * KB, 20756 * KB, 5848 * KB, 1940 * KB, 1940 * KB,
    )  # fmt: skip
    assert r.pss_anon is None  # 5.8+ only
    assert not r.summed
    s = rollup_from_smaps(parse_smaps(corpus(f"{PROM}/26231/smaps")))
    assert s.summed and s.rss == r.rss and s.swap == r.swap
    assert "Size" not in s.sizes  # a property of a VMA, not memory: not summed


def test_old_i386_smaps_matches_status_rss() -> None:
    smaps = parse_smaps(corpus(f"{GOPI}/3323/smaps"))
    assert len(smaps.entries) == 178
    first = smaps.entries[0]
    assert first.vma.path == "/usr/sbin/proftpd" and first.sizes["Size"] == 696 * KB
    assert "VmFlags" not in first.other  # before 3.8
    total = rollup_from_smaps(smaps)
    status = parse_status(corpus(f"{GOPI}/3323/status"))
    assert total.rss == status.vm_rss == 2088 * KB
    assert total.swap_pss is None  # SwapPss is 4.3+


def test_android_big_smaps() -> None:
    smaps = parse_smaps(corpus(f"{AOSP}/libmeminfo/testdata1/smaps"))
    assert len(smaps.entries) == 2760
    named = [e for e in smaps.entries if "Name" in e.other]
    assert len(named) == 1097
    total = rollup_from_smaps(smaps)
    assert (total.rss, total.pss) == (250332 * KB, 108384 * KB)
    short = parse_smaps(corpus(f"{AOSP}/libmeminfo/testdata1/smaps_short"))
    assert short.entries[0].other["Name"] == "[anon:dalvik-zygote-jit-code-cache]"
    assert short.entries[0].sizes["AnonHugePages"] == 2048 * KB


def test_this_machine_rollups() -> None:
    t0 = parse_smaps_rollup(corpus(f"{T0}/29099/smaps_rollup"))
    t1 = parse_smaps_rollup(corpus(f"{T1}/29099/smaps_rollup"))
    assert (t0.rss, t0.anonymous, t0.pss_dirty, t0.locked) == (6184 * KB, 4604 * KB, 4776 * KB, 64 * KB)
    assert (t1.rss, t1.anonymous) == (9304 * KB, 7724 * KB)
    smaps = parse_smaps(corpus(f"{T0}/29099/smaps"))
    assert smaps.entries[0].other["VmFlags"] == "rd mr mw me"
    assert smaps.entries[0].other["THPeligible"] == "0"
    assert rollup_from_smaps(smaps).rss == t0.rss


def test_kernel_thread_empty() -> None:
    assert parse_smaps(corpus(f"{T0}/2/smaps")).entries == ()
    r = parse_smaps_rollup(corpus(f"{T0}/2/smaps_rollup"))
    assert r.rss is None and r.pss is None


def test_every_corpus_smaps_parses() -> None:
    for rel in corpus_files("smaps") + corpus_files("smaps_short"):
        parse_smaps(corpus(rel))
    for rel in corpus_files("smaps_rollup"):
        parse_smaps_rollup(corpus(rel))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Rss: 4 kB\n", "field before any mapping header"),
        ("00400000-00401000 r-xp 00000000 08:01 1 /a\nRss 4 kB\n", "line 2"),
        ("00400000-00401000 r-xp 00000000 08:01 1 /a\nRss: 4 MB\n", "is not kB"),
        ("00400000-00401000 r-xp 00000000 08:01 1 /a\nRss: x kB\n", "bad Rss value"),
        ("0040-zz r-xp\nRss: 4 kB\n", "smaps: line 1"),
    ],
)
def test_smaps_bad(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_smaps(text)


def test_rollup_bad() -> None:
    two = "00400000-00401000 ---p 00000000 00:00 0 [rollup]\nRss: 4 kB\n" * 2
    with pytest.raises(ParseError, match="smaps_rollup: line 3: more than one header"):
        parse_smaps_rollup(two)
