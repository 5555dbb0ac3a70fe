"""The capture script: POSIX sh fed to ``sh -s`` on the device (BusyBox ash compatible), printing
/proc behind per-capture token headers. The format and why it is so: docs/capture-format.md."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence

from fleet.inventory.model import DEFAULT_FIRMWARE_FILES, check_firmware_path

FORMAT_VERSION = 6
READABLE_VERSIONS = ("1", "2", "3", "4", "5", "6")  # the splitter reads every format fleet ever wrote
TOKEN_PATTERN = "@@fleet-[0-9a-f]{16}"  # a capture token, as new_token makes them

DEVICE_FILES = (
    "/proc/sys/kernel/random/boot_id",
    "/proc/sys/kernel/osrelease",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/meminfo",
    "/proc/slabinfo",
    "/proc/version",  # since format 6: the kernel's build (compiler, date), part of the firmware identity
)
SLABINFO = "/proc/slabinfo"
# Device files a format reads from that version on: older captures never had them, so they are not
# "unreadable" there.
DEVICE_FILES_SINCE = {"/proc/version": 6}

_SCRIPT = """\
N='{token}'
K='{skip}'
S='{slabinfo}'
[ -z "$K" ] || K="$K $$"
LC_ALL=C; export LC_ALL
H="$N v {version}
"
[ -z "$K" ] || H="$H$N m$K
"
[ -n "$S" ] || H="$H$N o /proc/slabinfo
"
W=
for w in {firmware_files}; do [ -f "$w" ] && {{ W=$w; break; }}; done
[ -z "$W" ] || H="$H$N w $W
"
printf '%s' "$H"
cd /proc || exit 1
X=; [ -e 1/exe ] || X=1
A=; T=; M=; D=; n=0
for p in [0-9]*; do
  if [ -e $p/exe ] || {{ [ -n "$X" ] && [ -d $p ]; }}; then
    m=" $p/maps"; c=" $p/cmdline"; t=" $p/task/[0-9]*/comm"
    case "$K " in *" $p "*) m=; c=; t= ;; esac
    A="$A $p/stat $p/statm$c"
    M="$M$m"
    T="$T$t"
    set -- $p/fd/*
    [ -e "$1" ] && D="$D$N d $p $#
"
  else
    n=$((n+1))
  fi
done
F="{device_files} $S"
printf '%s' "$D$N k $n
$N a
"
grep -zH '' $F ${{W:+"$W"}} $A $T $M </dev/null 2>/dev/null
s=$?
if [ $s = 2 ] && {{ grep -z '' </dev/null 2>/dev/null; [ $? = 2 ]; }}; then
  printf '%s g\\n' "$N"
  grep -H '' $F ${{W:+"$W"}} $A $T $M </dev/null 2>/dev/null
  s=$?
fi
[ $s -le 2 ] || {{
f() {{ printf '%s f %s\\n' "$N" "$1"; cat "$1" 2>/dev/null || printf '%s ! %s\\n' "$N" "$1"; }}
{device_f}
[ -z "$W" ] || f "$W"
for p in /proc/[0-9]*; do
  [ -e $p/exe ] || {{ [ -n "$X" ] && [ -d $p ]; }} || continue
  printf '%s p %s\\n' "$N" "${{p#/proc/}}"
  f $p/stat; f $p/statm
  case "$K " in *" ${{p#/proc/}} "*) k=1 ;; *) k= ; f $p/maps ;; esac
  [ -n "$k" ] || f $p/cmdline
  [ -n "$k" ] || for t in $p/task/[0-9]*; do
    {{ IFS= read -r c < $t/comm && printf '%s t %s %s\\n' "$N" "${{t##*/}}" "$c"; }} 2>/dev/null
  done
done
}}
printf '%s end\\n' "$N"
"""


def new_token() -> str:
    """A fresh section token; 64 random bits make forging a header hopeless."""
    return "@@fleet-" + secrets.token_hex(8)


def capture_script(
    token: str,
    skip: Iterable[int] = (),
    *,
    slabinfo: bool = True,
    firmware_files: Sequence[str] = DEFAULT_FIRMWARE_FILES,
) -> str:
    """The sh script (for ``sh -s`` on stdin) that prints one capture delimited by ``token``.

    ``skip``: pids whose maps, cmdline and thread names are not read (the caller has them from
    the previous sample): maps and thread names are most of a capture's bytes and of the kernel's
    work for them on a device of multi-threaded processes. ``slabinfo=False`` leaves
    /proc/slabinfo out (a third of a light capture's device CPU and half its bytes; slab caches
    grow slowly, so a sample in N is enough): the capture says so with an ``o`` header.
    ``firmware_files``: the inventory's candidates for the firmware identity; the first that exists
    is named in a ``w`` header and read with the rest (no extra process).
    """
    if not re.fullmatch(TOKEN_PATTERN, token):
        raise ValueError(f"bad capture token {token!r}")
    for path in firmware_files:
        check_firmware_path(path)  # the inventory refused these already; never into a script
    return _SCRIPT.format(
        token=token,
        skip="".join(f" {int(pid)}" for pid in sorted(set(skip))),
        version=FORMAT_VERSION,
        firmware_files=" ".join(_sh_quote(p) for p in firmware_files),
        slabinfo="slabinfo" if slabinfo else "",
        device_files=" ".join(p.removeprefix("/proc/") for p in DEVICE_FILES if p != SLABINFO),
        device_f="\n".join(
            f"f {path}" if path != SLABINFO else f'[ -z "$S" ] || f {path}' for path in DEVICE_FILES
        ),
    )


def _sh_quote(word: str) -> str:
    """``word`` as one shell word, whatever it holds (a newline and NUL are refused before)."""
    return "'" + word.replace("'", "'\\''") + "'"


def end_marker(token: str) -> bytes:
    """The last line of a whole capture: where a kept shell's output for one capture ends."""
    return f"{token} end\n".encode()
