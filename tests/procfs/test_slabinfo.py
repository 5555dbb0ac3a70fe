"""slabinfo 2.x: SLUB from the corpus, SLAB (non-zero tunables) from hand-written samples."""

from __future__ import annotations

from dataclasses import fields

import pytest

from fleet.procfs import ParseError, SlabCache, parse_slabinfo

from ._corpus import PCP, PROM, T0, corpus


def test_prometheus_slub_long_names() -> None:
    s = parse_slabinfo(corpus(f"{PROM}/slabinfo"))
    assert s.version == "2.1"
    assert s.allocator == "SLUB"
    assert len(s.caches) == 300
    by = {c.name: c for c in s.caches}
    iwl = by["iwl_cmd_pool:0000:04:00.0"]
    assert (iwl.active_objs, iwl.num_objs, iwl.objsize, iwl.num_slabs) == (0, 128, 512, 4)
    assert by["dentry"].bytes == 166069 * 528
    assert by["nvidia_p2p_page_cache"].objsize == 368  # a name that touches the first column
    assert s.bytes_by_cache()["kmalloc-8"] == 7576 * 344


def test_this_machine() -> None:
    s = parse_slabinfo(corpus(f"{T0}/slabinfo"))
    assert s.allocator == "SLUB"
    assert s.bytes_by_cache()["dentry"] == 76205 * 192
    assert s.bytes_by_cache()["kmalloc-64"] == 2480 * 64


@pytest.mark.parametrize(("name", "count"), [("meminfo-root-001", 136), ("meminfo-root-002", 129)])
def test_pcp(name: str, count: int) -> None:
    s = parse_slabinfo(corpus(f"{PCP}/{name}/proc/slabinfo"))
    assert len(s.caches) == count
    if name == "meminfo-root-001":
        assert s.bytes_by_cache()["dentry"] == 802925 * 320
    else:
        assert "nf_conntrack_ffff881026e52400" in s.bytes_by_cache()


# Not in the corpus (see SOURCES.md): SLAB lines written after mm/slab.c's s_show() format.
SLAB_21 = """\
slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
ext4_inode_cache    1201   1216    512    8    1 : tunables   54   27    8 : slabdata    152    152      0
size-64             7391   7552     64   59    1 : tunables  120   60    8 : slabdata    128    128     12
"""  # noqa: E501

SLAB_20 = """\
slabinfo - version: 2.0
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <batchcount> <limit> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
size-64             7391   7552     64   59    1 : tunables   60  120    8 : slabdata    128    128     12
"""  # noqa: E501

SLAB_STATS = """\
slabinfo - version: 2.1 (statistics)
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail> : globalstat <listallocs> <maxobjs> <grown> <reaped> <error> <maxfreeable> <nodeallocs> <remotefrees> <alienoverflow> : cpustat <allochit> <allocmiss> <freehit> <freemiss>
size-64             7391   7552     64   59    1 : tunables  120   60    8 : slabdata    128    128     12 : globalstat   12000   7600   130     2    0    1    0    0    0 : cpustat  90000   3000  88000   2500
"""  # noqa: E501


def test_slab_nonzero_tunables() -> None:
    s = parse_slabinfo(SLAB_21)
    assert s.allocator == "SLAB"
    ext4 = s.caches[0]
    assert (ext4.limit, ext4.batchcount, ext4.sharedfactor) == (54, 27, 8)
    assert s.caches[1].sharedavail == 12
    assert s.bytes_by_cache()["size-64"] == 7391 * 64


def test_slab_20_tunable_order_follows_header() -> None:
    c = parse_slabinfo(SLAB_20).caches[0]
    assert (c.limit, c.batchcount) == (120, 60)


def test_slab_statistics_sections_are_skipped() -> None:
    c = parse_slabinfo(SLAB_STATS).caches[0]
    assert (c.limit, c.active_slabs, c.num_slabs) == (120, 128, 128)


def test_name_glued_to_numbers_and_duplicates_summed() -> None:
    text = (
        "slabinfo - version: 2.1\n"
        "a_very_long_cache_name_abcdef12345 1 2 3 4 5 : tunables 0 0 0 : slabdata 1 1 0\n"
        "dup 10 10 8 1 1 : tunables 0 0 0 : slabdata 1 1 0\n"
        "dup 5 5 8 1 1 : tunables 0 0 0 : slabdata 1 1 0\n"
    )
    s = parse_slabinfo(text)
    assert s.caches[0].name == "a_very_long_cache_name_abcdef12345"
    assert s.bytes_by_cache()["dup"] == 15 * 8


def test_slub_fast_path_builds_the_same_cache() -> None:
    """A kernel-shaped SLUB line skips SlabCache.__init__; the cache must not differ from one built by it."""
    line = "kmalloc-64 2480 2560 64 64 1 : tunables 0 0 0 : slabdata 40 40 0"
    tabbed = line.replace(" ", "\t", 1)  # not the kernel's spacing: the per-line path, via __init__
    fast = parse_slabinfo(f"slabinfo - version: 2.1\n{line}\n").caches[0]
    slow = parse_slabinfo(f"slabinfo - version: 2.1\n{tabbed}\n").caches[0]
    built = SlabCache("kmalloc-64", 2480, 2560, 64, 64, 1, 0, 0, 0, 40, 40, 0)
    assert fast == slow == built
    assert list(vars(fast).items()) == list(vars(built).items())
    assert list(vars(fast)) == [f.name for f in fields(SlabCache)]


def test_empty_cache_list() -> None:
    assert parse_slabinfo("slabinfo - version: 2.1\n# name\n").allocator is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("slabinfo - version: 1.1\n", "unsupported"),
        ("name 1 2 3 4 5\n", "header"),
        ("slabinfo - version: 2.1\nfoo 1 2 3 4 5 : tunables 0 0 0\n", "no slabdata"),
        ("slabinfo - version: 2.1\nfoo 1 2 3 : slabdata 1 1 0\n", "too few"),
        ("slabinfo - version: 2.1\nfoo 1 2 x 4 5 : tunables 0 0 0 : slabdata 1 1 0\n", "bad number"),
        ("slabinfo - version: 2.1\nfoo 1 2 3 4 5 : tunables 0 0 : slabdata 1 1 0\n", "bad tunables"),
        ("slabinfo - version: 2.1\nfoo 1 2 3 4 5 : tunables 0 0 0 : slabdata 1 1", "bad slabdata"),
    ],
)
def test_bad_input(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_slabinfo(text)
