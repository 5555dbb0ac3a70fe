"""Process findings on hand-made series: the thread checks, fds, shm, restarts, reboots, JSON."""

from __future__ import annotations

from analysis_builder import MiB, device, proc

from fleet.analysis import analyse_device
from fleet.analysis.model import ProcessAssessment

STACK = 8 * MiB


def target(samples: list, name: str = "AiApp") -> ProcessAssessment:  # type: ignore[type-arg]
    dev = analyse_device("cam-001", samples)
    return next(p for p in dev.processes if p.name == name)


def kinds(p: ProcessAssessment, at_least: str = "low") -> dict[str, str]:
    order = ["info", "low", "medium", "high"]
    return {f.kind: f.severity for f in p.findings if order.index(f.severity) >= order.index(at_least)}


def thread_rows(n: int, *, join: bool) -> list[list]:  # type: ignore[type-arg]
    rows = []
    for i in range(n):
        new = 4 * i
        threads = 3 if join else 3 + new
        stacks = 2 + new
        names = {"AiApp": 1, "encoder": 2} if join else {"AiApp": 1, "encoder": 2, "rtsp_worker": new}
        rows.append(
            [
                proc(412, "AiApp", threads=threads, stack_count=stacks, stack_bytes=stacks * STACK,
                     stack_size=STACK, thread_names=names, vm_size=64 * MiB + stacks * STACK,
                     rss=10 * MiB + stacks * 16 * 1024),
                proc(500, "steady"),
            ]
        )  # fmt: skip
    return rows


def test_thread_leak_names_the_thread_and_the_stack_size() -> None:
    p = target(device(thread_rows(16, join=False)))
    assert kinds(p)["thread_leak"] == "high"
    assert "unjoined_threads" not in kinds(p)
    f = next(f for f in p.findings if f.kind == "thread_leak")
    assert "rtsp_worker" in f.summary and "8 MiB" in f.summary and "AiApp (pid 412)" in f.summary
    assert f.evidence["thread_name"] == "rtsp_worker"
    assert abs(float(f.evidence["slope_per_hour"] or 0) - 48) < 1  # 4 threads per 5 min
    assert "heap_growth" not in kinds(p)  # the stacks' resident pages are not a second leak


def test_unjoined_threads_when_stacks_outgrow_live_threads() -> None:
    p = target(device(thread_rows(16, join=True)))
    assert kinds(p) == {"unjoined_threads": "high"}
    f = p.findings[0]
    assert "pthread_join" in f.summary and f.evidence["threads"] == 3


def test_stack_growth_when_thread_count_unknown() -> None:
    rows = [
        [proc(7, "AiApp", threads=None, stack_count=2 + 3 * i, stack_bytes=(2 + 3 * i) * STACK)]
        for i in range(10)
    ]
    assert kinds(target(device(rows)))["stack_growth"] in ("medium", "high")


def test_steady_multithreaded_daemon_is_quiet() -> None:
    pool = [5, 7, 6, 8, 5, 9, 6, 7, 8, 5, 6, 9, 7, 6, 8, 5, 7, 6, 9, 6]
    rows = [[proc(9, "AiApp", threads=t, stack_count=t + 1, stack_bytes=(t + 1) * STACK,
                  thread_names={"AiApp": 1, "pool": t - 1})] for t in pool]  # fmt: skip
    assert kinds(target(device(rows))) == {}


def test_fd_and_shm_leaks() -> None:
    rows = [
        [proc(3, "AiApp", fds=10 + 3 * i, shm_count=i, shm_bytes=i * 4 * MiB, vm_size=(64 + 4 * i) * MiB)]
        for i in range(12)
    ]
    k = kinds(target(device(rows)), "medium")
    assert k["fd_leak"] == "high" and k["shm_leak"] == "high"
    assert "vm_growth" not in k  # the shm segments explain the virtual growth


def test_three_samples_are_never_high() -> None:
    rows = thread_rows(3, join=False)
    for row, i in zip(rows, range(3), strict=True):
        row[1] = proc(500, "steady", rss=10 * MiB + i * 50 * MiB, fds=5 + 40 * i)
    dev = analyse_device("cam", device(rows))
    sev = {f.severity for p in dev.processes for f in p.findings} | {f.severity for f in dev.findings}
    assert sev <= {"low", "info"}


def test_restart_masked_leak_is_a_leak_with_restart_findings() -> None:
    rows = []
    for i in range(24):
        life = i // 6  # the watchdog restarts the process every 6 samples
        rows.append([proc(100 + life, "AiApp", start_time=1000 + life * 1800, rss=8 * MiB + (i % 6) * MiB,
                          anon_private=4 * MiB + (i % 6) * MiB)])  # fmt: skip
    p = target(device(rows))
    k = kinds(p, "info")
    assert k["heap_growth"] in ("medium", "high")
    assert "restart" in k
    assert p.pid == 103 and p.restarts == 3
    heap = next(f for f in p.findings if f.kind == "heap_growth")
    assert "across 3 restarts" in heap.summary


def test_restart_alone_is_not_a_leak() -> None:
    rows = [[proc(100 + i // 5, "AiApp", start_time=1000 + (i // 5) * 1500)] for i in range(20)]
    p = target(device(rows))
    assert set(kinds(p, "info")) == {"restart"}
    assert not p.leaking


def test_reboot_is_reported_and_not_taken_for_recovery() -> None:
    rows, boots = [], []
    for i in range(24):
        boot = i // 12
        k = i % 12
        rows.append(
            [proc(412, "AiApp", start_time=1200, anon_private=4 * MiB + k * MiB, rss=8 * MiB + k * MiB)]
        )
        boots.append(f"boot-{boot}")
    dev = analyse_device("cam", device(rows, boot_ids=boots))
    assert [f.kind for f in dev.findings if f.kind == "reboot"] == ["reboot"]
    p = dev.processes[0]
    assert p.restarts == 0  # every process is new after a reboot; that is the reboot's story
    assert kinds(p)["heap_growth"] == "high"


def test_reboot_without_boot_id_is_found_by_uptime() -> None:
    up = [100.0 + 300 * i for i in range(10)] + [50.0 + 300 * i for i in range(10)]
    rows = [[proc(1, "init")] for _ in range(20)]
    dev = analyse_device("cam", device(rows, boot_ids=[None] * 20, uptimes=up))
    assert dev.boots == 2 and any(f.kind == "reboot" for f in dev.findings)


def test_32_bit_address_space_forecast() -> None:
    rows = [[proc(5, "AiApp", address_bits=32, vm_size=1024 * MiB + i * 64 * MiB)] for i in range(12)]
    p = target(device(rows))
    f = next(f for f in p.findings if f.kind == "address_space_exhaustion")
    true_eta = (3072 - (1024 + 11 * 64)) / 64 * 300
    assert p.address_space_exhausted_in_s is not None
    assert abs(p.address_space_exhausted_in_s - true_eta) < 0.05 * true_eta
    assert f.severity == "high" and "32-bit" in f.summary


def test_json_shapes() -> None:
    dev = analyse_device("cam-001", device(thread_rows(10, join=False)))
    d = dev.to_json()
    assert set(d) >= {"name", "score", "memory_exhausted_in_s", "findings", "processes", "samples"}
    proc_json = d["processes"][0]
    assert set(proc_json) == {"pid", "start_time", "name", "exe", "cmdline", "score", "findings"}
    assert set(proc_json["findings"][0]) == {"kind", "severity", "summary", "evidence"}
    assert d["first_sample"].endswith("Z") and 0 <= d["score"] <= 1
    assert dev.processes[0].series("threads")[0][1] == 3
