"""The emulated lab: real Dropbear + BusyBox devices, each seeing only its own processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncssh
import pytest

from fleet.capture.script import capture_script, new_token
from fleet.capture.split import Capture, split_capture
from fleet.lab import (
    Lab,
    LabDevice,
    LabError,
    check_host,
    free_subnet,
    lab_status,
    load_lab,
    procs,
    start_lab,
    stop_lab,
)
from fleet.lab.profiles import MIXED_PATTERN, WORKLOADS, device_host, plan, settings
from fleet.procfs import parse_stat


def _unavailable() -> str:
    try:
        check_host()
    except LabError as exc:
        return str(exc)
    return ""


needs_lab = pytest.mark.skipif(bool(_unavailable()), reason=f"emulated lab unavailable: {_unavailable()}")
# Processes every device has besides its workloads: PID 1, Dropbear (listener + session), the
# respawn loop and its sleep, and the capture's own shell and cat.
BASE_COMMS = {"init", "dropbear", "respawn", "sleep", "sh", "cat"}


async def _capture(lab: Lab, device: LabDevice, *, key: Path | None = None, timeout: float = 10) -> Capture:
    async with asyncssh.connect(
        device.host,
        port=device.port,
        username="root",
        client_keys=[str(key or lab.identity_file)],
        known_hosts=str(lab.known_hosts),
    ) as conn:
        token = new_token()
        result = await asyncio.wait_for(
            conn.run("sh -s", input=capture_script(token).encode(), encoding=None), timeout
        )
        assert isinstance(result.stdout, bytes)
        return split_capture(result.stdout, token)


def capture_all(lab: Lab, devices: list[LabDevice]) -> list[Capture]:
    async def run() -> list[Capture]:
        return list(await asyncio.gather(*(_capture(lab, d) for d in devices)))

    return asyncio.run(run())


def by_comm(cap: Capture) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for pid, p in cap.processes.items():
        if pid in p.tasks:
            out.setdefault(p.tasks[pid], []).append(pid)
    return out


# --- pure planning (no root needed) -------------------------------------------------------------


def test_mixed_profile_covers_every_workload_in_eight_devices() -> None:
    specs = plan("mixed", 8)
    # hostile runs on its own extra device (lab-hostile), not in the mixed profile
    assert {w for s in specs for w in s.workloads} == set(WORKLOADS) - {"hostile"}
    assert all(len(s.workloads) >= 2 for s in specs)  # a leak (or two) plus flat processes
    assert [s.name for s in specs] == [f"lab-0{i}" for i in range(1, 9)]
    assert len(MIXED_PATTERN) == 8


def test_addresses_are_unique_and_leave_250_free() -> None:
    specs = plan("light", 1000, extras=("hang", "banner"))
    hosts = [s.host for s in specs]
    assert len(set(hosts)) == len(hosts)
    assert "127.77.0.250" not in hosts
    assert device_host("127.77", 1) == "127.77.0.1" and device_host("127.77", 201) == "127.77.1.1"
    assert specs[-2].name == "lab-hang" and specs[-2].shell == "hang"


def test_speed_divides_durations_only() -> None:
    env = settings("thread_leak", speed=4)
    assert env == {"LAB_INTERVAL_MS": "250", "LAB_MAX": "600"}
    assert settings("restart_leak", override={"LAB_LIFETIME_S": 3})["LAB_LIFETIME_S"] == "3"
    with pytest.raises(ValueError):
        plan("heavy", 1)


# --- the running lab ----------------------------------------------------------------------------


@pytest.mark.lab
def test_each_device_sees_only_its_own_processes(lab: Lab) -> None:
    devices = [d for d in lab.devices if d.shell == "sh"]
    assert len(devices) == 8
    for device, cap in zip(devices, capture_all(lab, devices), strict=True):
        assert cap.complete, device.name
        comms = by_comm(cap)
        assert comms["init"] == [1], device.name  # its own pid namespace
        unexpected = set(comms) - BASE_COMMS - set(device.comms)
        assert not unexpected, f"{device.name} sees {unexpected}"
        for name in device.comms:
            if name == "streamer" and name not in comms:
                continue  # between two lives: the respawn loop's `sleep 1`
            assert name in comms, f"{device.name}: {name} missing from {sorted(comms)}"
            threads = set(cap.processes[comms[name][0]].tasks.values())
            assert set(device.thread_names[name]) <= threads, f"{device.name}/{name}: {threads}"
        assert "/proc/meminfo" in cap.files and cap.preamble == ""


@pytest.mark.lab
def test_busybox_userland_and_inventory(lab: Lab) -> None:
    async def run() -> str:
        d = lab.device("lab-01")
        async with asyncssh.connect(
            d.host, username="root", client_keys=[str(lab.identity_file)], known_hosts=str(lab.known_hosts)
        ) as conn:
            result = await conn.run(
                "readlink /bin/sh; readlink /usr/bin/cat; echo $SHELL; wc -c </proc/timer_list; ls /opt",
                check=True,
            )
            return str(result.stdout)

    out = asyncio.run(run()).split()
    assert out[:3] == ["busybox", "busybox", "/bin/sh"]
    # Masked like a container's: Dropbear reads it per handshake and the host's grows with the lab.
    assert out[3] == "0" and Path("/proc/timer_list").read_bytes(), "masked in the device only"
    assert {"AiApp", "respawn", "hangsh"} <= set(out[4:])
    text = lab.inventory.read_text()
    assert "host_key_checking: strict" in text and str(lab.known_hosts) in text
    assert all(f"{d.name}:" in text for d in lab.devices)
    assert lab.identity_file.stat().st_mode & 0o077 == 0


@pytest.mark.lab
def test_leaks_grow_between_captures(lab: Lab) -> None:
    names = ["lab-01", "lab-02", "lab-04", "lab-05"]
    devices = [lab.device(n) for n in names]

    def measure() -> dict[str, int]:
        caps = dict(zip(names, capture_all(lab, devices), strict=True))

        def proc(dev: str, comm: str) -> dict[str, str]:
            cap = caps[dev]
            return cap.processes[by_comm(cap)[comm][0]].files

        def threads(dev: str, comm: str) -> int:
            return parse_stat(proc(dev, comm)["stat"]).num_threads  # field 20, as status's Threads

        fds = caps["lab-04"].processes[by_comm(caps["lab-04"])["uploader"][0]].fd_count
        return {
            "AiApp threads": threads("lab-01", "AiApp"),
            "onvifd threads": threads("lab-02", "onvifd"),
            "onvifd maps": len(proc("lab-02", "onvifd")["maps"].splitlines()),
            "uploader fds": fds or 0,
            "vencd shm": proc("lab-05", "vencd")["maps"].count("/SYSV"),
        }

    before = measure()
    # Readiness, not a fixed sleep: poll until every counter moved (2 events/s at speed 2).
    for _ in range(40):
        time.sleep(0.25)  # poll interval
        after = measure()
        if all(after[k] > before[k] for k in before if k != "onvifd threads"):
            break
    assert after["AiApp threads"] > before["AiApp threads"]
    assert after["onvifd maps"] > before["onvifd maps"]
    assert after["onvifd threads"] <= 3  # exited threads: stacks stay, Threads does not grow
    assert after["uploader fds"] > before["uploader fds"]
    assert after["vencd shm"] > before["vencd shm"]


@pytest.mark.lab
def test_hanging_device_accepts_login_but_never_finishes(lab: Lab) -> None:
    async def run() -> None:
        d = lab.device("lab-hang")
        async with asyncssh.connect(
            d.host, username="root", client_keys=[str(lab.identity_file)], known_hosts=str(lab.known_hosts)
        ) as conn:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(conn.run("sh -s", input="echo hi\n"), 1.5)

    asyncio.run(run())


@pytest.mark.lab
def test_wrong_key_is_refused(lab: Lab) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        asyncio.run(_capture(lab, lab.device("lab-01"), key=lab.wrong_identity_file))


@pytest.mark.lab
@needs_lab
def test_banner_device_and_stop_leaves_nothing(tmp_path: Path) -> None:
    lab = start_lab(tmp_path, 1, subnet=free_subnet(), profile="light", extras=("banner",))
    try:
        banner = asyncio.run(_capture(lab, lab.device("lab-banner")))
        assert banner.complete and "firmware" in banner.preamble
        light = asyncio.run(_capture(lab, lab.device("lab-01")))
        assert set(by_comm(light)) <= BASE_COMMS | {"netmgr"}
        assert all(s.listening and s.pss_kib > 0 for s in lab_status(lab))
        recorded = [(d.pid, d.start_time) for d in lab.devices]
        recorded += [(d.init_pid, d.init_start_time) for d in lab.devices if d.init_pid]
        assert len(recorded) == 4
    finally:
        killed = stop_lab(tmp_path)
    assert sorted(killed) == sorted(d.pid for d in lab.devices)
    assert not any(procs.is_running(pid, started) for pid, started in recorded)
    assert stop_lab(tmp_path) == []  # twice is fine
    loaded = load_lab(tmp_path)
    assert loaded is not None and loaded[1]  # marked stopped


def test_static_lab_inventory_matches_the_default_lab() -> None:
    """inventory/lab.yaml (README's main job) describes what `fleet lab start --dir .lab` starts."""
    inventory = pytest.importorskip("fleet.inventory.load")
    path = Path(__file__).parents[2] / "inventory" / "lab.yaml"
    inv = inventory.load_inventory(path)
    devices = {d.name: d for d in inv.devices}
    for spec in plan("mixed", 8):
        assert devices[spec.name].host == spec.host
        assert devices[spec.name].groups == spec.workloads
    assert devices["lab-offline"].host == "127.77.0.250"
    assert Path(devices["lab-wrongkey"].identity_files[0]).name == "wrong_ed25519"
    lab_dir = path.parent.parent / ".lab"
    assert Path(devices["lab-01"].known_hosts or "").resolve() == (lab_dir / "known_hosts").resolve()


@pytest.mark.lab
def test_generated_inventory_loads(lab: Lab) -> None:
    inventory = pytest.importorskip("fleet.inventory.load")
    inv = inventory.load_inventory(lab.inventory)
    assert [d.name for d in inv.devices] == [d.name for d in lab.devices]
    assert {d.host_key_checking for d in inv.devices} == {"strict"}
    assert [d.name for d in inv.select(["hang"])] == ["lab-hang"]
    assert {d.name for d in inv.select(["thread_leak"])} == {"lab-01", "lab-05", "lab-08"}


@pytest.mark.lab
@needs_lab
def test_cli_start_status_stop(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleet.lab.cli import lab_app

    runner = CliRunner()
    args = ["--dir", str(tmp_path)]
    try:
        started = runner.invoke(lab_app, ["start", *args, "--devices", "2", "--subnet", free_subnet()])
        assert started.exit_code == 0, started.output
        assert "2 devices up" in started.output
        again = runner.invoke(lab_app, ["start", *args, "--devices", "2", "--subnet", free_subnet()])
        assert again.exit_code == 2 and "already running" in again.output
        status = runner.invoke(lab_app, ["status", *args])
        assert status.exit_code == 0 and "2/2 up" in status.output and "AiApp" in status.output
    finally:
        stopped = runner.invoke(lab_app, ["stop", *args])
    assert stopped.exit_code == 0 and "stopped 2 devices" in stopped.output
    assert "0/2 up (stopped)" in runner.invoke(lab_app, ["status", *args]).output


@pytest.mark.lab
@pytest.mark.slow
@needs_lab
def test_hundred_light_devices_start_fast(tmp_path: Path) -> None:
    t0 = time.monotonic()
    lab = start_lab(tmp_path, 100, subnet=free_subnet(), profile="light")
    try:
        elapsed = time.monotonic() - t0
        assert elapsed < 30, f"100 light devices took {elapsed:.1f} s"
        rows = lab_status(lab)
        assert all(r.listening for r in rows)
        per_device_mib = sum(r.pss_kib for r in rows) / len(rows) / 1024
        assert per_device_mib < 4, f"{per_device_mib:.2f} MiB PSS per light device"
        caps = capture_all(lab, list(lab.devices[:: len(lab.devices) // 10]))
        assert all(c.complete and "netmgr" in by_comm(c) for c in caps)
    finally:
        stop_lab(tmp_path)
