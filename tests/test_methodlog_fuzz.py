"""Fuzzing the method-log splitter and its metrics (issue 8, item 7).

Inputs: random text over a /proc-like alphabet and real logs (meminfo + maps + slabinfo rounds)
mutated. Whatever the text, split_method_log returns rounds and a count of skipped lines, loses
no line and invents none, and metrics_from_block returns metrics (problems listed), never an
exception. Each test states its number of inputs (``max_examples``): 1,100 in all, a few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.capture.methodlog import MethodBlock, render_block, split_method_log
from fleet.metrics.from_methodlog import metrics_from_block
from fleet.metrics.model import DeviceMetrics

CORPUS = Path(__file__).parent / "data" / "proc"
SEED_MAPS = (Path(__file__).parent / "data" / "seed_maps.txt").read_text()
MEMINFO = (CORPUS / "goprocinfo/linux/proc/meminfo_1").read_text()
SLABINFO = (CORPUS / "prometheus-procfs/fixtures/proc/slabinfo").read_text()
ROUND = MEMINFO + SEED_MAPS + SLABINFO
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ALPHABET = st.sampled_from(
    [*"0123456789abcdefABCDEF-:() \t\n.kBrwxps/[]_#<>", "\0", "\r", "\x0b", "\u2028", "é", "\ufffd"]
)
PIECES = st.sampled_from(
    [
        "MemTotal:    1024 kB\n",
        "MemFree: 99999999999999999999999 kB\n",
        "slabinfo - version: 2.1\n",
        "slabinfo - version: 9.9\n",
        "00400000-00401000 r-xp 00000000 00:00 0 /bin/x\n",
        "ffffffffffffffff-0 rwxp 0 0 0\n",
        "00000000-00000000 ---p \n",
        "...\n",
        "\n",
    ]
)


def check(text: str) -> list[MethodBlock]:
    blocks, skipped = split_method_log(text)
    assert isinstance(skipped, int) and skipped >= 0
    kept = [line for b in blocks for part in (b.meminfo, b.maps, b.slabinfo) for line in part.splitlines()]
    source = text.splitlines()
    # nothing invented: every kept line is an input line; nothing lost: every non-blank line is
    # kept in a round or counted as skipped
    assert set(kept) <= set(source)
    assert len(kept) + skipped >= sum(1 for line in source if line.strip())
    assert len(kept) + skipped <= len(source)
    lines = [b.first_line for b in blocks]
    assert lines == sorted(lines) and all(1 <= n <= max(1, len(source)) for n in lines)
    for b in blocks:
        assert not b.empty()
        m = metrics_from_block(b, pid=7)
        assert isinstance(m, DeviceMetrics) and all(isinstance(p, str) for p in m.problems)
        assert len(m.processes) <= 1
        assert render_block(b).decode() == b.meminfo + b.maps + b.slabinfo
    return blocks


@settings(FUZZ, max_examples=500)
@given(st.lists(st.one_of(st.text(ALPHABET, max_size=80), PIECES), max_size=40).map("".join))
def test_random_logs_give_rounds_and_metrics(text: str) -> None:
    """500 random logs (random text mixed with meminfo, maps and slabinfo lines, good and bad):
    rounds come back with every line accounted for, and metrics_from_block never raises."""
    check(text)


@st.composite
def mutated_log(draw: st.DrawFn) -> str:
    """1-6 real rounds, then 1-8 edits: lines cut, duplicated, swapped in from another round,
    characters replaced, the log truncated mid-line, junk lines (a date, a prompt) inserted."""
    lines = (ROUND * draw(st.integers(1, 6))).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(lines)))
        op = draw(st.sampled_from(["cut", "dup", "chars", "truncate", "junk", "swap"]))
        if op == "cut":
            del lines[at : at + draw(st.integers(1, 50))]
        elif op == "dup" and at < len(lines):
            lines[at:at] = lines[at : at + draw(st.integers(1, 20))]
        elif op == "chars" and at < len(lines):
            line = lines[at]
            i = draw(st.integers(0, len(line)))
            lines[at] = line[:i] + draw(st.text(ALPHABET, max_size=5)) + line[i + 1 :]
        elif op == "truncate" and at < len(lines):
            lines[at:] = [lines[at][: draw(st.integers(0, len(lines[at])))]]
        elif op == "junk":
            lines.insert(at, draw(st.one_of(PIECES, st.sampled_from(["Tue Nov 3 04:00 UTC\n", "# \n"]))))
        elif op == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            i = min(at, len(lines) - 1)
            lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


@settings(FUZZ, max_examples=500)
@given(mutated_log())
def test_mutated_real_logs_give_rounds_and_metrics(text: str) -> None:
    """500 real method logs (1-6 rounds of meminfo + maps + slabinfo) edited 1-8 times each:
    every line is accounted for, every round's metrics come back, problems listed."""
    check(text)


@settings(FUZZ, max_examples=100)
@given(st.integers(1, 6))
def test_unmutated_rounds_are_all_found(n: int) -> None:
    """100 runs over 1-6 untouched rounds: exactly n rounds, each with memory, maps and slabs."""
    blocks = check(ROUND * n)
    assert len(blocks) == n
    for b in blocks:
        m = metrics_from_block(b)
        assert m.mem_total and m.slab and m.processes and not m.problems


@pytest.mark.parametrize(
    "line",
    ["a" * 4_000_000, "MemTotal:" + " " * 4_000_000 + "x", "0" * 4_000_000 + "-"],
    ids=["letters", "meminfo", "maps"],
)
def test_one_huge_line_is_linear(line: str) -> None:
    """A 4 MB line (a log that lost its newlines) is skipped in linear time."""
    started = time.monotonic()
    blocks, skipped = split_method_log(line + "\n" + ROUND)
    assert time.monotonic() - started < 10  # well under a second measured
    assert skipped >= 1 and blocks[-1].meminfo == MEMINFO and blocks[-1].slabinfo == SLABINFO
