"""Ansible inventories (INI and YAML) -> the same Device records, with file:line:key errors."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
import yaml

from fleet.collect.collector import collect
from fleet.collect.options import CollectOptions
from fleet.inventory.ansible import detect_format
from fleet.inventory.load import load_inventory
from fleet.inventory.model import InventoryError
from fleet.lab import Lab
from fleet.store.store import Store

INI = """\
# site inventory
gw-0 ansible_host=10.0.0.1

[cameras]
cam[01:03] ansible_user=admin
cam-x ansible_host=10.0.9.9 ansible_port=2222 ansible_ssh_private_key_file=keys/cam fleet_tags=roof,west

[cameras:vars]
ansible_password="{{ lookup('env', 'CAM_PW') }}"
fleet_legacy_algorithms=true
ntp_server=10.0.0.53

[site:children]
cameras

[site:vars]
ansible_user=ops
ansible_ssh_common_args='-o ProxyJump=jump@bastion:2200 -o StrictHostKeyChecking=accept-new'

[local]
localhost ansible_connection=local
"""

YAML = """\
all:
  vars:
    ansible_user: ops
  hosts:
    gw-0:
      ansible_host: 10.0.0.1
  children:
    site:
      vars:
        ansible_ssh_common_args: -J jump@bastion:2200 -o StrictHostKeyChecking=accept-new
      children:
        cameras:
          vars:
            ansible_password: "{{ lookup('env', 'CAM_PW') }}"
            fleet_legacy_algorithms: true
            app_setting: whatever
          hosts:
            cam[01:03]:
              ansible_user: admin
            cam-x:
              ansible_host: 10.0.9.9
              ansible_port: 2222
              ansible_ssh_private_key_file: keys/cam
              fleet_tags: [roof, west]
"""


def test_format_detection() -> None:
    assert detect_format(INI) == "ansible-ini"
    assert detect_format(YAML) == "ansible-yaml"
    assert detect_format("devices:\n  a:\n    host: x\n") == "fleet"
    assert detect_format("device:\n  a:\n    host: x\n") == "fleet"  # typo: the native error explains
    assert detect_format("host1 ansible_host=1.2.3.4\nhost2\n") == "ansible-ini"


@pytest.mark.parametrize(("name", "text"), [("hosts.ini", INI), ("hosts.yml", YAML)])
def test_ini_and_yaml_resolve_alike(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    devs = {d.name: d for d in load_inventory(path).devices}
    assert sorted(devs) == ["cam-x", "cam01", "cam02", "cam03", "gw-0"]  # localhost: not a device
    cam = devs["cam02"]
    assert (cam.host, cam.user, cam.password_env, cam.legacy_algorithms) == ("cam02", "admin", "CAM_PW", True)
    assert (cam.proxy_jump, cam.host_key_checking) == ("jump@bastion:2200", "accept-new")
    assert set(cam.groups) == {"site", "cameras"}
    x = devs["cam-x"]
    assert (x.host, x.port, x.user, x.tags) == ("10.0.9.9", 2222, "ops", ("roof", "west"))
    assert x.identity_files == (str(tmp_path / "keys/cam"),)
    gw = devs["gw-0"]
    assert (gw.host, gw.password_env, gw.legacy_algorithms, gw.host_key_checking) == (
        "10.0.0.1",
        None,
        False,
        "strict",
    )


def test_firmware_files_from_ini_and_yaml(tmp_path: Path) -> None:
    """``fleet_firmware_files``: comma-separated in INI (as fleet_tags), a list in YAML; checked alike."""
    ini = tmp_path / "hosts"
    ini.write_text("[cams]\nc1\n[cams:vars]\nfleet_firmware_files=/opt/app/VERSION, /etc/os-release\n")
    assert load_inventory(ini).devices[0].firmware_files == ("/opt/app/VERSION", "/etc/os-release")
    yml = tmp_path / "hosts.yml"
    yml.write_text("all:\n  hosts:\n    c1:\n      fleet_firmware_files: [/etc/fw_version]\n")
    assert load_inventory(yml).devices[0].firmware_files == ("/etc/fw_version",)
    ini.write_text("[cams]\nc1 fleet_firmware_files=etc/version\n")
    expected = r"hosts:2: c1\.fleet_firmware_files: 'etc/version' is not an absolute path"
    with pytest.raises(InventoryError, match=expected):
        load_inventory(ini)


def test_host_vars_beat_child_groups_beat_parents(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(
        "[a]\nh1 ansible_port=2201\nh2\n[b:children]\na\n[b:vars]\nansible_port=2300\nansible_user=b\n"
        "[a:vars]\nansible_user=a\n[all:vars]\nansible_user=all\nansible_port=22\n"
    )
    devs = {d.name: d for d in load_inventory(path).devices}
    assert (devs["h1"].port, devs["h1"].user) == (2201, "a")
    assert (devs["h2"].port, devs["h2"].user) == (2300, "a")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[g]\nh ansible_port=x\n", "hosts:2: h.ansible_port: bad port 'x'"),
        ("[g]\nh fleet_legacy=true\n", "hosts:2: h.fleet_legacy: unknown fleet setting"),
        ("[g:vars]\nfleet_timeout=-1\n[g]\nh\n", "hosts:2: g:vars.fleet_timeout: bad timeout -1.0"),
        ("[g]\nh ansible_connection=docker\n", "hosts:2: h.ansible_connection: connection 'docker'"),
        ("[a:children]\nb\n[b:children]\na\n[a]\nh\n", "hosts:1: a.children: groups contain each other"),
        ("[g]\nh ansible_host={{ x }}\n", "hosts:2: h.ansible_host: Jinja templates are not evaluated"),
        (
            "all:\n  hosts:\n    h:\n      ansible_port: 0\n",
            "hosts:4: all.hosts.h.ansible_port: bad port 0",
        ),
        ("all:\n  host:\n    h:\n", "hosts:2: all.host: unknown key (an Ansible group has hosts"),
        (
            "[g]\nh ansible_connection=paramiko fleet_legacy_algorithms=true\n",
            "hosts:2: h.legacy_algorithms: not available with transport: paramiko",
        ),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "hosts"
    path.write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(expected)


@pytest.mark.parametrize(
    ("name", "text", "mode"),
    [
        ("hosts.yml", "all:\n  vars:\n    fleet_host_key_checking: off\n  hosts:\n    h:\n", "off"),
        ("hosts.yml", "all:\n  vars:\n    fleet_host_key_checking: False\n  hosts:\n    h:\n", "off"),
        ("hosts.yml", "all:\n  vars:\n    fleet_host_key_checking: on\n  hosts:\n    h:\n", "strict"),
        ("hosts.yml", "all:\n  hosts:\n    h:\n      ansible_host_key_checking: off\n", "off"),
        ("hosts", "[all:vars]\nfleet_host_key_checking=False\n[g]\nh\n", "off"),
        ("hosts", "[g]\nh fleet_host_key_checking=no\n", "off"),
        ("hosts", "[g]\nh fleet_host_key_checking=off\n", "off"),
        ("hosts", "[g]\nh fleet_host_key_checking=True\n", "strict"),
        ("hosts", "[g]\nh fleet_host_key_checking=accept-new\n", "accept-new"),
    ],
)
def test_host_key_checking_takes_booleans_as_ansible_users_write_them(
    tmp_path: Path, name: str, text: str, mode: str
) -> None:
    """Issue 22, item 8: ``False`` / unquoted ``off`` were refused; they mean off, true means strict."""
    (tmp_path / name).write_text(text)
    assert load_inventory(tmp_path / name).devices[0].host_key_checking == mode


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "all:\n  hosts:\n    h:\n      ansible_port: 022\n",
            "hosts:4: all.hosts.h.ansible_port: bad number '022'",
        ),
        (
            "all:\n  vars:\n    fleet_timeout: .nan\n  hosts:\n    h:\n",
            "hosts:3: all.vars.fleet_timeout: bad timeout",
        ),
        (
            "[g]\nh ansible_port=022\n",
            "hosts:2: h.ansible_port: bad port '022': write it without leading zeros",
        ),
        ("[g]\nh fleet_timeout=inf\n", "hosts:2: h.fleet_timeout: bad timeout inf"),
        ("[g]\nh fleet_timeout=nan\n", "hosts:2: h.fleet_timeout: bad timeout nan"),
    ],
)
def test_misread_ports_and_non_finite_timeouts_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "hosts").write_text(text)
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path / "hosts")
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(expected)


def test_playbook_variables_fleet_ignores_may_hold_any_yaml_number(tmp_path: Path) -> None:
    """``mode: 0644`` is a playbook's business (octal on purpose): only what fleet reads is checked."""
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    mode: 0644\n  hosts:\n    h:\n      ansible_port: 2022\n"
    )
    assert load_inventory(tmp_path / "hosts.yml").devices[0].port == 2022


@pytest.mark.parametrize("var", ["ansible_password", "ansible_ssh_pass"])
def test_literal_passwords_are_refused_without_repeating_them(tmp_path: Path, var: str) -> None:
    path = tmp_path / "hosts"
    path.write_text(f"[g]\nh {var}=Hunter2-secret\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(path)
    assert f"hosts:2: h.{var}: a secret written in the inventory is not used" in str(err.value)
    assert "Hunter2" not in str(err.value) and "lookup('env'" in str(err.value)


def lab_as_ansible(lab: Lab, path: Path) -> Path:
    """The lab's native inventory rewritten as an Ansible INI inventory."""
    doc = yaml.safe_load(lab.inventory.read_text())
    dflt = doc["defaults"]
    lines = [
        "[all:vars]",
        f"ansible_user={dflt['user']}",
        f"ansible_ssh_private_key_file={dflt['identity_file']}",
        f"fleet_known_hosts={dflt['known_hosts']}",
        f"fleet_timeout={dflt['timeout']}",
    ]
    members: dict[str, list[str]] = {}
    for name, d in doc["devices"].items():
        for g in d["groups"]:
            members.setdefault(g, []).append(name)
        lines.insert(0, f"{name} ansible_host={d['host']} fleet_tags={','.join(d['tags'])}")
    for g, names in members.items():
        lines += [f"[{g}]", *names]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ansible_inventory_of_the_lab_collects_the_same_devices(lab: Lab, tmp_path: Path) -> None:
    native = {d.name: d for d in load_inventory(lab.inventory).devices}
    ansible = {d.name: d for d in load_inventory(lab_as_ansible(lab, tmp_path / "hosts.ini")).devices}
    assert native.keys() == ansible.keys()
    for name, d in native.items():
        assert dataclasses.replace(ansible[name], groups=d.groups) == d, name
        assert set(ansible[name].groups) == set(d.groups)
    devs = [d for d in ansible.values() if d.name != "lab-hang"]
    with Store(tmp_path / "store") as st:
        outcomes = asyncio.run(collect(devs, st, CollectOptions(samples=1, interval=0)))
    assert {o.status for o in outcomes} == {"ok"}, [(o.name, o.error) for o in outcomes]
