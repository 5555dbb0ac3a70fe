"""Inventory loading: merging order, path resolution, and one clear line per error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet.inventory.load import load_inventory
from fleet.inventory.model import DEFAULT_FIRMWARE_FILES, InventoryError
from fleet.inventory.native import parse_inventory

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
        (
            'devices:\n  a:\n    host: x\n    firmware_files: ["/etc/v\\nx"]\n',
            "inv.yaml:4: devices.a.firmware_files: '/etc/v\\nx' holds a newline",
        ),
        (
            'defaults:\n  firmware_files: ["/etc/v\\0"]\ndevices:\n  a:\n    host: x\n',
            "inv.yaml:2: defaults.firmware_files: '/etc/v\\x00' holds a NUL",
        ),
        (
            "groups:\n  g:\n    firmware_files: etc/version\ndevices:\n  a:\n    host: x\n",
            "inv.yaml:3: groups.g.firmware_files: 'etc/version' is not an absolute path",
        ),
        (
            "devices:\n  a:\n    host: x\n    firmware_files: [/etc/a:b]\n",
            "devices.a.firmware_files: '/etc/a:b' holds a ':'",
        ),
        ("devices:\n  a:\n    host: x\n    firmware_files: 3\n", "must be a string or a list of strings"),
        ("defaults:\n  user: root\n", "devices: missing"),
        ("", "empty inventory"),
    ],
)
def test_errors_name_file_line_and_key(text: str, expected: str) -> None:
    with pytest.raises(InventoryError) as err:
        parse_inventory(text, Path("inv.yaml"))
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("written", "mode"),
    [
        ("off", "off"),  # what the README and inventory/example.yaml say: YAML 1.1 reads it as false
        ("Off", "off"),
        ("False", "off"),  # as Ansible users write it
        ("no", "off"),
        ("'off'", "off"),
        ("on", "strict"),
        ("true", "strict"),
        ("yes", "strict"),
        ("strict", "strict"),
        ("accept-new", "accept-new"),
    ],
)
def test_host_key_checking_takes_yaml_booleans(written: str, mode: str) -> None:
    """Issue 22, item 8: an unquoted ``off`` was refused ("must be one of strict, accept-new, off,
    not False"); a YAML boolean now means off (false) or strict (true)."""
    inv = parse_inventory(
        f"defaults:\n  host_key_checking: {written}\ndevices:\n  a:\n    host: x\n", Path("inv.yaml")
    )
    assert inv.devices[0].host_key_checking == mode


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("port: 022", "inv.yaml:4: devices.a.port: bad number '022': YAML reads it as 18"),  # octal
        ("port: 0x16", "inv.yaml:4: devices.a.port: bad number '0x16': YAML reads it as 22"),
        ("port: 2_2", "inv.yaml:4: devices.a.port: bad number '2_2': YAML reads it as 22"),
        ("port: 0", "inv.yaml:4: devices.a.port: bad port 0"),
        ("timeout: 1:30", "inv.yaml:4: devices.a.timeout: bad number '1:30': YAML reads it as 90"),  # base 60
        ("timeout: .inf", "inv.yaml:4: devices.a.timeout: bad timeout inf"),
        ("timeout: -.inf", "inv.yaml:4: devices.a.timeout: bad timeout -inf"),
        ("timeout: .nan", "inv.yaml:4: devices.a.timeout: bad timeout nan"),
    ],
)
def test_numbers_yaml_would_misread_are_refused(setting: str, expected: str) -> None:
    """Issue 22, item 8: ``port: 022`` silently became 18 and ``timeout: .inf`` / ``.nan`` were
    accepted; each is now the usual one-line error."""
    with pytest.raises(InventoryError) as err:
        parse_inventory(f"devices:\n  a:\n    host: x\n    {setting}\n", Path("inv.yaml"))
    assert str(err.value).startswith(expected)


def test_plain_numbers_still_read_as_written() -> None:
    inv = parse_inventory("devices:\n  a:\n    host: x\n    port: 2022\n    timeout: 0.5\n", Path("i"))
    assert (inv.devices[0].port, inv.devices[0].timeout) == (2022, 0.5)


@pytest.mark.parametrize(
    "text",
    [
        "devices:\n  a:\n    host: " + "[" * 20000 + "]" * 20000 + "\n",  # fleet's own format
        "all:\n  hosts:\n    a:\n      ansible_host: " + "[" * 20000 + "]" * 20000 + "\n",  # Ansible
    ],
)
def test_yaml_nested_past_the_parsers_recursion_is_an_inventory_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "inv.yaml").write_text(text)
    # Python's recursion limit (pure-Python PyYAML) or libyaml's own depth limit (PyYAML >= 6.0.4)
    deep = "invalid YAML: (nested too deeply|exceeded maximum nesting depth)"
    with pytest.raises(InventoryError, match=deep) as err:
        load_inventory(tmp_path / "inv.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'inv.yaml'}")


def test_unreadable_file_is_an_inventory_error(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "missing.yaml")


def test_shipped_example_is_valid() -> None:
    inv = load_inventory(Path(__file__).parent.parent / "inventory" / "example.yaml")
    assert {d.name for d in inv.devices} == {"cam-001", "cam-002", "gw-01", "rig-01"}
    rig = next(d for d in inv.devices if d.name == "rig-01")
    assert rig.password_file and rig.password_file.endswith("/.config/fleet/rig-password")
    cam = next(d for d in inv.devices if d.name == "cam-001")
    assert cam.password_env == "CAM_PASSWORD" and cam.legacy_algorithms and cam.user == "admin"
    assert cam.firmware_files == ("/mnt/app/version.txt", "/etc/os-release")
    assert rig.firmware_files == DEFAULT_FIRMWARE_FILES


def test_firmware_files_merge_by_level_and_may_be_empty(tmp_path: Path) -> None:
    """A group's list replaces the defaults' (a list is one value), a device's replaces both; a
    single path is a list of one; an empty list reads no firmware identity."""
    text = (
        "defaults:\n  firmware_files: /etc/fw\n"
        "groups:\n  nvr:\n    firmware_files: [/opt/nvr/VERSION, /etc/os-release]\n"
        "devices:\n  a: {host: x}\n  b: {host: y, groups: [nvr]}\n"
        "  c: {host: z, groups: [nvr], firmware_files: []}\n"
    )
    inv = parse_inventory(text, tmp_path / "inv.yaml")
    files = {d.name: d.firmware_files for d in inv.devices}
    assert files == {"a": ("/etc/fw",), "b": ("/opt/nvr/VERSION", "/etc/os-release"), "c": ()}
    assert inv.sources["b"]["firmware_files"] == "group:nvr"


# --- ~/.ssh/config (always an explicit temp file here, never the real one) --------------------


@pytest.fixture(autouse=True)
def _no_real_ssh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME is an empty temp dir: the default ~/.ssh/config is never the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


SSH_CONFIG = """\
# global values apply to every host, but first obtained wins
Host cam-*  !cam-skip
    HostName %h.cams.example
    User camuser
    Port 2201
    IdentityFile ~/.ssh/cam_%r_%p
    IdentityFile /keys/second
    ProxyJump jump1,ops@jump2:2022
Host cam-skip
    User skipper
Host jump1
    HostName 10.9.9.1
    User hop
    Port 2200
Match all
    User fallback
    Port 2299
Host *
    ProxyJump none
"""


def _inv(tmp_path: Path, devices: str, defaults: str = "") -> Path:
    cfg = tmp_path / "ssh_config"
    cfg.write_text(SSH_CONFIG)
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"defaults:\n  ssh_config: ssh_config\n{defaults}devices:\n{devices}")
    return inv


def test_ssh_config_fills_what_the_inventory_leaves_open(tmp_path: Path) -> None:
    inv = load_inventory(
        _inv(tmp_path, "  a:\n    host: cam-1\n  b:\n    host: cam-skip\n  c:\n    host: x\n")
    )
    a, b, c = inv.devices
    assert (a.host, a.user, a.port) == ("cam-1.cams.example", "camuser", 2201)
    home = str(tmp_path / "home")
    assert a.identity_files == (f"{home}/.ssh/cam_camuser_2201", "/keys/second")
    assert a.proxy_jump == "hop@10.9.9.1:2200,ops@jump2:2022"  # hop aliases resolved too
    assert (b.host, b.user, b.port, b.proxy_jump) == ("cam-skip", "skipper", 2299, None)
    assert (c.host, c.user, c.port, c.proxy_jump, c.identity_files) == ("x", "fallback", 2299, None, ())
    cfg = tmp_path / "ssh_config"
    assert inv.sources["a"]["user"] == f"ssh_config:{cfg}:4"
    assert inv.sources["a"]["host"] == f"ssh_config:{cfg}:3"
    assert inv.sources["a"]["ssh_config"] == "defaults"


def test_the_inventory_wins_over_ssh_config(tmp_path: Path) -> None:
    devices = "  a:\n    host: cam-1\n    port: 22\n    identity_file: k\n    proxy_jump: jump1\n"
    inv = load_inventory(_inv(tmp_path, devices, defaults="  user: root\n"))
    (a,) = inv.devices
    assert (a.user, a.port, a.identity_files) == ("root", 22, (str(tmp_path / "k"),))
    assert a.host == "cam-1.cams.example"  # HostName: the inventory's host is the alias
    assert a.proxy_jump == "hop@10.9.9.1:2200"
    assert inv.sources["a"]["user"] == "defaults" and inv.sources["a"]["port"] == "device"


def test_ssh_config_false_and_missing_default(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("devices:\n  a:\n    host: cam-1\n")
    (a,) = load_inventory(inv).devices
    assert (a.host, a.user) == ("cam-1", "root")  # no ~/.ssh/config in this HOME
    (tmp_path / "home" / ".ssh").mkdir(parents=True)
    (tmp_path / "home" / ".ssh" / "config").write_text(SSH_CONFIG)
    (a,) = load_inventory(inv).devices
    assert (a.host, a.user) == ("cam-1.cams.example", "camuser")  # the default, when it exists
    inv.write_text("devices:\n  a:\n    host: cam-1\n    ssh_config: false\n")
    (a,) = load_inventory(inv).devices
    assert (a.host, a.user) == ("cam-1", "root")


def test_ssh_config_include(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "cams").write_text("Host cam-*\n  User included\n")
    (tmp_path / "main").write_text(f"Include {tmp_path}/conf.d/*\nHost *\n  User later\n")
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "devices:\n  a:\n    host: cam-1\n    ssh_config: main\n  b:\n    host: x\n    ssh_config: main\n"
    )
    assert [d.user for d in load_inventory(inv).devices] == ["included", "later"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("Host a\n  Port 70000\n", "ssh_config:2: port: bad port 70000"),
        ("Host a\n  Port ssh\n", "ssh_config:2: port: bad port 'ssh'"),
        ("Host a\n  ProxyJump x@y:0\n", "ssh_config:2: proxyjump: bad jump host 'x@y:0'"),
    ],
)
def test_bad_ssh_config_values_name_their_file_and_line(tmp_path: Path, config: str, expected: str) -> None:
    (tmp_path / "ssh_config").write_text(config)
    inv = tmp_path / "inv.yaml"
    inv.write_text("devices:\n  a:\n    host: a\n    ssh_config: ssh_config\n")
    with pytest.raises(InventoryError) as err:
        load_inventory(inv)
    assert str(err.value).replace(str(tmp_path) + "/", "").startswith(expected)


def test_unreadable_ssh_config_names_the_inventory_line(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"inv.yaml:2: devices.a.ssh_config: .*nope: cannot read"):
        parse_inventory("devices:\n  a:\n    host: a\n    ssh_config: nope\n", tmp_path / "inv.yaml")
    with pytest.raises(InventoryError, match=r"inv\.yaml:4: devices\.a\.ssh_config: must be a path or false"):
        parse_inventory("devices:\n  a:\n    host: a\n    ssh_config: true\n", tmp_path / "inv.yaml")


# --- password_file ---------------------------------------------------------------------------


def test_password_file_and_env_override_each_other_by_level(tmp_path: Path) -> None:
    text = (
        "defaults:\n  password_env: PW\ngroups:\n  g:\n    password_file: secret\n"
        "devices:\n  a:\n    host: x\n    groups: [g]\n  b:\n    host: y\n"
        "  c:\n    host: z\n    groups: [g]\n    password_env: C_PW\n"
    )
    a, b, c = parse_inventory(text, tmp_path / "inv.yaml").devices
    assert (a.password_env, a.password_file) == (None, str(tmp_path / "secret"))
    assert (b.password_env, b.password_file) == ("PW", None)
    assert (c.password_env, c.password_file) == ("C_PW", None)
    with pytest.raises(InventoryError, match=r"inv\.yaml:5: devices\.a\.password_file: password_env is set"):
        parse_inventory(
            "devices:\n  a:\n    host: x\n    password_env: P\n    password_file: f\n", Path("inv.yaml")
        )


# --- fleet inventory show ----------------------------------------------------------------------


def test_inventory_show_text_json_and_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleet.cli.app import app

    path = _inv(tmp_path, "  a:\n    host: cam-1\n    password_file: pw\n    groups: [g]\n", "  timeout: 5\n")
    path.write_text(
        path.read_text().replace("devices:", "groups:\n  g:\n    passphrase_env: KEY_PP\ndevices:")
    )
    runner = CliRunner()
    out = runner.invoke(app, ["inventory", "show", str(path)])
    assert out.exit_code == 0, out.output
    assert "a  camuser@cam-1.cams.example:2201" in out.output
    assert f"ssh_config:{tmp_path / 'ssh_config'}:5]" in out.output
    assert "passphrase_env      KEY_PP  [group:g]" in out.output
    doc = json.loads(runner.invoke(app, ["inventory", "show", str(path), "--json"]).output)
    (dev,) = doc["devices"]
    assert dev["password_file"] == str(tmp_path / "pw") and dev["timeout"] == 5.0
    assert dev["proxy_jump"] == "hop@10.9.9.1:2200,ops@jump2:2022" and dev["groups"] == ["g"]
    assert dev["sources"]["timeout"] == "defaults" and dev["sources"]["transport"] == "default"
    assert dev["ssh_config"] == str(tmp_path / "ssh_config")
    path.write_text("devices:\n  a:\n    host: x\n    prot: 1\n")
    bad = runner.invoke(app, ["inventory", "show", str(path)])
    assert bad.exit_code == 2 and bad.output.strip() == f"fleet: {path}:4: devices.a.prot: unknown key"


def test_inventory_show_ansible(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fleet.cli.app import app

    (tmp_path / "ssh_config").write_text(SSH_CONFIG)
    path = tmp_path / "hosts.ini"
    path.write_text(
        "[cams]\ncam-1\ncam-2 ansible_user=admin\n[cams:vars]\n"
        "ansible_ssh_common_args='-F ssh_config'\nfleet_password_file=pw\n"
    )
    doc = json.loads(CliRunner().invoke(app, ["inventory", "show", str(path), "--json"]).output)
    one, two = doc["devices"]
    assert (one["host"], one["user"], one["port"]) == ("cam-1.cams.example", "camuser", 2201)
    assert (two["user"], two["sources"]["user"], one["sources"]["password_file"]) == (
        "admin",
        "host",
        "group:cams",
    )
