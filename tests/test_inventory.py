"""Inventory loading: merging order, path resolution, and one clear line per error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.inventory import InventoryError, load_inventory, parse_inventory

GOOD = """\
defaults:
  user: root
  timeout: 5
  identity_file: keys/fleet
groups:
  cameras:
    user: admin
    legacy_algorithms: true
  slow:
    timeout: 60
devices:
  cam-1:
    host: 10.0.0.1
    groups: [cameras, slow]
    tags: [building-a]
  gw-1:
    host: 10.0.0.2
    port: 2222
    user: op
"""


def test_defaults_groups_devices_merge_in_order(tmp_path: Path) -> None:
    inv = parse_inventory(GOOD, tmp_path / "inv.yaml")
    cam, gw = inv.devices
    assert (cam.user, cam.timeout, cam.legacy_algorithms) == ("admin", 60.0, True)
    assert (gw.user, gw.port, gw.timeout, gw.legacy_algorithms) == ("op", 2222, 5.0, False)
    assert cam.identity_files == (str(tmp_path / "keys/fleet"),)  # relative to the inventory file
    assert cam.groups == ("cameras", "slow") and cam.tags == ("building-a",)


def test_select_by_name_group_or_tag(tmp_path: Path) -> None:
    inv = parse_inventory(GOOD, tmp_path / "inv.yaml")
    assert [d.name for d in inv.select(["gw-1"])] == ["gw-1"]
    assert [d.name for d in inv.select(["cameras"])] == ["cam-1"]
    assert [d.name for d in inv.select(["building-a", "gw-1"])] == ["cam-1", "gw-1"]
    assert len(inv.select(None)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("devices:\n  cam-7:\n    host: x\n    prot: 22\n", "inv.yaml:4: devices.cam-7.prot: unknown key"),
        (
            "devices:\n  cam-7:\n    user: x\n",
            "inv.yaml:2: devices.cam-7.host: missing: every device needs a host",
        ),
        ("devices:\n  a:\n    host: x\n    port: 70000\n", "inv.yaml:4: devices.a.port: bad port 70000"),
        ("devices:\n  a:\n    host: x\n    port: '22'\n", "inv.yaml:4: devices.a.port: bad port '22'"),
        (
            "devices:\n  a:\n    host: x\n    groups: [nope]\n",
            "inv.yaml:4: devices.a.groups: unknown group 'nope'",
        ),
        ("devices:\n  a:\n    host: x\n  a:\n    host: y\n", "inv.yaml:4: devices.a: duplicate key"),
        ("defaults:\n  usr: root\ndevices:\n  a:\n    host: x\n", "inv.yaml:2: defaults.usr: unknown key"),
        (
            "groups:\n  g:\n    host: x\ndevices:\n  a:\n    host: x\n",
            "inv.yaml:3: groups.g.host: unknown key",
        ),
        ("devicez:\n  a:\n    host: x\n", "inv.yaml:1: devicez: unknown key"),
        (
            "devices:\n  a:\n    host: x\n    host_key_checking: maybe\n",
            "devices.a.host_key_checking: must be one",
        ),
        ("devices:\n  a:\n    host: x\n    timeout: -1\n", "inv.yaml:4: devices.a.timeout: bad timeout -1"),
        ("devices:\n  ../../etc:\n    host: x\n", "inv.yaml:2: devices.../../etc: device names may not"),
        ("devices: [\n", "inv.yaml:2: invalid YAML"),
        ("defaults:\n  user: root\n", "devices: missing"),
        ("", "empty inventory"),
    ],
)
def test_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, Path("inv.yaml"))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_file_is_an_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "missing.yaml")


def test_shipped_example_is_valid() -> None:
    inv = load_inventory(Path(__file__).parent.parent / "inventory" / "example.yaml")
    assert {d.name for d in inv.devices} == {"cam-001", "cam-002", "gw-01"}
    cam = next(d for d in inv.devices if d.name == "cam-001")
    assert cam.password_env == "CAM_PASSWORD" and cam.legacy_algorithms and cam.user == "admin"
