"""Collection benchmark (issues 2 and 9): one sweep of a light lab, fleet against its peers.

    python3 benchmarks/bench_collect.py                      # 100 devices, every tool
    python3 benchmarks/bench_collect.py --devices 100 500 1000 --json out.json

For each fleet size it starts a "light" lab (fleet.lab), then runs every tool once, each in its own
worker process (so CPU time and peak RSS belong to that tool alone), same devices, same concurrency:

  fleet          fleet.collect.collector.collect + Store in a temp dir: capture, parse, store (one sweep)
  fleet-x2       the same with two samples on one kept connection (repeat-sample cost = x2 - x1)
  fleet-warm     the same as fleet, timed on a store that already holds one sample of every
                 device (collected first, untimed): a nightly sweep's first sample, which finds
                 last night's base capture, metrics dictionary and maps to compare with
  fleet-repeat   three samples on one kept connection, each round started only after every
                 device's previous one: collector and device CPU read between the rounds, so the
                 first sample (handshake), a repeat (round 2: no handshake, no close) and the
                 last sample with the connection's close (round 3) are told apart in one run
                 (x2 - x1 spans two runs; a device closes right after its own last sample, so
                 only a middle round is a clean repeat)
  fleet-repeat-maps3  the same with the sweep's default --maps-every 3: rounds 2 and 3 are light
                 samples (steady processes' maps, cmdlines and thread names and slabinfo skipped)
  fleet-x3, fleet-x3-maps3 (not run by default) three samples on one kept connection, the second
                 with --maps-every 3: its third sample reads only changed processes' maps
                 (what skipping steady maps saves = x3 - x3-maps3)
  fleet-held, fleet-held-250 (not run by default) two samples 5 s apart on kept connections,
                 every device connected at once between them, or at most 250 (max_connected):
                 what holding the fleet's connections costs in memory against a bounded window
  fleet-ssh      fleet's collector with the writer's work (store, parse) replaced by no-ops, and
  fleet-noparse  with the parse alone replaced (raw captures and attempts stored): with fleet
                 they split its collector CPU into SSH side, raw store, and parse + metrics store
                 (benchmark-only patches, made in the worker process)
  asyncssh       bare asyncssh gather script running fleet's capture: no parsing, no storage
  asyncssh-naive the same running the first, naive capture script (one cat per file per pid)
  asyncssh-naive-same  the naive script without smaps_rollup: the files fleet's script reads
  asyncssh-noop  the same running an empty script: the handshake + session cost alone
  parallel-ssh   parallel-ssh (libssh2) ParallelSSHClient running fleet's capture (if installed)

Measured per tool: wall time, devices/s, collector CPU (getrusage of the worker, all threads) per
device, collector peak RSS, device-side CPU per device (every process the devices' Dropbear
listeners fork - sessions, sh, cat - accounted in a cgroup made for the run, else through the
listeners' cutime/cstime), device CPU of the capture itself (minus asyncssh-noop), bytes
transferred per device, and for fleet bytes stored per device-sample. Ratios against the bare
asyncssh script are printed beside every row, so a noisy machine still compares honestly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from capture_variants import script

from fleet.capture.script import new_token

TOOLS = (
    "asyncssh-noop",
    "asyncssh",
    "asyncssh-naive",
    "asyncssh-naive-same",
    "asyncssh-no-maps",
    "asyncssh-no-slabinfo",
    "fleet",
    "fleet-ssh",
    "fleet-noparse",
    "fleet-x2",
    "fleet-warm",
    "fleet-repeat",
    "fleet-repeat-maps3",
    "fleet-x3",
    "fleet-x3-maps3",
    "fleet-held",
    "fleet-held-250",
    "parallel-ssh",
)
DEFAULT_TOOLS = (
    "asyncssh-noop",
    "asyncssh",
    "asyncssh-naive",
    "asyncssh-naive-same",
    "fleet",
    "fleet-ssh",
    "fleet-noparse",
    "fleet-warm",
    "fleet-x2",
    "fleet-repeat",
    "fleet-repeat-maps3",
    "parallel-ssh",
)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- device-side CPU ---------------------------------------------------------------------------


def _listeners(lab: Any) -> list[int]:
    """Host pids of the devices' Dropbear listeners (children of each device's init)."""
    from fleet.lab import procs

    out = []
    for d in lab.devices:
        for pid in procs.children(d.init_pid) if d.init_pid else []:
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "dropbear":
                    out.append(pid)
            except OSError:
                pass
    return out


class DeviceCpu:
    """Cumulative CPU seconds of everything the devices' SSH servers fork.

    Preferred: a cgroup (v2, else v1 cpuacct) holding only the Dropbear listeners; the sessions,
    shells and cats they fork inherit it, so their CPU is counted even after they exit. Fallback:
    the listeners' own plus reaped children's CPU from /proc/PID/stat (10 ms ticks; fine summed).
    """

    def __init__(self, lab: Any) -> None:
        self.pids = _listeners(lab)
        self.path: Path | None = None
        self.kind = "proc-cutime"
        for kind, root in self._roots():
            path = root / f"fleet-bench-{os.getpid()}-{secrets_suffix()}"
            try:
                path.mkdir()
                for pid in self.pids:
                    (path / "cgroup.procs").write_text(f"{pid}\n")
                self.path, self.kind, self.root = path, kind, root
                break
            except OSError:
                self._remove(path, root)
        if not self.pids:
            raise RuntimeError("no Dropbear listener found in the lab")

    @staticmethod
    def _roots() -> list[tuple[str, Path]]:
        roots = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            _, mnt, fstype, opts, *_ = line.split()
            if fstype == "cgroup2":
                roots.insert(0, ("cgroup2", Path(mnt)))
            elif fstype == "cgroup" and "cpuacct" in opts.split(","):
                roots.append(("cgroup1-cpuacct", Path(mnt)))
        return roots

    @staticmethod
    def read(kind: str, path: Path) -> float:
        if kind == "cgroup2":
            stat = dict(line.split() for line in (path / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((path / "cpuacct.usage").read_text()) / 1e9

    def spec(self) -> str | None:
        """How a worker process reads the same counter (None without a cgroup)."""
        return f"{self.kind}:{self.path}" if self.path is not None else None

    def seconds(self) -> float:
        if self.path is not None:
            return self.read(self.kind, self.path)
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        return total / CLK_TCK

    def _remove(self, path: Path, root: Path) -> None:
        try:
            for pid in (path / "cgroup.procs").read_text().split():
                (root / "cgroup.procs").write_text(pid + "\n")
        except OSError:
            pass
        with contextlib.suppress(OSError):
            path.rmdir()

    def close(self) -> None:
        if self.path is not None:
            self._remove(self.path, self.root)
            self.path = None


def secrets_suffix() -> str:
    return os.urandom(3).hex()


# --- workers (each runs in its own process) -------------------------------------------------------


def _usage() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return ru.ru_utime + ru.ru_stime


def worker(tool: str, lab_dir: Path, concurrency: int, device_cpu: str | None) -> dict[str, Any]:
    from fleet.lab import load_lab

    loaded = load_lab(lab_dir)
    assert loaded is not None
    lab = loaded[0]
    if tool in ("fleet-repeat", "fleet-repeat-maps3"):
        return _worker_fleet_repeat(lab, concurrency, device_cpu, 3 if tool.endswith("maps3") else 1)
    if tool == "fleet-warm":
        return _worker_fleet(lab, concurrency, 1, 1, warm=True, device_cpu=device_cpu)
    if tool.startswith("fleet-held"):
        held = int(tool.removeprefix("fleet-held").removeprefix("-") or 10**9)
        return _worker_fleet(lab, concurrency, 2, 1, interval=5.0, max_connected=held)
    if tool in ("fleet-ssh", "fleet-noparse"):
        _without_writer_work(parse_only=tool == "fleet-noparse")
        return _worker_fleet(lab, concurrency, 1, 1)
    if tool.startswith("fleet"):
        samples, _, maps = tool.removeprefix("fleet").removeprefix("-x").partition("-maps")
        return _worker_fleet(lab, concurrency, int(samples or 1), int(maps or 1))
    if tool.startswith("asyncssh"):
        variant = "fleet" if tool == "asyncssh" else tool.removeprefix("asyncssh-")
        return _worker_asyncssh(lab, concurrency, variant)
    if tool == "parallel-ssh":
        return _worker_pssh(lab, concurrency)
    raise SystemExit(f"unknown tool {tool}")


def _without_writer_work(*, parse_only: bool) -> None:
    """Benchmark-only patches of this worker process: the parse (``parse_only``), or everything
    the writer thread does, become no-ops, so the rows tell fleet's SSH side, store and parse apart."""
    from fleet.collect import writer
    from fleet.store.parse import Parsed

    if parse_only:
        writer.parse_sample_metrics = lambda *_args, **_kwargs: Parsed([], None)  # type: ignore[assignment]
        return

    async def register(self: Any, devices: Any) -> None:
        self.ids.update((d.name, 0) for d in devices)

    async def sample(self: Any, *_args: Any) -> tuple[list[str], str | None, frozenset[int]]:
        return [], None, frozenset()

    async def attempt(self: Any, *_args: Any) -> None:
        return None

    store_writer: Any = writer.StoreWriter
    store_writer.register, store_writer.sample, store_writer.attempt = register, sample, attempt


def _result(started: float, cpu0: float, rss0: int, ok: int, bytes_in: int, **extra: Any) -> dict[str, Any]:
    return {
        "wall_s": time.monotonic() - started,
        "cpu_s": _usage() - cpu0,
        "rss_base_kib": rss0,
        "rss_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "ok": ok,
        "bytes_in": bytes_in,
        **extra,
    }


def _worker_fleet(
    lab: Any,
    concurrency: int,
    samples: int,
    maps_every: int,
    *,
    warm: bool = False,
    device_cpu: str | None = None,
    interval: float = 0.0,
    max_connected: int | None = None,
) -> dict[str, Any]:
    from fleet.collect.collector import collect
    from fleet.collect.options import CollectOptions
    from fleet.inventory.load import load_inventory
    from fleet.store.store import Store

    devices = load_inventory(lab.inventory).devices
    with tempfile.TemporaryDirectory(prefix="fleet-bench-store-") as tmp, Store(Path(tmp)) as store:
        opts = CollectOptions(
            samples=samples, interval=interval, concurrency=concurrency, maps_every=maps_every
        )
        if max_connected is not None:
            opts = dataclasses.replace(opts, max_connected=max_connected)
        if warm:  # last night's sample of every device, untimed
            asyncio.run(collect(devices, store, opts))
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (first_id,) = store.db.execute("SELECT coalesce(max(id), 0) FROM samples").fetchone()
        size0 = store.size_bytes()
        dev0 = _cgroup_seconds(device_cpu) if warm else None
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu0, started = _usage(), time.monotonic()
        outcomes = asyncio.run(collect(devices, store, opts))
        res = _result(started, cpu0, rss0, sum(o.status == "ok" for o in outcomes), 0)
        if dev0 is not None:
            res["device_cpu_own_s"] = (_cgroup_seconds(device_cpu) or 0.0) - dev0
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw, stored_raw, n = store.db.execute(
            "SELECT sum(raw_size), sum(length(raw)), count(*) FROM samples WHERE id > ?", (first_id,)
        ).fetchone()
        res.update(
            bytes_in=raw or 0,
            samples=n,
            raw_compressed=stored_raw or 0,
            store_bytes=store.size_bytes() - size0,
            errors=sorted({o.error or "" for o in outcomes if o.status != "ok"})[:3],
        )
        return res


def _cgroup_seconds(spec: str | None) -> float | None:
    """The devices' CPU so far, read from the run's cgroup ("KIND:PATH" from DeviceCpu)."""
    if not spec:
        return None
    kind, _, path = spec.partition(":")
    return DeviceCpu.read(kind, Path(path))


def _worker_fleet_repeat(
    lab: Any, concurrency: int, device_cpu: str | None, maps_every: int
) -> dict[str, Any]:
    """Three samples per device on one kept connection, ``interval`` apart, CPU read between the
    rounds: round 1 is the first sample (handshake included), round 2 a repeat (no handshake, no
    close: what each further sample of a night costs), round 3 the last sample with the
    connection's close (each device closes right after its own last sample, so a 2-sample run
    cannot keep the close out of its repeat round)."""
    from fleet.collect.collector import collect
    from fleet.collect.events import ProgressEvent, SampleDone
    from fleet.collect.options import CollectOptions
    from fleet.inventory.load import load_inventory
    from fleet.store.store import Store

    devices = load_inventory(lab.inventory).devices
    interval = 2.0 + 0.04 * len(devices)  # ~2x the first round at the lab's ~50 devices/s
    done: dict[int, set[str]] = {1: set(), 2: set()}
    marks: dict[int, dict[str, Any]] = {}

    def progress(event: ProgressEvent) -> None:  # after each sample, on the event loop
        if not isinstance(event, SampleDone):
            return
        names = done.get(event.round)
        if names is not None:
            names.add(event.device)
            if len(names) == len(devices):
                marks[event.round] = {
                    "at": time.monotonic(),
                    "cpu": _usage(),
                    "device": _cgroup_seconds(device_cpu),
                }

    with tempfile.TemporaryDirectory(prefix="fleet-bench-store-") as tmp, Store(Path(tmp)) as store:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        dev0 = _cgroup_seconds(device_cpu)
        cpu0, started = _usage(), time.monotonic()
        opts = CollectOptions(samples=3, interval=interval, concurrency=concurrency, maps_every=maps_every)
        outcomes = asyncio.run(collect(devices, store, opts, progress=progress))
        res = _result(started, cpu0, rss0, sum(o.status == "ok" for o in outcomes), 0)
        dev_end = _cgroup_seconds(device_cpu)
    first, repeat = marks[1], marks[2]
    res.update(
        samples=3 * len(devices),
        first_round_s=first["at"] - started,
        interval_s=interval,
        # a round that ended after the next one began is not a clean split
        overlap=first["at"] - started > interval or repeat["at"] - started > 2 * interval,
        first_cpu_s=first["cpu"] - cpu0,
        repeat_cpu_s=repeat["cpu"] - first["cpu"],
        last_and_close_cpu_s=_usage() - repeat["cpu"],
    )
    if None not in (dev0, dev_end, first["device"], repeat["device"]):
        res.update(
            first_device_cpu_s=first["device"] - dev0,
            repeat_device_cpu_s=repeat["device"] - first["device"],
            last_and_close_device_cpu_s=dev_end - repeat["device"],
        )
    return res


def _worker_asyncssh(lab: Any, concurrency: int, variant: str) -> dict[str, Any]:
    import asyncssh

    key = asyncssh.read_private_key(str(lab.identity_file))
    known = asyncssh.read_known_hosts(str(lab.known_hosts))

    async def one(sem: asyncio.Semaphore, host: str, port: int) -> int:
        async with sem:
            data = script(variant, new_token()).encode()
            try:
                async with asyncssh.connect(
                    host, port, username="root", client_keys=[key], known_hosts=known
                ) as conn:
                    r = await conn.run("sh -s", input=data, encoding=None, timeout=60)
                    return len(r.stdout or b"")
            except (OSError, asyncssh.Error, TimeoutError):
                return -1

    async def main() -> list[int]:
        sem = asyncio.Semaphore(concurrency)
        return await asyncio.gather(*(one(sem, d.host, d.port) for d in lab.devices))

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, started = _usage(), time.monotonic()
    sizes = asyncio.run(main())
    return _result(started, cpu0, rss0, sum(s >= 0 for s in sizes), sum(s for s in sizes if s > 0))


def _worker_pssh(lab: Any, concurrency: int) -> dict[str, Any]:
    from pssh.clients import ParallelSSHClient

    # The lab's Dropbear takes commands up to ~9,000 bytes: the ~1 KiB script goes as the command
    # itself (Dropbear runs it with the login shell's -c), which costs the device the same sh.
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, started = _usage(), time.monotonic()
    hosts = [d.host for d in lab.devices]
    client = ParallelSSHClient(
        hosts, user="root", pkey=str(lab.identity_file), pool_size=concurrency, num_retries=1, timeout=60
    )
    output = client.run_command(script("fleet", new_token()), stop_on_errors=False, encoding="latin-1")
    client.join(output)
    ok = total = 0
    for host_out in output:
        if host_out.exception is not None:
            continue
        n = sum(len(line) + 1 for line in host_out.stdout)
        ok += n > 0
        total += n
    return _result(started, cpu0, rss0, ok, total)


# --- driver -------------------------------------------------------------------------------------


def run_tool(tool: str, lab: Any, cpu: DeviceCpu, concurrency: int) -> dict[str, Any]:
    time.sleep(0.5)  # sessions of the previous tool finish exiting
    dev0 = cpu.seconds()
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        tool,
        "--lab",
        str(lab.dir),
        "--concurrency",
        str(concurrency),
        *(["--device-cpu", spec] if (spec := cpu.spec()) else []),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    time.sleep(0.5)
    dev_cpu = cpu.seconds() - dev0
    if proc.returncode != 0:
        return {"tool": tool, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    # a worker that ran something untimed first (fleet-warm) measures the devices itself
    res.update(tool=tool, device_cpu_s=res.pop("device_cpu_own_s", dev_cpu))
    return res


def have_pssh() -> bool:
    try:
        import pssh.clients  # noqa: F401
    except ImportError:
        return False
    return True


def bench_size(n: int, tools: list[str], concurrency: int) -> dict[str, Any]:
    from fleet.lab import free_subnet, start_lab, stop_lab

    with tempfile.TemporaryDirectory(prefix="fleet-bench-lab-") as tmp:
        lab_dir = Path(tmp)
        cpu: DeviceCpu | None = None
        try:
            t = time.monotonic()
            lab = start_lab(lab_dir, n, profile="light", subnet=free_subnet())
            start_s = time.monotonic() - t
            cpu = DeviceCpu(lab)
            rows = [run_tool(tool, lab, cpu, concurrency) for tool in tools]
            accounting = cpu.kind
        finally:
            stop_lab(lab_dir)
            if cpu is not None:
                cpu.close()
    return {"devices": n, "lab_start_s": start_s, "device_cpu_accounting": accounting, "rows": rows}


def derive(size: dict[str, Any]) -> None:
    """Per-device figures and ratios against the bare asyncssh script."""
    n = size["devices"]
    rows = {r["tool"]: r for r in size["rows"] if "error" not in r}
    noop = rows.get("asyncssh-noop")
    for r in rows.values():
        r["devices_per_s"] = r["ok"] / r["wall_s"] if r["wall_s"] else 0.0
        r["cpu_ms_per_device"] = 1000 * r["cpu_s"] / n
        r["device_cpu_ms_per_device"] = 1000 * r["device_cpu_s"] / n
        samples = r.get("samples") or r["ok"]
        r["bytes_per_device"] = r["bytes_in"] / samples if samples else 0
        if noop is not None and r is not noop:
            per = samples / r["ok"] if r["ok"] else 1
            r["capture_device_cpu_ms"] = 1000 * (r["device_cpu_s"] - noop["device_cpu_s"]) / n / per
        if "store_bytes" in r and r.get("samples"):  # fleet-ssh stores nothing
            r["stored_bytes_per_sample"] = r["store_bytes"] / samples
            r["raw_compressed_per_sample"] = r["raw_compressed"] / samples
    base = rows.get("asyncssh")
    if base:
        for r in rows.values():
            r["cpu_vs_asyncssh"] = r["cpu_s"] / base["cpu_s"] if base["cpu_s"] else None
            r["device_cpu_vs_asyncssh"] = (
                r["device_cpu_s"] / base["device_cpu_s"] if base["device_cpu_s"] else None
            )
    x1, x2 = rows.get("fleet"), rows.get("fleet-x2")
    if x1 and x2:
        size["repeat_sample"] = {
            "collector_cpu_ms": 1000 * (x2["cpu_s"] - x1["cpu_s"]) / n,
            "device_cpu_ms": 1000 * (x2["device_cpu_s"] - x1["device_cpu_s"]) / n,
            "first_collector_cpu_ms": x1["cpu_ms_per_device"],
            "first_device_cpu_ms": x1["device_cpu_ms_per_device"],
        }
    ssh, noparse = rows.get("fleet-ssh"), rows.get("fleet-noparse")
    if x1 and ssh and noparse and base:
        size["collector_split"] = {
            "ssh_ms": ssh["cpu_ms_per_device"],
            "ssh_vs_asyncssh": ssh["cpu_s"] / base["cpu_s"] if base["cpu_s"] else float("nan"),
            "store_ms": noparse["cpu_ms_per_device"] - ssh["cpu_ms_per_device"],
            "parse_ms": x1["cpu_ms_per_device"] - noparse["cpu_ms_per_device"],
            "fleet_ms": x1["cpu_ms_per_device"],
        }
    for tool, key in (("fleet-repeat", "repeat_one_run"), ("fleet-repeat-maps3", "repeat_one_run_maps3")):
        one = rows.get(tool)
        if not one:
            continue
        size[key] = {
            "first_collector_cpu_ms": 1000 * one["first_cpu_s"] / n,
            "repeat_collector_cpu_ms": 1000 * one["repeat_cpu_s"] / n,
            "first_device_cpu_ms": 1000 * one.get("first_device_cpu_s", float("nan")) / n,
            "repeat_device_cpu_ms": 1000 * one.get("repeat_device_cpu_s", float("nan")) / n,
            "last_and_close_collector_cpu_ms": 1000 * one["last_and_close_cpu_s"] / n,
            "last_and_close_device_cpu_ms": 1000 * one.get("last_and_close_device_cpu_s", float("nan")) / n,
            "overlap": one["overlap"],
        }
    # fleet's script runs in three rows (bare asyncssh, fleet, parallel-ssh): their mean capture CPU
    # against the naive scripts' is the device-side ratio, less noisy than any one row
    same = [rows[t].get("capture_device_cpu_ms") for t in ("asyncssh", "fleet", "parallel-ssh") if t in rows]
    ours = [c for c in same if c is not None]
    naive = {
        t: rows[t].get("capture_device_cpu_ms")
        for t in ("asyncssh-naive", "asyncssh-naive-same")
        if t in rows
    }
    if ours and all(naive.values()) and naive:
        mean = sum(ours) / len(ours)
        size["capture_vs_naive"] = {"fleet_capture_ms": mean, **{t: mean / v for t, v in naive.items() if v}}
    x3, x3m = rows.get("fleet-x3"), rows.get("fleet-x3-maps3")
    if x3 and x3m:
        size["skip_steady_maps"] = {
            "collector_cpu_ms_saved": 1000 * (x3["cpu_s"] - x3m["cpu_s"]) / n,
            "device_cpu_ms_saved": 1000 * (x3["device_cpu_s"] - x3m["device_cpu_s"]) / n,
            "bytes_saved": (x3["bytes_in"] - x3m["bytes_in"]) / n,
        }


def print_table(size: dict[str, Any]) -> None:
    print(
        f"\n{size['devices']} light devices (lab started in {size['lab_start_s']:.1f} s;"
        f" device CPU via {size['device_cpu_accounting']})"
    )
    head = (
        f"{'tool':<21}{'ok':>6}{'wall s':>8}{'dev/s':>8}{'coll ms/dev':>12}{'x asyncssh':>11}"
        f"{'peak RSS MiB':>13}{'dev ms/dev':>11}{'capture ms':>11}{'KiB/dev':>9}{'stored B/sample':>16}"
    )
    print(head)
    print("-" * len(head))
    for r in size["rows"]:
        if "error" in r:
            print(f"{r['tool']:<21} failed: {r['error']}")
            continue
        ratio = r.get("cpu_vs_asyncssh")
        stored = r.get("stored_bytes_per_sample")
        capture = r.get("capture_device_cpu_ms")
        print(
            f"{r['tool']:<21}{r['ok']:>6}{r['wall_s']:>8.2f}{r['devices_per_s']:>8.1f}"
            f"{r['cpu_ms_per_device']:>12.2f}{(f'{ratio:.2f}' if ratio else '-'):>11}"
            f"{r['rss_peak_kib'] / 1024:>13.1f}{r['device_cpu_ms_per_device']:>11.2f}"
            f"{(f'{capture:.2f}' if capture is not None else '-'):>11}"
            f"{r['bytes_per_device'] / 1024:>9.1f}{(f'{stored:.0f}' if stored else '-'):>16}"
        )
    rep = size.get("repeat_sample")
    if rep:
        print(
            f"repeat sample on a kept connection: collector {rep['collector_cpu_ms']:.2f} ms/dev"
            f" (first {rep['first_collector_cpu_ms']:.2f}), device {rep['device_cpu_ms']:.2f} ms/dev"
            f" (first {rep['first_device_cpu_ms']:.2f})"
        )
    for key, tool in (("repeat_one_run", "fleet-repeat"), ("repeat_one_run_maps3", "fleet-repeat-maps3")):
        one = size.get(key)
        if not one:
            continue
        c, d = one["repeat_collector_cpu_ms"], one["repeat_device_cpu_ms"]
        fc, fd = one["first_collector_cpu_ms"], one["first_device_cpu_ms"]
        print(
            f"repeat sample on a kept connection ({tool}, round 2 of 3): collector {c:.2f} ms/dev"
            f" = {c / fc:.0%} of its first {fc:.2f}; device {d:.2f} ms/dev = {d / fd:.0%} of its first"
            f" {fd:.2f}" + ("  (rounds overlapped: not a clean split)" if one["overlap"] else "")
        )
        c, d = one["last_and_close_collector_cpu_ms"], one["last_and_close_device_cpu_ms"]
        print(
            f"  the last sample with the connection's close (round 3): collector {c:.2f} ms/dev"
            f" = {c / fc:.0%}, device {d:.2f} ms/dev = {d / fd:.0%}"
        )
    split = size.get("collector_split")
    if split:
        ssh, ratio = split["ssh_ms"], split["ssh_vs_asyncssh"]
        print(
            f"fleet's collector CPU: SSH side {ssh:.2f} ms/dev ({ratio:.2f}x bare asyncssh)"
            f" + store raw {split['store_ms']:.2f} + parse, store metrics {split['parse_ms']:.2f}"
            f" = {split['fleet_ms']:.2f}"
        )
    cvn = size.get("capture_vs_naive")
    if cvn:
        ratios = ", ".join(
            f"{v:.1%} of {t.removeprefix('asyncssh-')}" for t, v in cvn.items() if t != "fleet_capture_ms"
        )
        print(
            f"device CPU of fleet's capture (mean of the rows running it):"
            f" {cvn['fleet_capture_ms']:.2f} ms = {ratios}"
        )
    skip = size.get("skip_steady_maps")
    if skip:
        print(
            f"a sample skipping steady processes' maps (--maps-every) saves: collector"
            f" {skip['collector_cpu_ms_saved']:.2f} ms/dev, device {skip['device_cpu_ms_saved']:.2f} ms/dev,"
            f" {skip['bytes_saved'] / 1024:.1f} KiB/dev"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, nargs="+", default=[100], help="fleet sizes (default 100)")
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=None, help="default: all available")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    ap.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    ap.add_argument("--lab", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--device-cpu", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.lab, args.concurrency, args.device_cpu)))
        return
    tools = args.tools or [t for t in DEFAULT_TOOLS if t != "parallel-ssh" or have_pssh()]
    if "parallel-ssh" not in tools and args.tools is None:
        print("parallel-ssh not installed (pip install parallel-ssh): skipped", file=sys.stderr)
    results = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "sizes": [],
    }
    for n in args.devices:
        size = bench_size(n, tools, args.concurrency)
        derive(size)
        print_table(size)
        results["sizes"].append(size)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nresults written to {args.json}")


if __name__ == "__main__":
    main()
