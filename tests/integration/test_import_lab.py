"""The method's own shell loop run on a lab device, then `fleet import` and `fleet rank`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncssh
import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.lab import Lab

pytestmark = pytest.mark.lab
ROUNDS = 8

# The seed's loop, verbatim in spirit: cat meminfo, the process's maps, slabinfo; sleep; repeat.
METHOD_LOOP = """
pid=$(pidof AiApp | cut -d' ' -f1)
i=0
while [ $i -lt {rounds} ]; do
  cat /proc/meminfo; cat /proc/$pid/maps; cat /proc/slabinfo; sleep 1
  i=$((i+1))
done
"""


async def run_on(lab: Lab, host: str, script: str) -> bytes:
    async with asyncssh.connect(
        host, username="root", client_keys=[str(lab.identity_file)], known_hosts=str(lab.known_hosts)
    ) as conn:
        result = await conn.run("sh -s", input=script.encode(), encoding=None, check=True)
        assert isinstance(result.stdout, bytes)
        return result.stdout


def test_method_log_of_a_thread_leak_imports_and_ranks(lab: Lab, tmp_path: Path) -> None:
    device = next(d for d in lab.devices if d.workloads[0] == "thread_leak" and d.shell == "sh")
    log = tmp_path / "mem_log.txt"
    log.write_bytes(asyncio.run(run_on(lab, device.host, METHOD_LOOP.format(rounds=ROUNDS))))
    store = tmp_path / "store"
    runner = CliRunner()
    res = runner.invoke(
        app, ["import", str(log), "--device", "cam-imported", "--store", str(store), "--interval", "1"]
    )
    assert res.exit_code == 0, res.output
    assert f"imported {ROUNDS} samples of cam-imported (method-log)" in res.output
    doc = json.loads(runner.invoke(app, ["rank", "--store", str(store), "--json"]).output)
    (dev,) = doc["devices"]
    assert dev["name"] == "cam-imported" and dev["samples"] == ROUNDS
    (proc,) = dev["processes"]
    assert proc["name"] == "AiApp"
    # maps alone cannot count live threads: the method's log shows stack growth, not which kind
    kinds = {f["kind"] for f in proc["findings"]}
    assert kinds & {"stack_growth", "thread_leak", "unjoined_threads"}, proc["findings"]


def test_fleet_maps_finds_thread_stacks_by_shape_on_a_live_process(lab: Lab, tmp_path: Path) -> None:
    device = next(d for d in lab.devices if d.workloads[0] == "thread_leak" and d.shell == "sh")
    out = asyncio.run(
        run_on(
            lab,
            device.host,
            "pid=$(pidof AiApp | cut -d' ' -f1); ls /proc/$pid/task | wc -l; echo @@;"
            " cat /proc/$pid/maps; echo @@; ls /proc/$pid/task | wc -l",
        )
    )
    before, maps, after = out.decode().split("@@\n")
    (tmp_path / "maps").write_text(maps)
    doc = json.loads(CliRunner().invoke(app, ["maps", str(tmp_path / "maps"), "--json"]).output)
    # Every thread but the main one has a stack found by shape (modern kernel: no [stack:TID]).
    # The process keeps making threads: counted before and after its maps are read (a new one's
    # stack is mapped just before it runs).
    assert int(before) - 1 <= doc["classes"]["thread_stack"]["count"] <= int(after)
    assert doc["stack_size"] == 8 * 1024 * 1024
    assert doc["classes"]["guard"]["count"] >= int(before) - 1
