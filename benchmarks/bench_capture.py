"""Device-side cost of one capture, with and without the maps of steady processes (issue 9).

    python3 benchmarks/bench_capture.py [--rounds 100] [--json results/capture.json]

Two emulated devices, each a pid namespace that lives for the whole run: "light" (a shell and 6
BusyBox sleepers, like a light lab device) and "heavy" (30 Python processes of 9 threads each:
~100 mappings per process, about a camera's daemons); and "host", this machine's own /proc (no
namespace entered, a quarter of the rounds): the only row with kernel threads, which a real device has
(50-150) and a pid namespace hides, and for which the naive loop forks a ``cat`` per file too.
"host-root" is the same as a device's root shell would run it (here root may not read pid 1's exe
link, so the real script reads every pid: see as_root_on_a_device), with format 3's capture beside
it: what counting kernel threads instead of reading their stat saves.
With ``--parts``, the light and heavy devices also run the full script without each of its parts
(slabinfo, maps, thread names, statm, fd counts, every file: grep not run at all): what the part
costs the device.
Every round enters the namespace and runs fleet's capture script through BusyBox ``sh -s``, as the
first sample (every maps read) and as a ``--maps-every`` sample that skips slabinfo and the maps,
cmdline and thread names of every process already known (the best case: all steady), beside the
naive script (a ``cat`` per file per pid) and an empty one; what a script costs beyond the empty one
is its capture cost, the figure issue 9 compares. Measured: CPU of everything the round forks
(``RUSAGE_CHILDREN``: nsenter, the shell, grep), and bytes printed, mean of ``--rounds`` (the kernel
accounts CPU in ticks, so a single round of a few ms is too coarse to take the best of); and the
collector's parse of each capture (split + metrics, best of 20): a first sample, a repeat whose maps
are unchanged (digest reuse), and a repeat with the steady maps skipped. Needs root, unshare and
nsenter.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fleet.capture.script import DEVICE_FILES, SLABINFO, capture_script, new_token
from fleet.capture.split import split_capture
from fleet.inventory.model import DEFAULT_FIRMWARE_FILES
from fleet.metrics.from_capture import metrics_from_capture

sys.path.insert(0, str(Path(__file__).parent))
import capture_variants

HEAVY = (
    "import threading, time\n"
    "for _ in range(8): threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
    "time.sleep(3600)\n"
)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def start_device(busybox: str, heavy: bool) -> subprocess.Popen[bytes]:
    """A pid namespace whose init starts the workload and waits; killed by the caller."""
    if heavy:
        work = "".join(f"{sys.executable} -c '{HEAVY}' &\n" for _ in range(30))
    else:
        work = "".join(f"{busybox} sleep 3600 &\n" for _ in range(6))
    cmd = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", busybox, "sh", "-c", work + "wait"]
    return subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def namespace_init(device: subprocess.Popen[bytes]) -> int:
    """The host pid of the namespace's init (the child of unshare --fork)."""
    for _ in range(100):
        children = Path(f"/proc/{device.pid}/task/{device.pid}/children")
        kids = children.read_text().split() if children.exists() else []
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise SystemExit("the emulated device did not start")


def run(init: int | None, busybox: str, script: str) -> tuple[float, bytes]:
    """One script in the device's namespaces (``init``), or in this process's own (None)."""
    enter = ["nsenter", "-t", str(init), "-p", "-m"] if init is not None else []
    cmd = [*enter, busybox, "sh", "-s"]
    before = _children_cpu()
    out = subprocess.run(cmd, input=script.encode(), capture_output=True)
    return _children_cpu() - before, out.stdout


EXE_TEST = "X=; [ -e 1/exe ] || X=1"


def as_root_on_a_device(script: str) -> str:
    """The script as a device's root shell runs it: every exe link readable, so pids without one
    (kernel threads) are counted, not read. This machine's pid 1 hides its exe link even from root
    (so the real script reads every pid here); benchmark-only, pid 1 is then counted too."""
    assert EXE_TEST in script
    return script.replace(EXE_TEST, "X=")


USER_FILES = 'A="$A $p/stat $p/statm$c"'


def as_format_4(script: str) -> str:
    """The same with format 4's file list: status read instead of statm."""
    assert USER_FILES in script
    return script.replace(USER_FILES, 'A="$A $p/stat $p/status$c"')


def as_format_3(script: str) -> str:
    """The same with format 3's file list: status, and every pid's stat read, kernel threads' too."""
    device_files = 'F="' + " ".join(p.removeprefix("/proc/") for p in DEVICE_FILES if p != SLABINFO)
    assert USER_FILES in script and device_files in script
    format_3 = script.replace(USER_FILES, 'A="$A $p/status$c"')
    return format_3.replace(device_files, device_files + " [0-9]*/stat")


def measure(init: int | None, busybox: str, rounds: int, root: bool = False) -> dict[str, Any]:
    """Mean CPU and bytes of a full capture, one skipping every process it saw in maps, the naive
    capture and an empty script; ``root``: as a device's root shell (:func:`as_root_on_a_device`),
    and format 3's full capture beside."""

    def fleet(token: str, skip: list[int] | None = None, slabinfo: bool = True, firmware: bool = True) -> str:
        files = DEFAULT_FIRMWARE_FILES if firmware else ()
        script = capture_script(token, skip or (), slabinfo=slabinfo, firmware_files=files)
        return as_root_on_a_device(script) if root else script

    token = new_token()
    _, raw = run(init, busybox, fleet(token))
    known = [pid for pid, pc in split_capture(raw, token).processes.items() if pc.files.get("maps")]
    cases: dict[str, Callable[[str], str]] = {
        "full": fleet,
        "full_without_firmware": lambda t: fleet(t, firmware=False),  # format 6 minus the firmware file
        "steady_skipped": lambda t: fleet(t, known, slabinfo=False),  # as --maps-every
        "naive": lambda t: capture_variants.script("naive", t),
        "naive_same": lambda t: capture_variants.script("naive-same", t),
        "empty": lambda t: capture_variants.script("noop", t),
        "format_4": lambda t: as_format_4(fleet(t)),  # status instead of statm
        "format_4_skipped": lambda t: as_format_4(fleet(t, known, slabinfo=False)),
    }
    if root:
        cases["format_3"] = lambda t: as_format_3(fleet(t))
    totals = dict.fromkeys(cases, 0.0)
    sizes = dict.fromkeys(cases, 0)
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits all alike
        for label, script in cases.items():
            cpu, out = run(init, busybox, script(new_token()))
            totals[label] += cpu
            sizes[label] = len(out)
    res: dict[str, Any] = {"processes": len(known)}
    for label in cases:
        res[label] = {"device_cpu_ms": totals[label] / rounds * 1000, "bytes": sizes[label]}
    empty = res["empty"]["device_cpu_ms"]
    for label in (
        *("full", "full_without_firmware", "steady_skipped", "naive", "naive_same"),
        *("format_4", "format_4_skipped"),
    ):
        res[label]["capture_ms"] = res[label]["device_cpu_ms"] - empty
    res["full_vs_naive"] = res["full"]["capture_ms"] / res["naive"]["capture_ms"]
    res["full_vs_naive_same"] = res["full"]["capture_ms"] / res["naive_same"]["capture_ms"]
    if root:
        res["format_3"]["capture_ms"] = res["format_3"]["device_cpu_ms"] - empty
    first = metrics_from_capture(split_capture(raw, token))
    skip_token = new_token()
    _, skipped = run(init, busybox, fleet(skip_token, known, slabinfo=False))
    res["parse_ms"] = {
        "first": _best_ms(lambda: metrics_from_capture(split_capture(raw, token))),
        "repeat": _best_ms(lambda: metrics_from_capture(split_capture(raw, token), first)),
        "repeat_steady_skipped": _best_ms(
            lambda: metrics_from_capture(split_capture(skipped, skip_token), first)
        ),
    }
    # The same three parses of format 4 captures (status instead of statm), taken now
    token4, skip4 = new_token(), new_token()
    raw4 = run(init, busybox, as_format_4(fleet(token4)))[1]
    skipped4 = run(init, busybox, as_format_4(fleet(skip4, known, slabinfo=False)))[1]
    first4 = metrics_from_capture(split_capture(raw4, token4))
    res["parse_ms_format_4"] = {
        "first": _best_ms(lambda: metrics_from_capture(split_capture(raw4, token4))),
        "repeat": _best_ms(lambda: metrics_from_capture(split_capture(raw4, token4), first4)),
        "repeat_steady_skipped": _best_ms(
            lambda: metrics_from_capture(split_capture(skipped4, skip4), first4)
        ),
    }
    return res


# What each part of the full capture costs the device: the script without that part (``--parts``).
# A part left out is read by nothing else, so "full minus this" is what the part costs.
PARTS: dict[str, tuple[str, str]] = {
    "slabinfo": ("S='slabinfo'", "S=''"),
    "maps": ('m=" $p/maps"', "m="),
    "thread names": ('t=" $p/task/[0-9]*/comm"', "t="),
    "statm": (USER_FILES, 'A="$A $p/stat$c"'),
    "fd counts": ("    set -- $p/fd/*\n", "    set --\n"),
    "every file (grep)": ("grep -zH '' $F ${W:+\"$W\"} $A $T $M </dev/null 2>/dev/null", "true"),
}


def measure_parts(init: int, busybox: str, rounds: int) -> dict[str, float]:
    """Device CPU (ms, beyond an empty script) of the full capture and of each part of it."""

    def without(part: str) -> Callable[[str], str]:
        old, new = PARTS[part]

        def script(token: str) -> str:
            text = capture_script(token)
            assert old in text, part
            return text.replace(old, new)

        return script

    cases: dict[str, Callable[[str], str]] = {
        "full": capture_script,
        **{part: without(part) for part in PARTS},
        "empty": lambda t: capture_variants.script("noop", t),
    }
    totals = dict.fromkeys(cases, 0.0)
    for _ in range(rounds):  # interleaved, as in measure()
        for label, script in cases.items():
            totals[label] += run(init, busybox, script(new_token()))[0]
    empty = totals["empty"] / rounds * 1000
    full = totals["full"] / rounds * 1000 - empty
    return {"full": full, **{part: full - (totals[part] / rounds * 1000 - empty) for part in PARTS}}


def _best_ms(fn: Callable[[], object], rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--parts", action="store_true", help="also what each part of the capture costs")
    args = ap.parse_args()
    busybox = shutil.which("busybox")
    if busybox is None or os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        sys.exit("needs root, busybox (busybox-static), unshare and nsenter")
    results = {}
    print(
        "device CPU per capture beyond an empty script (nsenter + sh: the 'empty' column), mean of"
        f" {args.rounds} rounds"
    )
    print(
        f"{'device':<8}{'pids':>5}{'empty':>7}{'full ms':>9}{'skip ms':>9}{'saved':>7}{'naive ms':>10}"
        f"{'full/naive':>11}{'naive-same':>11}{'full/same':>10}{'full KiB':>10}{'skip KiB':>10}"
        f"  parse ms: {'first':>6}{'repeat':>8}{'skipped':>9}"
    )
    for label in ("light", "heavy", "host", "host-root"):
        if label.startswith("host"):  # this machine's own /proc, kernel threads included
            r = results[label] = measure(None, busybox, max(10, args.rounds // 4), root=label == "host-root")
        else:
            device = start_device(busybox, label == "heavy")
            try:
                init = namespace_init(device)
                time.sleep(3.0 if label == "heavy" else 0.5)  # let the workload start
                r = results[label] = measure(init, busybox, args.rounds)
                if args.parts:
                    r["parts_ms"] = measure_parts(init, busybox, args.rounds)
            finally:
                device.kill()
                device.wait()
        full, skip, naive = r["full"], r["steady_skipped"], r["naive"]
        saved = 1 - skip["capture_ms"] / full["capture_ms"]
        print(
            f"{label:<8}{r['processes']:>5}{r['empty']['device_cpu_ms']:>7.2f}{full['capture_ms']:>9.2f}"
            f"{skip['capture_ms']:>9.2f}{saved:>7.0%}{naive['capture_ms']:>10.2f}{r['full_vs_naive']:>11.1%}"
            f"{r['naive_same']['capture_ms']:>11.2f}{r['full_vs_naive_same']:>10.1%}"
            f"{full['bytes'] / 1024:>10.1f}{skip['bytes'] / 1024:>10.1f}"
            f"  {'':>9}{r['parse_ms']['first']:>6.2f}{r['parse_ms']['repeat']:>8.2f}"
            f"{r['parse_ms']['repeat_steady_skipped']:>9.2f}"
        )
    print("format 5 (statm) against 4 (status): device ms, KiB, collector parse ms (first / skipped repeat)")
    for label, r in results.items():
        f4, p4, p5 = r["format_4"], r["parse_ms_format_4"], r["parse_ms"]
        print(
            f"  {label:<9} full {r['full']['capture_ms']:.2f} vs {f4['capture_ms']:.2f} ms,"
            f" {r['full']['bytes'] / 1024:.1f} vs {f4['bytes'] / 1024:.1f} KiB;"
            f" skip {r['steady_skipped']['capture_ms']:.2f} vs {r['format_4_skipped']['capture_ms']:.2f} ms,"
            f" {r['steady_skipped']['bytes'] / 1024:.1f} vs {r['format_4_skipped']['bytes'] / 1024:.1f} KiB;"
            f" parse {p5['first']:.2f} vs {p4['first']:.2f}, {p5['repeat_steady_skipped']:.2f}"
            f" vs {p4['repeat_steady_skipped']:.2f} ms"
        )
    print("format 6's firmware identity (the first firmware_files found, on grep's command line):")
    for label, r in results.items():
        full, bare = r["full"], r["full_without_firmware"]
        print(
            f"  {label:<9} {full['capture_ms']:.2f} ms, {full['bytes'] / 1024:.1f} KiB;"
            f" without firmware_files {bare['capture_ms']:.2f} ms, {bare['bytes'] / 1024:.1f} KiB"
        )
    root = results["host-root"]
    print(
        f"host-root: format 3 (every pid's stat read) {root['format_3']['capture_ms']:.2f} ms,"
        f" {root['format_3']['bytes'] / 1024:.1f} KiB; format 5 (kernel threads counted, not read)"
        f" {root['full']['capture_ms']:.2f} ms, {root['full']['bytes'] / 1024:.1f} KiB"
    )
    for label in ("light", "heavy"):
        parts = results[label].get("parts_ms")
        if parts:
            full = parts["full"]
            shares = ", ".join(f"{p} {ms:.2f} ({ms / full:.0%})" for p, ms in parts.items() if p != "full")
            print(f"{label}: full capture {full:.2f} ms, of which {shares}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
