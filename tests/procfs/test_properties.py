"""Property tests: whatever text arrives, a parser returns a record or raises ParseError, nothing else.

Two kinds of input per parser: random text over an alphabet that looks like /proc, and real corpus
files mutated (cut, spliced, characters replaced, lines duplicated). ``max_examples`` keeps the
default run to a few seconds; raise it with ``--hypothesis-seed``/profiles when hunting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.procfs import (
    ParseError,
    classify_maps,
    parse_loadavg,
    parse_maps,
    parse_meminfo,
    parse_slabinfo,
    parse_smaps,
    parse_smaps_rollup,
    parse_stat,
    parse_statm,
    parse_status,
    parse_uptime,
    slab_bytes,
)
from fleet.view.maps import maps_diff_report, maps_report

from ._corpus import AOSP, ARM, GOPI, PCP, PROM, T0, corpus


def _maps_and_classify(text: str) -> object:
    return classify_maps(parse_maps(text))


PARSERS: dict[str, tuple[Callable[[str], Any], list[str]]] = {
    "meminfo": (parse_meminfo, [f"{PROM}/meminfo", f"{GOPI}/meminfo_1", f"{T0}/meminfo"]),
    "slabinfo": (parse_slabinfo, [f"{PCP}/meminfo-root-002/proc/slabinfo", f"{T0}/slabinfo"]),
    "loadavg": (parse_loadavg, [f"{PROM}/loadavg", f"{T0}/loadavg"]),
    "uptime": (parse_uptime, [f"{GOPI}/uptime", f"{T0}/uptime"]),
    "stat": (parse_stat, [f"{PROM}/584/stat", f"{T0}/27807/stat", f"{GOPI}/3323/stat"]),
    "statm": (parse_statm, [f"{T0}/29099/statm", f"{T0}/2/statm", f"{GOPI}/3323/statm"]),
    "status": (parse_status, [f"{T0}/29099/status", f"{PCP}/procpid-2.6.32-root-001/proc/2230/status"]),
    "maps": (
        _maps_and_classify,
        [f"{T0}/29099/maps", f"{ARM}/maps", f"{PROM}/26234/maps", f"{GOPI}/3323/maps"],
    ),
    "smaps": (parse_smaps, [f"{T0}/27809/smaps", f"{AOSP}/libmeminfo/testdata1/smaps_short"]),
    "smaps_rollup": (parse_smaps_rollup, [f"{T0}/29099/smaps_rollup", f"{PROM}/26231/smaps_rollup"]),
    "maps_report": (maps_report, [f"{T0}/29108/maps"]),
}

# Characters /proc files are made of, plus a few that should never be there.
ALPHABET = st.sampled_from(
    [*"0123456789abcdefABCDEF-:() \t\n.kBrwxps/[]_", "\0", "\r", "é", "…", "٣", "²", "\x85", "\xa0", "\x1c"]
)
PROC_TEXT = st.text(alphabet=ALPHABET, max_size=300)


def _mutate(data: st.DataObject, text: str) -> str:
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["cut", "delete", "insert", "replace", "dupline", "truncate"]))
        if not text:
            text = data.draw(PROC_TEXT)
            continue
        i = data.draw(st.integers(0, len(text) - 1))
        if op == "cut":
            text = text[:i]
        elif op == "delete":
            text = text[:i] + text[i + data.draw(st.integers(1, 40)) :]
        elif op == "insert":
            text = text[:i] + data.draw(PROC_TEXT) + text[i:]
        elif op == "replace":
            text = text[:i] + data.draw(ALPHABET) + text[i + 1 :]
        elif op == "dupline":
            lines = text.split("\n")
            j = data.draw(st.integers(0, len(lines) - 1))
            lines.insert(j, lines[j])
            text = "\n".join(lines)
        else:
            text = text[: len(text) - data.draw(st.integers(0, min(len(text), 50)))]
    return text


def _only_parse_error(parse: Callable[[str], Any], text: str) -> None:
    try:
        parse(text)
    except ParseError as exc:
        assert str(exc).startswith(exc.kind)
        assert len(str(exc)) < 300  # short enough for a problem list


@pytest.mark.parametrize("kind", sorted(PARSERS))
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=PROC_TEXT)
def test_random_text(kind: str, text: str) -> None:
    _only_parse_error(PARSERS[kind][0], text)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_files(kind: str, data: st.DataObject) -> None:
    parse, files = PARSERS[kind]
    text = corpus(data.draw(st.sampled_from(files)))
    _only_parse_error(parse, _mutate(data, text))


def _slab_bytes_matches_the_full_parse(text: str) -> None:
    def outcome(fn: Callable[[str], Any]) -> object:
        try:
            return fn(text)
        except ParseError as exc:
            return str(exc)

    assert outcome(slab_bytes) == outcome(lambda t: dict(parse_slabinfo(t).bytes_by_cache()))


_NUM = st.one_of(st.integers(0, 10**6), st.integers(-5, 10**21)).map(str)
SLAB_LINES = st.one_of(
    st.builds(
        "{} {} {} {} 8 1 : tunables {} 0 0 : slabdata 1 1 0".format,
        st.sampled_from(["kmalloc-64", "dentry", "dentry", "a b", "#x", "x\r", "ext4_inode_cache"]),
        _NUM,
        _NUM,
        _NUM,
        st.sampled_from(["0", "0", "54"]),
    ),
    st.sampled_from(["# name <active_objs> <num_objs>", "", "  ", "\r", " # indented"]),
    PROC_TEXT.map(lambda t: t.replace("\n", " ")),
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([f"slabinfo - version: {v}" for v in ("2.1", "2.0", "1.1")] + ["", "x"]),
    st.lists(SLAB_LINES, max_size=12),
)
def test_slab_bytes_is_the_full_parse_faster(header: str, lines: list[str]) -> None:
    """The extractor's shortcut gives exactly what parse_slabinfo(...).bytes_by_cache() gives, or
    the same error, on slabinfo-shaped text of every kind (SLUB, SLAB, junk, bad headers)."""
    _slab_bytes_matches_the_full_parse("\n".join([header, *lines]) + "\n")


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_slab_bytes_on_mutated_real_files(data: st.DataObject) -> None:
    text = corpus(data.draw(st.sampled_from(PARSERS["slabinfo"][1])))
    _slab_bytes_matches_the_full_parse(text)
    _slab_bytes_matches_the_full_parse(_mutate(data, text))


def test_slab_bytes_reads_a_real_slub_file_without_the_full_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleet.procfs import slabinfo

    text = corpus(f"{T0}/slabinfo")
    want = dict(parse_slabinfo(text).bytes_by_cache())
    monkeypatch.setattr(slabinfo, "parse_slabinfo", None)  # the shortcut must not need it
    assert slab_bytes(text) == want and len(want) > 100


def _outcome(parse: Callable[[str], Any], text: str) -> object:
    try:
        return parse(text)
    except ParseError as exc:
        return str(exc)


@pytest.mark.parametrize("kind", ["meminfo", "status", "maps"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_whole_text_shortcuts_give_what_the_line_by_line_path_gives(kind: str, data: st.DataObject) -> None:
    """meminfo, status and maps read the usual line shape with one regex over the whole text; any
    other line goes through the per-line path. With CRLF line ends no line has the usual shape, so
    the per-line path reads them all: the result (or the error) must be the same."""
    parse, files = PARSERS[kind]
    text = corpus(data.draw(st.sampled_from(files)))
    if data.draw(st.booleans()):
        text = _mutate(data, text)
    assert _outcome(parse, text) == _outcome(parse, text.replace("\r\n", "\n").replace("\n", "\r\n"))


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_meminfo, "\x85MemTotal: 1 kB\nMem\xa0Free: 2 kB\n\x1cCached:\t3 kB\n"),
        (parse_status, "\x85Name:\tx\nVm\xa0RSS:\t2 kB\nThreads:\t1\x85\n"),
        (parse_maps, "1000-2000 rw-p 00000000 00:00 0 \x85[heap]\x85\n"),
    ],
)
def test_unicode_spaces_read_the_same_by_both_paths(parse: Callable[[str], Any], text: str) -> None:
    """str.strip() removes Unicode spaces (NEL, NBSP, \\x1c): a regex shortcut must agree with it."""
    assert _outcome(parse, text) == _outcome(parse, text.replace("\n", "\r\n"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_maps_parse_is_line_by_line(data: st.DataObject) -> None:
    """parse_maps reads a whole dump with one findall; the result must be what parsing each line
    alone gives (same mappings, same line numbers, the first bad line's error)."""
    text = corpus(data.draw(st.sampled_from(PARSERS["maps"][1])))
    if data.draw(st.booleans()):
        text = _mutate(data, text)
    vmas: list[object] = []
    elided = digits = 0
    want: object = None
    for number, line in enumerate(text.split("\n"), start=1):
        try:
            one = parse_maps(line)
        except ParseError as exc:
            want = str(ParseError(exc.kind, exc.reason, number))
            break
        vmas += [v._replace(line=number) for v in one.vmas]
        elided += one.elided
        digits = max(digits, one.max_digits)
    else:
        want = (tuple(vmas), elided, digits)
    got = _outcome(parse_maps, text)
    assert (got if isinstance(got, str) else (got.vmas, got.elided, got.max_digits)) == want


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(st.one_of(_NUM, st.sampled_from(["+1", "-0", "1_0", "٣", "0x1", "", "1.5"])), min_size=19)
)
def test_stat_fields_checked_at_once_as_one_by_one(fields: list[str]) -> None:
    """parse_stat checks all numeric fields with one regex; a field to_int refuses still fails."""
    from fleet.procfs._common import to_int

    words = [f for f in fields if f]  # split() never yields empty words
    line = "1 (x) S " + " ".join(words) + "\n"
    try:
        want: object = tuple(to_int("stat", w, 1, "field") for w in words)
    except ParseError:
        want = ParseError
    got: object
    try:
        got = parse_stat(line).fields
    except ParseError:
        got = ParseError
    if len(words) >= 19:
        assert got == want


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_maps_diff_of_mutations(data: st.DataObject) -> None:
    text = corpus(f"{T0}/29099/maps")
    try:
        report = maps_diff_report(text, _mutate(data, text))
    except ParseError:
        return
    for side in ("added", "removed"):
        assert all(v["count"] >= 0 and v["bytes"] >= 0 for v in report[side].values())


@settings(max_examples=300, deadline=None)
@given(
    comm=st.text(max_size=20).filter(lambda s: "\0" not in s),
    nums=st.lists(st.integers(-(2**63), 2**64), min_size=20, max_size=50),
)
def test_stat_any_comm_roundtrips(comm: str, nums: list[int]) -> None:
    """The kernel prints comm raw; splitting at the last ')' must recover it exactly."""
    line = f"42 ({comm}) S " + " ".join(map(str, nums)) + "\n"
    s = parse_stat(line)
    assert (s.pid, s.comm, s.state) == (42, comm, "S")
    assert s.starttime == nums[18]


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_status, "Name:\tx\nVmRSS:\t{n} kB\n"),
        (
            parse_slabinfo,
            "slabinfo - version: 2.1\nkmalloc-64 {n} 10 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n",
        ),
        (
            parse_slabinfo,
            "slabinfo - version: 2.1\nkmalloc-64 1 10 64 64 1 : tunables 5 0 0 : slabdata 1 1 {n}\n",
        ),
        (parse_stat, "1 (x) S {n} 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n"),
        (parse_meminfo, "MemTotal: {n} kB\n"),
        (parse_smaps_rollup, "00400000-ff600000 ---p 00000000 00:00 0 [rollup]\nRss: {n} kB\n"),
        (parse_loadavg, "0.1 0.2 0.3 1/{n} 12\n"),
    ],
)
def test_a_number_too_long_for_int_is_a_parse_error(parse: Callable[[str], object], text: str) -> None:
    """int() raises ValueError, not ParseError, from 4,300 digits on: a hostile device's 5,000-digit
    counter must cost that file (a ParseError), never the whole sample as a 'parser bug'."""
    with pytest.raises(ParseError):
        parse(text.format(n="9" * 5000))
    parse(text.format(n="9" * 20))  # the longest a 64-bit counter prints still parses


def test_stack_annotations_with_forged_tids_are_not_stacks_of_that_tid() -> None:
    for path in (
        "[stack:" + "9" * 5000 + "]",
        "[stack:\u0661\u0662]",
        "[anon:stack_and_tls:" + "9" * 5000 + "]",
    ):
        assert classify_maps(parse_maps(f"1000-2000 rw-p 00000000 00:00 0 {path}\n")).stack_tids == ()
    assert classify_maps(parse_maps("1000-2000 rw-p 00000000 00:00 0 [stack:123]\n")).stack_tids == (123,)


def test_records_built_without_init_have_exactly_their_fields() -> None:
    """Status, SmapsRollup and SlabCache are built from a dict for speed (``_common.build``): every
    field present, nothing extra, equal to the record the dataclass' own __init__ makes."""
    import dataclasses

    status = parse_status("Name:\tx\nPid:\t7\nThreads:\t2\nVmRSS:\t  12 kB\nVmSize:\t 100 kB\n")
    rollup = parse_smaps_rollup(
        "00400000-ff600000 ---p 00000000 00:00 0    [rollup]\nRss:  8 kB\nPss:  4 kB\n"
    )
    slab = parse_slabinfo(
        "slabinfo - version: 2.1\nkmalloc-64 10 20 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n"
    ).caches[0]
    for record in (status, rollup, slab):
        names = {f.name for f in dataclasses.fields(record)}  # type: ignore[arg-type]
        assert set(vars(record)) == names
        assert record == type(record)(**vars(record))
    assert (status.pid, status.threads, status.vm_rss, rollup.pss, slab.bytes) == (7, 2, 12 * 1024, 4096, 640)
