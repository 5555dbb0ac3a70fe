"""fleet reads Ansible inventories as Ansible does: for each inventory under tests/data/ansible/,
every device's address, port, login, key, jump host and groups equal what ansible-core itself
resolves (``ansible-inventory --list``, run as a separate process from the test extra), and the
JSON it prints, given to fleet, resolves to the same devices."""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.inventory.load import load_inventory
from fleet.inventory.model import Inventory

DATA = Path(__file__).parent / "data" / "ansible"
# case -> the inventory source given to both (a file, or an inventory directory)
CASES = {
    "ini_vars": "hosts.ini",  # group_vars files and directories, all, host_vars, host:port, ranges
    "yaml_vars": "hosts.yml",  # nested children, ansible_group_priority, aliases, !vault, host:port
    "inventory_dir": "inv",  # several files (INI, YAML, a subdirectory) with group_vars inside
    "plain": "hosts",  # children, stepped ranges, jump chains
}
View = dict[str, tuple[Any, ...]]


@pytest.fixture(scope="module")
def ansible_inventory() -> Path:
    if find_spec("ansible") is None:
        pytest.skip("ansible-core is not installed (it is in the test extra: pip install -e '.[test]')")
    return Path(sys.executable).parent / "ansible-inventory"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty HOME: neither the user's ~/.ssh/config nor ~/.ansible.cfg takes part."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def run_ansible(binary: Path, source: Path, tmp: Path, *args: str) -> dict[str, Any]:
    """What ``ansible-inventory -i SOURCE --list`` prints, with no ansible.cfg of anyone's."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "ansible.cfg").write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "ANSIBLE_CONFIG": str(tmp / "ansible.cfg"),
        "ANSIBLE_HOME": str(tmp / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / ".ansible-tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",  # a file Ansible cannot read fails the run
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        # ansible-core 2.19's default (fleet's); 2.17 and 2.18 also skip .ini files in a directory
        "ANSIBLE_INVENTORY_IGNORE": ".pyc,.pyo,.swp,.bak,~,.rpm,.md,.txt,.rst,.orig,.cfg,.retry",
        "PYTHONWARNINGS": "ignore",
        "LC_ALL": "C.UTF-8",
    }
    out = subprocess.run(
        [str(binary), "-i", str(source), "--list", *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def _jump(hostvars: dict[str, Any]) -> str | None:
    """The first ProxyJump on ssh's command line: Ansible passes the common args, then the extra args."""
    for var in ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args"):
        words = shlex.split(hostvars.get(var, ""))
        for i, w in enumerate(words):
            if w == "-J":
                return words[i + 1]
            if w.startswith("-J"):
                return w[2:]
            opt = words[i + 1] if w == "-o" else w[2:] if w.startswith("-o") else ""
            if opt.lower().startswith("proxyjump"):
                return opt.split("=", 1)[1] if "=" in opt else opt.split(None, 1)[1]
    return None


def _groups(doc: dict[str, Any]) -> dict[str, set[str]]:
    """host -> every group it belongs to (through children), as ``--list`` nests them."""
    out: dict[str, set[str]] = {}

    def walk(group: str, chain: tuple[str, ...]) -> None:
        entry = doc.get(group, {})
        for host in entry.get("hosts", []):
            out.setdefault(host, set()).update(g for g in chain if g not in ("all", "ungrouped"))
        for child in entry.get("children", []):
            walk(child, (*chain, child))

    walk("all", ("all",))
    return out


def ansible_view(doc: dict[str, Any]) -> View:
    """Per host: what Ansible's ssh connection would use (the connection plugin's variable order:
    of ``ansible_host`` / ``ansible_ssh_host`` the latter wins, and so on). fleet's own defaults
    where Ansible leaves a setting to ssh: port 22, user root, no key."""
    hostvars = doc["_meta"]["hostvars"]
    groups = _groups(doc)
    view: View = {}
    for host in groups:
        hv = hostvars.get(host, {})
        if hv.get("ansible_connection") == "local":
            continue
        key = hv.get("ansible_ssh_private_key_file", hv.get("ansible_private_key_file"))
        view[host] = (
            hv.get("ansible_ssh_host", hv.get("ansible_host", host)),
            int(hv.get("ansible_ssh_port", hv.get("ansible_port", 22))),
            hv.get("ansible_ssh_user", hv.get("ansible_user", "root")),
            os.path.expanduser(key) if key else None,
            _jump(hv),
            frozenset(groups[host]),
        )
    return view


def fleet_view(inv: Inventory) -> View:
    return {
        d.name: (
            d.host,
            d.port,
            d.user,
            d.identity_files[0] if d.identity_files else None,
            d.proxy_jump,
            frozenset(d.groups),
        )
        for d in inv.devices
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_fleet_resolves_every_device_as_ansible_does(
    ansible_inventory: Path, tmp_path: Path, case: str
) -> None:
    source = DATA / case / CASES[case]
    listed = run_ansible(ansible_inventory, source, tmp_path / "ansible")
    expected = ansible_view(listed)
    assert len(expected) >= 4  # the comparison is about something
    assert fleet_view(load_inventory(source)) == expected
    # the JSON ansible-inventory printed is itself an inventory for fleet, anywhere
    (tmp_path / "hosts.json").write_text(json.dumps(listed, indent=4))
    assert fleet_view(load_inventory(tmp_path / "hosts.json")) == expected


def test_the_export_json_keeps_group_vars_in_groups(ansible_inventory: Path, tmp_path: Path) -> None:
    """``--list --export`` leaves group variables in their groups; fleet merges them itself."""
    source = DATA / "plain" / "hosts"
    exported = run_ansible(ansible_inventory, source, tmp_path / "ansible", "--export")
    assert exported["cams"]["vars"]  # the shape this test is about
    (tmp_path / "export.json").write_text(json.dumps(exported))
    expected = ansible_view(run_ansible(ansible_inventory, source, tmp_path / "ansible"))
    assert fleet_view(load_inventory(tmp_path / "export.json")) == expected


# --- random inventories: the same comparison on shapes nobody wrote by hand ----------------------

_VARS = (
    "ansible_user",
    "ansible_ssh_user",
    "ansible_port",
    "ansible_ssh_port",
    "ansible_host",
    "ansible_ssh_host",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
    "ansible_ssh_common_args",
    "ansible_ssh_extra_args",
)


def _value(r: random.Random, var: str) -> Any:
    if "port" in var:
        return r.randint(1, 65535)
    if "user" in var:
        return r.choice(["ops", "root", "adm"])
    if "host" in var:
        return r.choice(["192.0.2.1", "192.0.2.2", "cam.example"])
    if "key" in var:
        return r.choice(["/keys/a", "/keys/b"])
    return r.choice(["-J j1@b:2200", "-o ProxyJump=j2@c", "-C", "-o ControlMaster=auto -J j3@d"])


def _some_vars(r: random.Random, most: int) -> dict[str, Any]:
    return {v: _value(r, v) for v in r.sample(_VARS, r.randint(1, most))}


def random_inventory(seed: int, root: Path) -> Path:
    """An inventory (INI for even seeds, YAML for odd ones) with random groups, children, host:port,
    group and host vars, priorities, and group_vars/host_vars files and directories."""
    r = random.Random(seed)
    groups = [f"g{i}" for i in range(r.randint(1, 5))]
    hosts = [f"h{i}" for i in range(r.randint(1, 6))]
    loose = [h for h in hosts if r.random() < 0.2]  # listed outside any group
    members = {
        g: [
            (h, r.choice([None, None, None, r.randint(1, 65535)]))
            for h in r.sample(hosts, r.randint(0, len(hosts)))
        ]
        for g in groups
    }
    host_vars = {(g, h): _some_vars(r, 2) for g in groups for h, _ in members[g] if r.random() < 0.4}
    group_vars = {g: _some_vars(r, 3) for g in groups if r.random() < 0.6}
    for g in group_vars:
        if r.random() < 0.3:
            group_vars[g]["ansible_group_priority"] = r.randint(0, 20)
    children = {g: [c for c in groups[i + 1 :] if r.random() < 0.4] for i, g in enumerate(groups)}
    all_vars = _some_vars(r, 2) if r.random() < 0.3 else {}
    if seed % 2 == 0:
        lines = loose[:]
        for g in groups:
            lines.append(f"[{g}]")
            for h, port in members[g]:
                hv = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in host_vars.get((g, h), {}).items())
                lines.append(f"{h}{f':{port}' if port else ''} {hv}".strip())
        for g, gv in [*group_vars.items(), *([("all", all_vars)] if all_vars else [])]:
            lines += [f"[{g}:vars]", *(f"{k}={shlex.quote(str(v))}" for k, v in gv.items())]
        for g, kids in children.items():
            if kids:
                lines += [f"[{g}:children]", *kids]
        source = root / "hosts"
        source.write_text("\n".join(lines) + "\n")
    else:
        doc: dict[str, Any] = {"vars": all_vars, "hosts": {h: None for h in loose}, "children": {}}
        for g in groups:
            doc["children"][g] = {
                "hosts": {f"{h}{f':{p}' if p else ''}": host_vars.get((g, h)) for h, p in members[g]},
                "vars": group_vars.get(g, {}),
                "children": {c: None for c in children[g]},
            }
        source = root / "hosts.yml"
        source.write_text(yaml.safe_dump({"all": doc}))
    for kind, names in (("group_vars", [*groups, "all", "ungrouped"]), ("host_vars", hosts)):
        for name in names:
            if r.random() < 0.35:
                (root / kind).mkdir(exist_ok=True)
                how = r.choice(["", ".yml", ".yaml", ".json", "/"])
                if how == "/":
                    (root / kind / name).mkdir()
                    (root / kind / name / "a.yml").write_text(yaml.safe_dump(_some_vars(r, 3)))
                    (root / kind / name / "b.json").write_text(json.dumps(_some_vars(r, 1)))
                else:
                    (root / kind / f"{name}{how}").write_text(json.dumps(_some_vars(r, 3)))
    return source


def _compare_random(binary: Path, tmp_path: Path, seeds: range) -> int:
    compared = 0
    for seed in seeds:
        root = tmp_path / f"inv{seed}"
        root.mkdir()
        source = random_inventory(seed, root)
        expected = ansible_view(run_ansible(binary, source, tmp_path / "ansible"))
        if not expected:
            continue  # no host: fleet's "empty inventory" error
        assert fleet_view(load_inventory(source)) == expected, f"seed {seed}: {source}"
        compared += len(expected)
    return compared


@pytest.mark.parametrize("seeds", [range(0, 6)])
def test_random_inventories_resolve_as_ansible_does(
    ansible_inventory: Path, tmp_path: Path, seeds: range
) -> None:
    assert _compare_random(ansible_inventory, tmp_path, seeds) >= 6


@pytest.mark.slow
def test_many_random_inventories_resolve_as_ansible_does(ansible_inventory: Path, tmp_path: Path) -> None:
    """200 more (about 2 minutes on 2 cores): 240 seeds agreed on 2026-12-07."""
    assert _compare_random(ansible_inventory, tmp_path, range(6, 206)) >= 200
