"""What a long history costs `fleet rank` and `fleet report` (issue 24: a year of nightly sweeps).

    python benchmarks/bench_history.py                      # 100 devices x 30 / 300 / 1,095 samples,
                                                            # 1,000 devices x 1,095; SQLite and PostgreSQL
    python benchmarks/bench_history.py --backends sqlite --samples 30 1095 --big 0

Stores of generated devices (tests.support.synthetic: 5 processes each, every fifth device leaks
threads; 3-sample nightly sweeps, so 1,095 samples are a year) are filled once with bulk inserts and
kept under --cache (SQLite directories, and a PostgreSQL cluster whose databases survive between
runs), then rolled up as a write command would (the backfill, timed once). Each figure comes from a
fresh child process, best of --repeat, with its peak RSS:

rank        fleet.view.fleet.build_view(store, details=False): what `fleet rank` computes
report      build_view(store, details=True): what `fleet report` renders (evidence included)
fallback    rank on the same store read as if it had no rollups (condensing every sample on read:
            a store made before rollups, until its first write command)
full        rank analysing every sample at full resolution: the cost before issue 24

The full and fallback modes run only for --devices (not the --big run): they are the slow ones.
Per store it also prints the backfill (the first roll-up of the whole history, as on a store made
before rollups) and a night's roll-up: on a copy, every device one night more, then roll_up (what
a sweep adds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, tests.postgres

from fleet.metrics.model import DeviceMetrics, Past
from fleet.store import codec
from fleet.store.codec import metrics_to_json
from fleet.store.store import Store
from tests.helpers import own_kib
from tests.support.synthetic import device_series, nightly_sweeps

Sample = tuple[float, DeviceMetrics]

PER_NIGHT = 3
MODES = ("rank", "report", "fallback", "full")


# --- stores ---------------------------------------------------------------------------------------


class Postgres:
    """A cluster kept in the cache directory across runs (Debian's server binaries, Unix socket)."""

    def __init__(self, root: Path) -> None:
        from tests.postgres.server import PgServer, _run, pg_bindir, unavailable

        reason = unavailable()
        if reason:
            raise SystemExit(f"bench_history: {reason}")
        bindir = pg_bindir()
        assert bindir is not None
        self.server, self._run = PgServer(bindir, root), _run
        if os.geteuid() == 0:
            root.mkdir(parents=True, exist_ok=True)
            import shutil

            shutil.chown(root, "postgres", "postgres")
        data, log = str(self.server.data), str(root / "server.log")
        if not (self.server.data / "PG_VERSION").exists():
            _run(self.server, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.started = False
        try:
            _run(self.server, "pg_ctl", "-D", data, "status")
            return  # another run of this benchmark has it running: share it, leave it running
        except RuntimeError:
            pass
        opts = f"-k {root} -c listen_addresses='' -c max_connections=50 -c shared_buffers=256MB"
        _run(self.server, "pg_ctl", "-D", data, "-l", log, "-o", opts, "-w", "start")
        self.started = True

    def location(self, name: str, fresh: bool) -> str:
        import psycopg

        with psycopg.connect(self.server.url(), autocommit=True) as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.server.url(name)

    def stop(self) -> None:
        if self.started:
            self._run(
                self.server, "pg_ctl", "-D", str(self.server.data), "-m", "fast", "-w", "stop", check=False
            )


def fill(location: str, devices: int, nights: int) -> float:
    """Generated devices stored with bulk inserts (their metrics compressed against each device's
    dictionary as fleet stores them; raw captures absent, as after 14 days); seconds taken."""
    t0 = time.perf_counter()
    with Store(location, create=True, collector="bench") as st:
        for d in range(devices):
            rng = random.Random(d)
            procs = [("AiApp", "thread_leak" if d % 5 == 0 else "steady")] + [
                (f"daemon{j}", "steady") for j in range(4)
            ]
            series, _ = device_series(nightly_sweeps(nights, rng, PER_NIGHT), rng, procs)
            dev = st.device_id(f"cam-{d:04d}", f"10.{d // 250}.{d % 250}.1", ["cameras"])
            (t_first, first), rest = series[0], series[1:]
            st.set_metrics(st.add_raw_sample(dev, None, t_first, b"", token=None, source="generated"), first)
            [(dict_id, data)] = st.sql("SELECT id, data FROM dictionaries WHERE device_id = ?", (dev,))
            dictionary = codec.decompress(data)
            with st.transaction():
                st.backend.executemany(
                    "INSERT INTO samples (device_id, captured_at, source, collector, parsed, boot_id,"
                    " uptime, mem_available, metrics, metrics_dict) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [_row(dev, t, m, dictionary, dict_id) for t, m in rest],
                )
                ids = dict(st.sql("SELECT captured_at, id FROM samples WHERE device_id = ?", (dev,)))
                st.backend.executemany(
                    "INSERT INTO process_samples (sample_id, pid, start_time, name, rss, vm_size,"
                    " threads, stack_count, fds) VALUES (?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            ids[t],
                            p.pid,
                            p.start_time,
                            p.name,
                            p.rss,
                            p.vm_size,
                            p.threads,
                            p.stack_count,
                            p.fds,
                        )
                        for t, m in rest
                        for p in m.processes
                    ],
                )
            st.record_attempt(dev, None, "ok", None, 1.0, at=series[-1][0])
    return time.perf_counter() - t0


def _row(dev: int, t: float, m: DeviceMetrics, dictionary: bytes, dict_id: int) -> tuple[Any, ...]:
    blob = codec.compress(metrics_to_json(m), dictionary)
    return (dev, t, "generated", "bench", 1, m.boot_id, m.uptime, m.mem_available, blob, dict_id)


def prepared(
    cache: Path, pg: Postgres | None, backend: str, devices: int, samples: int
) -> tuple[str, dict[str, Any]]:
    """The store for one case, filled and rolled up once and cached: its location and fill facts."""
    from fleet.view.rollup import roll_up

    name = f"h{devices}x{samples}v4"
    done = cache / f"{backend}-{name}.json"
    fresh = not done.exists()
    if backend == "sqlite":
        location = str(cache / f"sqlite-{name}")
        if fresh and Path(location).exists():
            import shutil

            shutil.rmtree(location)
    else:
        assert pg is not None
        location = pg.location(name, fresh)
    if not fresh:
        return location, json.loads(done.read_text())
    print(f"  filling {backend} {devices} x {samples} (once, cached in {cache}) ...", flush=True)
    fill_s = fill(location, devices, samples // PER_NIGHT)
    with Store(location) as st:
        t0 = time.perf_counter()
        rolled = roll_up(st)
        backfill_s = time.perf_counter() - t0
        facts = {
            "fill_s": fill_s,
            "backfill_s": backfill_s,
            "rolled": rolled,
            "rollups": st.rollup_count(),
            "stored_samples": st.sample_count(),
            "store_mb": st.size_bytes() / 1e6,
        }
    if backend == "postgresql":
        # A store a year old has been vacuumed by autovacuum many times; a bulk-filled one not yet,
        # and counting a device's samples (Store.devices) would read every row's heap page.
        import psycopg

        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    done.write_text(json.dumps(facts))
    return location, facts


def nightly_roll_up(cache: Path, pg: Postgres | None, backend: str, location: str, name: str) -> float:
    """Seconds of the roll-up a sweep does after a new night: on a copy of the store, every device
    gets one more night (its newest sample's metrics again, 3 samples a day later), then roll_up."""
    import shutil

    from fleet.view.rollup import roll_up

    if backend == "sqlite":
        clone = str(cache / f"sqlite-{name}-nightly")
        shutil.rmtree(clone, ignore_errors=True)
        shutil.copytree(location, clone)
    else:
        assert pg is not None
        import psycopg

        with psycopg.connect(pg.server.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}n"')
            conn.execute(f'CREATE DATABASE "{name}n" TEMPLATE "{name}"')
        clone = pg.server.url(f"{name}n")
    try:
        with Store(clone) as st:
            for row in st.devices():
                t, m = st.history(row.name)[-1]
                dev = st.device_id(row.name)
                for k in range(PER_NIGHT):
                    at = t + 86400.0 + 60.0 * k
                    st.set_metrics(st.add_raw_sample(dev, None, at, b"", token=None, source="generated"), m)
            t0 = time.perf_counter()
            roll_up(st)
            return time.perf_counter() - t0
    finally:
        if backend == "sqlite":
            shutil.rmtree(clone, ignore_errors=True)
        else:
            with psycopg.connect(pg.server.url(), autocommit=True) as conn:  # type: ignore[union-attr]
                conn.execute(f'DROP DATABASE IF EXISTS "{name}n"')


# --- one measurement in a fresh process -----------------------------------------------------------


def child(mode: str, location: str) -> None:
    """Print {"seconds", "peak_mib", "devices", "suspects", "rows"} of one mode, then exit."""
    import fleet.view.fleet as fleetview

    with Store(location) as st:
        if mode in ("fallback", "full"):
            read = st.series  # every parsed sample, rollups unread

            def history(device: str, max_bytes: int | None = None) -> tuple[list[Sample], Past | None]:
                return read(device, max_bytes), None

            st.analysed_history = history  # type: ignore[method-assign]
        if mode == "full":
            fleetview.condense = lambda samples: sorted(samples, key=lambda s: s[0])  # type: ignore[assignment]
        rows = [0]
        history_of = st.analysed_history

        def counted(device: str, max_bytes: int | None = None) -> tuple[list[Sample], Past | None]:
            out = history_of(device, max_bytes)
            rows[0] += len(out[0])
            return out

        st.analysed_history = counted  # type: ignore[method-assign]
        t0 = time.perf_counter()
        view = fleetview.build_view(st, details=mode == "report")
        seconds = time.perf_counter() - t0
    peak = own_kib("VmHWM") / 1024  # not ru_maxrss: Linux keeps the forking parent's across exec
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mib": peak,
                "devices": len(view.devices),
                "suspects": len(view.suspects),
                "rows": rows[0] / max(1, len(view.devices)),
            }
        )
    )


def measure(mode: str, location: str, repeat: int) -> dict[str, Any]:
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, location], capture_output=True, text=True, check=True
        ).stdout
        res = json.loads(out.strip().splitlines()[-1])
        if best is None or res["seconds"] < best["seconds"]:
            best = res
    assert best is not None
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, nargs="+", default=[30, 300, 1095], help="per device (3 a night)")
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument(
        "--big", type=int, default=1000, help="devices of the run at the longest history (0: none)"
    )
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/fleet-bench-history"))
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "LOCATION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    cases = [(args.devices, s) for s in args.samples]
    if args.big:
        cases.append((args.big, max(args.samples)))
    results: list[dict[str, Any]] = []
    pg = Postgres(Path("/tmp/fbh-pg")) if "postgresql" in args.backends else None  # short: socket path
    try:
        head = ("backend", "devices", "samples", "mode", "s", "ms/device", "peak MiB", "rows/device")
        print("{:<10} {:>7} {:>7} {:<8} {:>7} {:>9} {:>8} {:>11}".format(*head))
        for backend in args.backends:
            for devices, samples in cases:
                location, facts = prepared(args.cache, pg, backend, devices, samples)
                for mode in args.modes:
                    if mode in ("full", "fallback") and devices != args.devices:
                        continue
                    res = measure(mode, location, args.repeat)
                    per = 1000 * res["seconds"] / devices
                    print(
                        f"{backend:<10} {devices:>7} {samples:>7} {mode:<8} {res['seconds']:>7.2f}"
                        f" {per:>9.2f} {res['peak_mib']:>8.1f} {res['rows']:>11.1f}",
                        flush=True,
                    )
                    results.append(
                        {
                            "backend": backend,
                            "devices": devices,
                            "samples": samples,
                            "mode": mode,
                            **res,
                            **facts,
                        }
                    )
                nightly = nightly_roll_up(args.cache, pg, backend, location, f"h{devices}x{samples}v4")
                results.append(
                    {
                        "backend": backend,
                        "devices": devices,
                        "samples": samples,
                        "mode": "nightly-roll-up",
                        "seconds": nightly,
                        **facts,
                    }
                )
                print(
                    f"{'':<10} {'':>7} {'':>7} store {facts['store_mb']:.0f} MB, {facts['rollups']} rollups;"
                    f" fill {facts['fill_s']:.0f} s, backfill roll-up {facts['backfill_s']:.1f} s"
                    f" ({1000 * facts['backfill_s'] / devices:.1f} ms/device); a night's roll-up"
                    f" {nightly:.2f} s ({1000 * nightly / devices:.2f} ms/device)",
                    flush=True,
                )
    finally:
        if pg is not None:
            pg.stop()
    _summary(results, args)
    if args.json:
        args.json.write_text(
            json.dumps({"date": time.strftime("%Y-%m-%d"), "results": results}, indent=2) + "\n"
        )


def _summary(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per backend: rank's cost per device at the longest history against the shortest, and the
    10,000-device figure extrapolated from the big run."""
    lo, hi = min(args.samples), max(args.samples)
    ms = {
        (r["backend"], r["devices"], r["samples"], r["mode"]): 1000 * float(r["seconds"]) / r["devices"]
        for r in results
    }
    for backend in args.backends:
        a, b = ms.get((backend, args.devices, lo, "rank")), ms.get((backend, args.devices, hi, "rank"))
        if a and b:
            print(f"{backend}: rank per device at {hi} samples / at {lo}: {b / a:.2f}x (target <= 2x)")
        big = ms.get((backend, args.big, hi, "rank"))
        if big:
            print(f"{backend}: 10,000 devices x {hi} samples: ~{big * 10:.0f} s of rank (target < 60 s)")


if __name__ == "__main__":
    main()
