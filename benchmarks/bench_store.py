"""Store throughput and analysis time on both backends (issue 10: many collectors, one store).

    python3 benchmarks/bench_store.py [--url postgresql://...] [--writers 1 2 4] [--samples 300]
                                      [--devices 1000] [--nights 30] [--json results/store.json]

Without --url a throwaway PostgreSQL (Debian's server binaries, Unix socket, fsync on) is started
in a temp dir and stopped at the end; with --url every run gets a new database there (the user
needs CREATEDB).

writes     W writer processes (1, 2, 4: sharded collectors) start together and each stores
           --samples real captures (made once with fleet's capture script under `busybox sh -s`
           in a fresh pid namespace, ~60 KiB, like a light lab device) for its own 25 devices:
           "store" = what the store adds per sample (raw capture committed, then its pre-parsed
           metrics); "store+parse" = the collector's whole writer job (raw, then parse_sample).
           Samples per second over the wall time from the common start to the last writer done.
analysis   a store of --devices devices x --nights nightly samples (tests.support.synthetic: every
           fifth device leaks threads, 5 processes each), filled by 4 writers, then
           fleet.fleetview.build_view(store, details=False) -- the work of `fleet rank` -- best of 2.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.postgres.server
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parse import local_capture

from fleet.capture.split import split_capture
from fleet.metrics.from_capture import metrics_from_capture
from fleet.store.parse import parse_sample
from fleet.store.store import Store
from fleet.view.fleet import build_view
from tests.support.synthetic import device_series, schedule

DEVICES_PER_WRITER = 25


class Databases:
    """New empty stores: SQLite directories, or databases on one PostgreSQL server."""

    def __init__(self, url: str | None, tmp: Path) -> None:
        self.tmp, self.url, self.server = tmp, url, None
        self.n = 0
        if url is None:
            from tests.postgres.server import start_server, unavailable

            reason = unavailable()
            if reason:
                raise SystemExit(f"bench_store: {reason}")
            self.server = start_server(fsync=True)

    def new(self, backend: str) -> str:
        self.n += 1
        if backend == "sqlite":
            return str(self.tmp / f"store-{self.n}")
        import psycopg

        name = f"bench_{int(time.time())}_{self.n}"
        admin = self.server.url() if self.server else self.url
        assert admin is not None
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        if self.server:
            return self.server.url(name)
        base, _, query = admin.partition("?")
        return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")

    def close(self) -> None:
        if self.server:
            self.server.stop()


# --- writes ---------------------------------------------------------------------------------------


def _writer(
    location: str, k: int, samples: int, raw: bytes, token: str, parse: bool, start: Any, out: Any
) -> None:
    metrics = metrics_from_capture(split_capture(raw, token))
    with Store(location, create=True, collector=f"w{k}") as st:
        run = st.begin_run("bench")
        ids = [st.device_id(f"w{k}-dev{d:02d}", "127.0.0.1") for d in range(DEVICES_PER_WRITER)]
        start.wait()
        t0 = time.perf_counter()
        for i in range(samples):
            dev = ids[i % len(ids)]
            sid = st.add_raw_sample(dev, run, 1e9 + i, raw, token=token)
            if parse:
                parse_sample(st, sid, raw, token)
            else:
                st.set_metrics(sid, metrics)
        out.put((t0, time.perf_counter(), samples))


def write_throughput(location: str, writers: int, samples: int, raw: bytes, token: str, parse: bool) -> float:
    Store(location, create=True).close()  # migrate once, outside the timing
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(location, k, samples, raw, token, parse, start, out))
        for k in range(writers)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise SystemExit(f"bench_store: a writer failed ({p.exitcode})")
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    return sum(r[2] for r in results) / wall


# --- analysis -------------------------------------------------------------------------------------


def _fill(location: str, k: int, writers: int, devices: int, nights: int, out: Any) -> None:
    with Store(location, create=True, collector=f"fill{k}") as st:
        for d in range(k, devices, writers):
            rng = random.Random(d)
            procs = [("AiApp", "thread_leak" if d % 5 == 0 else "steady")] + [
                (f"daemon{j}", "steady") for j in range(4)
            ]
            series, _ = device_series(schedule("nightly", nights, rng), rng, procs)
            dev = st.device_id(f"cam-{d:04d}", f"10.{d // 250}.{d % 250}.1", ["cameras"])
            for t, metrics in series:
                sid = st.add_raw_sample(dev, None, t, b"", token=None, source="generated")
                st.set_metrics(sid, metrics)
            st.record_attempt(dev, None, "ok", None, 1.0, at=series[-1][0])
    out.put(k)


def analysis_time(location: str, devices: int, nights: int) -> dict[str, float]:
    Store(location, create=True).close()
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    writers = 4
    t0 = time.perf_counter()
    procs = [
        ctx.Process(target=_fill, args=(location, k, writers, devices, nights, out)) for k in range(writers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        out.get(timeout=3600)
    for p in procs:
        p.join()
    fill = time.perf_counter() - t0
    best = float("inf")
    with Store(location) as st:
        size = st.size_bytes()
        for _ in range(2):
            t = time.perf_counter()
            view = build_view(st, details=False)
            best = min(best, time.perf_counter() - t)
        assert len(view.devices) == devices
        suspects = len(view.suspects)
    return {"fill_s": fill, "build_view_s": best, "suspects": suspects, "store_mb": size / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="PostgreSQL server to create bench databases on (default: throwaway)")
    ap.add_argument("--writers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--samples", type=int, default=300, help="samples per writer")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--nights", type=int, default=30)
    ap.add_argument("--backends", nargs="+", default=["postgresql", "sqlite"])
    ap.add_argument("--skip-writes", action="store_true")
    ap.add_argument("--skip-analysis", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args()

    cap = local_capture("fleet", small=True) or local_capture("fleet")
    if cap is None:
        raise SystemExit("bench_store: needs busybox to record a capture")
    raw, token = cap
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "capture_bytes": len(raw),
        "writes": [],
        "analysis": [],
    }
    with tempfile.TemporaryDirectory(prefix="fleet-bench-store-") as tmp:
        dbs = Databases(args.url, Path(tmp))
        try:
            if not args.skip_writes:
                print(f"writes: {len(raw) / 1024:.1f} KiB captures, {args.samples} samples per writer")
                print(f"{'backend':<11} {'job':<12} " + " ".join(f"{w:>4} writer(s)" for w in args.writers))
                for backend in args.backends:
                    for job, parse in (("store", False), ("store+parse", True)):
                        rates = []
                        for w in args.writers:
                            rate = write_throughput(dbs.new(backend), w, args.samples, raw, token, parse)
                            rates.append(rate)
                            doc["writes"].append(
                                {"backend": backend, "job": job, "writers": w, "samples_per_s": rate}
                            )
                        print(f"{backend:<11} {job:<12} " + " ".join(f"{r:>9.0f} /s" for r in rates))
            if not args.skip_analysis:
                print(f"analysis: {args.devices} devices x {args.nights} nights, build_view(details=False)")
                for backend in args.backends:
                    res = analysis_time(dbs.new(backend), args.devices, args.nights)
                    doc["analysis"].append(
                        {"backend": backend, "devices": args.devices, "nights": args.nights, **res}
                    )
                    print(
                        f"{backend:<11} build_view {res['build_view_s']:.1f} s; fill {res['fill_s']:.0f} s"
                        f" (4 writers); {res['suspects']} suspects; store {res['store_mb']:.0f} MB"
                    )
        finally:
            dbs.close()
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
