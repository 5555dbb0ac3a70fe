"""Ansible inventories (INI and YAML) -> the same Device records, with file:line:key errors."""

from __future__ import annotations

import asyncio
import dataclasses
import json
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
        (
            "[g]\nh ansible_connection=ansible.builtin.paramiko_ssh fleet_legacy_algorithms=true\n",
            "hosts:2: h.legacy_algorithms: not available with transport: paramiko",
        ),
        ("[a:children]\nb\n[b:children]\na\n[a]\nh\n", "hosts:1: a.children: groups contain each other"),
        ('[g]\nh ansible_host="{{ x }}"\n', "hosts:2: h.ansible_host: Jinja templates are not evaluated"),
        (
            "[g]\nh ansible_host={{ x }}\n",
            "hosts:2: g.h: expected key=value, not 'x'",
        ),  # as Ansible splits it
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


# --- Ansible fidelity: group_vars/, host_vars/, host:port, directories, JSON, vault, ssh options ---

VAULT = "!vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162636465\n"


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_group_vars_and_host_vars_beside_the_inventory(tmp_path: Path) -> None:
    """Issue 25: fleet ignored group_vars/ and host_vars/ and connected as root, with no key, to the
    host's name, where Ansible used ops, the key and 192.0.2.10."""
    _tree(
        tmp_path,
        {
            "hosts.ini": "[cams]\ncam-1\nnvr-1:2222\n[cams:vars]\nansible_user=camuser\n",
            "group_vars/all.yml": "ansible_user: ops\nansible_ssh_private_key_file: /keys/ops\n",
            "host_vars/cam-1.yml": "ansible_host: 192.0.2.10\n",
        },
    )
    inv = load_inventory(tmp_path / "hosts.ini")
    cam, nvr = inv.devices
    assert (cam.name, cam.host, cam.port, cam.user, cam.identity_files) == (
        "cam-1",
        "192.0.2.10",
        22,
        "ops",  # group_vars/all outranks the inventory file's [cams:vars], as in Ansible
        ("/keys/ops",),
    )
    assert (nvr.name, nvr.host, nvr.port) == ("nvr-1", "nvr-1", 2222)
    sources = inv.sources["cam-1"]
    assert sources["user"] == f"group_vars:{tmp_path / 'group_vars/all.yml'}:1"
    assert sources["host"] == f"host_vars:{tmp_path / 'host_vars/cam-1.yml'}:1"
    assert inv.sources["nvr-1"]["port"] == "host"


def test_only_the_value_in_use_is_checked(tmp_path: Path) -> None:
    """As in Ansible, a value overridden everywhere it applies is never used, so never refused."""
    _tree(
        tmp_path, {"hosts": "[g]\nh\n[g:vars]\nansible_port=x\n", "host_vars/h.yml": "ansible_port: 2022\n"}
    )
    assert load_inventory(tmp_path / "hosts").devices[0].port == 2022
    (tmp_path / "host_vars/h.yml").unlink()
    with pytest.raises(InventoryError, match=r"hosts:4: g:vars\.ansible_port: bad port 'x'"):
        load_inventory(tmp_path / "hosts")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"hosts": "[g]\nh\n[g:vars]\nansible_ssh_common_args='-o ProxyCommand=\"ssh -W %h:%p b\"'\n"},
            "hosts:4: g:vars.ansible_ssh_common_args: ssh option ProxyCommand is not supported: fleet runs"
            " no local command",
        ),
        (
            {"hosts": "[g]\nh\n", "group_vars/g.yml": "x: 1\nansible_ssh_extra_args: -o ProxyCommand=nc\n"},
            "group_vars/g.yml:2: ansible_ssh_extra_args: ssh option ProxyCommand is not supported",
        ),
        (
            {"hosts": "[g]\nh ansible_ssh_common_args='-p 2222'\n"},
            "hosts:2: h.ansible_ssh_common_args: ssh option -p is not read by fleet: set ansible_port",
        ),
        (
            {"hosts": "[g]\nh ansible_ssh_common_args='-o KexAlgorithms=+diffie-hellman-group1-sha1'\n"},
            "hosts:2: h.ansible_ssh_common_args: ssh option KexAlgorithms is not read by fleet: set"
            " fleet_legacy_algorithms",
        ),
        (
            {"hosts": "[g]\nh ansible_ssh_common_args='-o Frobnicate=yes'\n"},
            "hosts:2: h.ansible_ssh_common_args: ssh option Frobnicate is not supported by fleet",
        ),
        (
            {"hosts": "[g]\nh ansible_ssh_executable=/opt/ssh\n"},
            "hosts:2: h.ansible_ssh_executable: fleet runs no ssh program",
        ),
        (
            {"hosts.yml": f"all:\n  hosts:\n    h:\n      ansible_user: {VAULT}"},
            "hosts.yml:4: all.hosts.h.ansible_user: encrypted with ansible-vault: fleet cannot decrypt it",
        ),
        (
            {"hosts": "[g]\nh\n", "group_vars/all.yml": f"ansible_password: {VAULT}"},
            "group_vars/all.yml:1: ansible_password: encrypted with ansible-vault: fleet reads no secrets"
            " from inventories; name the environment variable holding it: fleet_password_env: VAR",
        ),
        (
            {
                "hosts.json": '{"g": {"hosts": ["h"]},\n "_meta": {"hostvars": {"h": {\n'
                '"ansible_port": {"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256"}}}}}\n'
            },
            "hosts.json:3: _meta.hostvars.h.ansible_port: encrypted with ansible-vault",
        ),
        (
            {"aws_ec2.yml": "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"},
            "aws_ec2.yml:1: plugin: an inventory plugin's configuration: fleet runs no plugins:"
            " ansible-inventory -i aws_ec2.yml --list > hosts.json, then give fleet hosts.json",
        ),
        (
            {"inv/a.ini": "[g]\nh\n", "inv/b.py": "#!/usr/bin/env python3\nprint('{}')\n"},
            "inv/b.py: a dynamic inventory script: fleet runs no inventory programs: ansible-inventory -i",
        ),
        (
            {"inv/a.ini": "[g]\nh\n", "inv/b.yml": "devices:\n  h:\n    host: x\n"},
            "inv/b.yml: not an Ansible inventory (INI, YAML, or the JSON of ansible-inventory --list)",
        ),
        ({"hosts": "[g]\nh:70000\n"}, "hosts:2: h:70000: bad port 70000"),
        ({"hosts": "[g]\nh\n", "group_vars/g.yml": "- a\n- b\n"}, "group_vars/g.yml:1: must be a mapping"),
        ({"hosts": "[g]\nh\n", "host_vars/h": "ansible_port: [\n"}, "host_vars/h:2: invalid YAML"),
        (
            {"hosts": "[g]\nh\n[g:vars]\nansible_group_priority=high\n"},
            "hosts:4: g:vars.ansible_group_priority: must be an integer, not 'high'",
        ),
    ],
)
def test_what_fleet_cannot_follow_is_an_error_naming_file_and_key(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    _tree(tmp_path, files)
    source = tmp_path / ("inv" if any(f.startswith("inv/") for f in files) else next(iter(files)))
    with pytest.raises(InventoryError) as err:
        load_inventory(source)
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(expected)
    assert "\n" not in str(err.value)


def test_vault_values_fleet_does_not_need_are_fine(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "hosts.yml": f"all:\n  vars:\n    db_password: {VAULT}"
            "  hosts:\n    h:\n      api_key: !unsafe '{{x}}'\n",
            "group_vars/all.yml": f"ansible_password: {VAULT}fleet_password_env: CAM_PW\n",
        },
    )
    (h,) = load_inventory(tmp_path / "hosts.yml").devices
    assert (h.name, h.password_env) == ("h", "CAM_PW")  # fleet_password_env says where it is instead


def test_ssh_options_first_value_wins_and_harmless_ones_pass(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(
        "[g]\nh ansible_ssh_extra_args='-J b@y -o StrictHostKeyChecking=yes'\n"
        "[g:vars]\nansible_ssh_common_args='-C -o ControlMaster=auto -o ControlPersist=60s"
        " -oProxyJump=a@x:2200 -o UserKnownHostsFile=/tmp/kh -vvv'\n"
    )
    (h,) = load_inventory(tmp_path / "hosts").devices
    assert (h.proxy_jump, h.known_hosts, h.host_key_checking) == ("a@x:2200", "/tmp/kh", "strict")


def test_the_json_of_an_inventory_script(tmp_path: Path) -> None:
    """Any dynamic inventory's ``--list`` shape: groups as plain host lists, vars in ``_meta``."""
    (tmp_path / "hosts.json").write_text(
        json.dumps(
            {
                "cams": ["a", "b"],
                "site": {"children": ["cams"], "vars": {"ansible_user": "ops"}},
                "_meta": {"hostvars": {"a": {"ansible_port": 2200, "ansible_host": "192.0.2.7"}}},
            },
            indent=2,
        )
    )
    a, b = load_inventory(tmp_path / "hosts.json").devices
    assert (a.host, a.port, a.user, set(a.groups)) == ("192.0.2.7", 2200, "ops", {"cams", "site"})
    assert (b.host, b.port, b.user) == ("b", 22, "ops")


def test_an_inventory_directory_reads_its_files_and_vars(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "inv/1.ini": "[cams]\ncam-1\n",
            "inv/2.yml": "all:\n  children:\n    cams:\n      vars:\n        ansible_port: 2022\n",
            "inv/notes.md": "[ignored]\nx\n",
            "inv/group_vars/cams/a.yml": "ansible_user: a\n",
            "inv/group_vars/cams/b.yml": "ansible_user: b\n",
            "inv/host_vars/cam-1.json": '{"ansible_host": "192.0.2.9"}',
        },
    )
    inv = load_inventory(tmp_path / "inv")
    (cam,) = inv.devices
    assert (cam.host, cam.port, cam.user) == ("192.0.2.9", 2022, "b")
    assert inv.sources["cam-1"]["port"] == "group:cams"


def test_fleet_collect_from_an_ansible_inventory_with_group_and_host_vars(lab: Lab, tmp_path: Path) -> None:
    """The lab as an Ansible INI inventory whose login, key and port come only from group_vars/ and
    host_vars/, where the inventory file's own values are wrong: collecting works only if fleet
    follows Ansible's precedence."""
    from typer.testing import CliRunner

    from fleet.cli.app import app

    devices = [d for d in lab.devices if d.name != "lab-hang"]
    first, rest = devices[0], devices[1:]
    lines = ["[all:vars]", "ansible_user=nobody", f"ansible_ssh_private_key_file={lab.wrong_identity_file}"]
    lines += ["[lab]", f"{first.name}:{first.port}", *(d.name for d in rest)]
    lines += ["[lab:vars]", "ansible_port=2", "ansible_user=nobody"]  # outranked by group_vars/all
    files = {
        "hosts.ini": "\n".join(lines) + "\n",
        "group_vars/all.yml": yaml.safe_dump(
            {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(lab.identity_file),
                "ansible_port": 2,  # wrong: host_vars/ and the host:port pattern win
                "fleet_known_hosts": str(lab.known_hosts),
                "fleet_timeout": 10,
            }
        ),
        f"host_vars/{first.name}.yml": f"ansible_host: {first.host}\n",
    }
    for d in rest:
        files[f"host_vars/{d.name}/conn.yml"] = f"ansible_host: {d.host}\nansible_port: {d.port}\n"
    _tree(tmp_path / "ansible", files)
    inv = load_inventory(tmp_path / "ansible" / "hosts.ini")
    assert {(d.name, d.host, d.port, d.user) for d in inv.devices} == {
        (d.name, d.host, d.port, "root") for d in devices
    }
    store = tmp_path / "store"
    res = CliRunner().invoke(
        app, ["collect", str(tmp_path / "ansible" / "hosts.ini"), "--store", str(store), "--samples", "1"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(CliRunner().invoke(app, ["rank", "--store", str(store), "--json"]).output)
    assert {d["name"]: (d["status"], d["samples"]) for d in doc["devices"]} == {
        d.name: ("ok", 1) for d in devices
    }


def test_relative_paths_are_relative_to_the_inventory_directory(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "inv/site/hosts": "[g]\nh ansible_ssh_private_key_file=keys/h\n",
            "inv/group_vars/g.yml": "fleet_known_hosts: kh\n",
        },
    )
    (h,) = load_inventory(tmp_path / "inv").devices
    assert (h.identity_files, h.known_hosts) == ((str(tmp_path / "inv/keys/h"),), str(tmp_path / "inv/kh"))
