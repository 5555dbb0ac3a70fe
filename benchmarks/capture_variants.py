"""Capture scripts compared by bench_collect.py and bench_capture.py (not used by fleet itself).

``naive``: fleet's first capture script (format 1, commit bfcf32b), frozen here as the baseline
issue 9 measures against: one ``cat`` per file per pid. ``naive-same``: the same without
smaps_rollup and with statm in place of status, i.e. the files fleet's format 5 reads (it stopped
reading smaps_rollup in format 3, status in format 5), so the ratio against it compares the same
work. ``noop``: does nothing, so a session running
it costs the device only the SSH handshake, the channel and one ``sh``; subtracting it from a run
gives the device CPU of the capture itself. ``no-maps`` and ``no-slabinfo``: fleet's script without
every process's maps, or without /proc/slabinfo: what an adaptive capture that skips them (when a
process's VmSize and threads did not change, or between slab checks) could save at most.
"""

from __future__ import annotations

from fleet.capture.script import capture_script

NAIVE = """\
N='{token}'
echo "$N v 1"
f() {{ echo "$N f $1"; cat "$1" 2>/dev/null || echo "$N ! $1"; }}
f /proc/sys/kernel/random/boot_id
f /proc/sys/kernel/osrelease
f /proc/uptime
f /proc/loadavg
f /proc/meminfo
f /proc/slabinfo
for p in /proc/[0-9]*; do
  [ -d "$p" ] || continue
  echo "$N p ${{p#/proc/}}"
  f $p/stat; f $p/status; f $p/maps
  [ -e $p/smaps_rollup ] && f $p/smaps_rollup
  f $p/cmdline
  for t in $p/task/[0-9]*; do
    IFS= read -r c < $t/comm 2>/dev/null && echo "$N t ${{t##*/}} $c"
  done
  set -- $p/fd/*
  [ -e "$1" ] && echo "$N d ${{p#/proc/}} $#"
done
echo "$N end"
"""

NOOP = "exit 0\n"


def _without(script: str, old: str, new: str) -> str:
    """``script`` with ``old`` replaced once; fails loudly when the script no longer has it (a
    variant that silently equals the full script would report a saving of nothing as measured)."""
    if old not in script:
        raise ValueError(f"the capture script no longer contains {old!r}: update this variant")
    return script.replace(old, new, 1)


def script(variant: str, token: str) -> str:
    """The capture script of ``variant`` ("fleet", "naive" or "noop") for ``token``."""
    if variant == "fleet":
        return capture_script(token)
    if variant == "no-maps":  # every pid's maps skipped (its cmdline still read)
        return _without(capture_script(token), 'm=" $p/maps";', "m=;")
    if variant == "no-slabinfo":
        return capture_script(token, slabinfo=False)
    if variant == "naive":
        return NAIVE.format(token=token)
    if variant == "naive-same":
        naive = _without(NAIVE.format(token=token), "  [ -e $p/smaps_rollup ] && f $p/smaps_rollup\n", "")
        return _without(naive, "f $p/status;", "f $p/statm;")
    if variant == "noop":
        return NOOP
    raise ValueError(f"unknown capture variant {variant!r}")


VARIANTS = ("fleet", "naive", "naive-same", "noop", "no-maps", "no-slabinfo")
