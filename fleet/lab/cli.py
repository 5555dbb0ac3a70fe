"""``fleet lab start|stop|status``: a typer sub-app, mounted by fleet/cli.py as ``fleet lab``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from fleet.lab.lab import LabError, lab_status, load_lab, start_lab, stop_lab
from fleet.lab.profiles import EXTRAS, PROFILES

lab_app = typer.Typer(
    help="The emulated lab: Dropbear + BusyBox devices in namespaces on this machine.",
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

DirOption = Annotated[Path, typer.Option("--dir", help="Lab directory (state, keys, inventory).")]


@lab_app.command()
def start(
    dir: DirOption = Path(".lab"),
    devices: Annotated[int, typer.Option(min=0, max=51200, help="Number of devices lab-01..")] = 8,
    profile: Annotated[str, typer.Option(help=f"{' | '.join(PROFILES)}")] = "mixed",
    extra: Annotated[list[str] | None, typer.Option(help=f"Extra device: {' | '.join(EXTRAS)}")] = None,
    subnet: Annotated[str, typer.Option(help="Devices live at SUBNET.0.1, SUBNET.0.2, ...")] = "127.77",
    speed: Annotated[float, typer.Option(help="Divide workload intervals by this.")] = 1.0,
) -> None:
    """Build the workloads and start the devices; returns once every device listens."""
    t0 = time.monotonic()
    try:
        lab = start_lab(dir, devices, subnet=subnet, profile=profile, extras=tuple(extra or ()), speed=speed)
    except (LabError, ValueError) as exc:
        typer.echo(f"fleet lab start: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{len(lab.devices)} devices up in {time.monotonic() - t0:.1f} s ({profile})")
    typer.echo(f"inventory: {lab.inventory}")
    typer.echo(f"stop with: fleet lab stop --dir {dir}")


@lab_app.command()
def stop(dir: DirOption = Path(".lab")) -> None:
    """SIGKILL the lab's recorded unshare pids (safe to repeat)."""
    try:
        killed = stop_lab(dir)
    except LabError as exc:
        typer.echo(f"fleet lab stop: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"stopped {len(killed)} devices")


@lab_app.command()
def status(dir: DirOption = Path(".lab")) -> None:
    """One line per device: address, up or down, processes, memory (PSS) and workloads."""
    loaded = load_lab(dir)
    if loaded is None:
        typer.echo(f"no lab in {dir}")
        raise typer.Exit(1)
    lab, stopped = loaded
    rows = lab_status(lab)
    up = sum(r.listening for r in rows)
    total = sum(r.pss_kib for r in rows)
    typer.echo(f"{lab.dir}: {lab.profile}, {up}/{len(rows)} up{' (stopped)' if stopped else ''}")
    for r in rows:
        d = r.device
        state = "up" if r.listening else ("running" if r.running else "down")
        what = ",".join(d.comms) + ("" if d.shell == "sh" else f" [{d.shell}]")
        typer.echo(
            f"{d.name:12} {d.host:15} {state:7} {r.processes:3} procs {r.pss_kib / 1024:7.1f} MiB  {what}"
        )
    if rows:
        typer.echo(f"total PSS {total / 1024:.1f} MiB, {total / len(rows) / 1024:.2f} MiB per device")
