"""``--only`` / ``--limit`` host patterns, read the way ``ansible --limit`` reads them: the pure
matcher (fleet.inventory.patterns) on inventory devices, then the CLI on a real inventory and a
real SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.app import app
from fleet.inventory.model import Device
from fleet.inventory.native import parse_inventory
from fleet.inventory.patterns import ordered_terms, select, split_pattern
from fleet.store.store import Store

INVENTORY = """\
groups:
  cameras:
    user: admin
  nvrs: {}
devices:
  cam-1:
    host: 10.0.0.1
    groups: [cameras]
    tags: [site-a]
  cam-2:
    host: 10.0.0.2
    groups: [cameras]
    tags: [site-a]
  cam-3:
    host: 10.0.0.3
    groups: [cameras]
    tags: [site-b]
  nvr-1:
    host: 10.0.0.4
    groups: [nvrs]
    tags: [site-a]
  gw.site-b.example:
    host: 10.0.0.5
    tags: [site-b]
"""

NAMES = ["cam-1", "cam-2", "cam-3", "nvr-1", "gw.site-b.example"]


@pytest.fixture(name="devices")
def _devices(tmp_path: Path) -> tuple[Device, ...]:
    inv = parse_inventory(INVENTORY, tmp_path / "inv.yaml")
    assert [d.name for d in inv.devices] == NAMES
    return inv.devices


def names(patterns: list[str], devices: tuple[Device, ...]) -> list[str]:
    return [d.name for d in select(patterns, devices).devices]


@pytest.mark.parametrize(
    ("pattern", "terms"),
    [
        ("cam-1", ["cam-1"]),
        ("cam-*,!cam-2", ["cam-*", "!cam-2"]),
        ("cam-*:!cam-2", ["cam-*", "!cam-2"]),
        ("cameras:&site-a", ["cameras", "&site-a"]),
        (" cameras , &site-a ,", ["cameras", "&site-a"]),  # blanks and empty terms dropped
        ("a,b:c", ["a", "b:c"]),  # a comma wins: ':' is then part of a term
        ("cam-[12]:nvr-1", ["cam-[12]", "nvr-1"]),  # a bracketed glob stays whole
        ("cam[1:2]", ["cam[1:2]"]),
        ("2001:db8::1", ["2001:db8::1"]),  # an IPv6 address is one term
        ("[2001:db8::1]", ["[2001:db8::1]"]),
        ("", []),
    ],
)
def test_a_pattern_splits_on_commas_else_on_colons(pattern: str, terms: list[str]) -> None:
    assert split_pattern(pattern) == terms


def test_terms_are_taken_plain_then_intersections_then_exclusions() -> None:
    assert ordered_terms(["!nvr-*", "&site-a", "cam-*", "&x", "nvr-1"]) == [
        "cam-*",
        "nvr-1",
        "&site-a",
        "&x",
        "!nvr-*",
    ]
    assert ordered_terms(["!nvr-*"]) == ["all", "!nvr-*"]  # exclusions alone start from every device
    assert ordered_terms([]) == []


def test_exact_names_groups_and_tags_select_as_before(devices: tuple[Device, ...]) -> None:
    assert names(["cam-2"], devices) == ["cam-2"]
    assert names(["cameras"], devices) == ["cam-1", "cam-2", "cam-3"]
    assert names(["site-b"], devices) == ["cam-3", "gw.site-b.example"]
    assert names(["nvr-1", "cam-1"], devices) == ["cam-1", "nvr-1"]  # several --only: union, inventory order
    assert names(["gw.site-b.example"], devices) == ["gw.site-b.example"]  # '-' and '.' in a name
    assert names([], devices) == NAMES and names(None, devices) == NAMES  # nothing given: every device


def test_globs_match_names_groups_and_tags_case_sensitively(devices: tuple[Device, ...]) -> None:
    assert names(["cam-*"], devices) == ["cam-1", "cam-2", "cam-3"]
    assert names(["*-1"], devices) == ["cam-1", "nvr-1"]
    assert names(["cam-[13]"], devices) == ["cam-1", "cam-3"]
    assert names(["cam-?"], devices) == ["cam-1", "cam-2", "cam-3"]
    assert names(["nvr*"], devices) == ["nvr-1"]  # the group "nvrs" and the name "nvr-1"
    assert names(["site-?"], devices) == NAMES  # tags too
    assert names(["gw.*.example"], devices) == ["gw.site-b.example"]
    assert names(["*"], devices) == NAMES and names(["all"], devices) == NAMES
    assert select(["CAM-*"], devices).devices == ()
    assert names(["gw.site-b.exampl?"], devices) == ["gw.site-b.example"]


def test_exclusions_and_intersections(devices: tuple[Device, ...]) -> None:
    assert names(["cam-*:!cam-2"], devices) == ["cam-1", "cam-3"]
    assert names(["cameras:&site-a"], devices) == ["cam-1", "cam-2"]
    assert names(["cameras,&site-a,!cam-1"], devices) == ["cam-2"]
    assert names(["site-a:&cameras:&cam-2"], devices) == ["cam-2"]
    assert names(["!nvr-*"], devices) == ["cam-1", "cam-2", "cam-3", "gw.site-b.example"]
    assert names(["&site-b"], devices) == ["cam-3", "gw.site-b.example"]  # from all
    assert names(["!site-a:!cameras"], devices) == ["gw.site-b.example"]


def test_order_written_does_not_matter(devices: tuple[Device, ...]) -> None:
    """As in Ansible: an exclusion written first still applies after the plain terms."""
    assert names(["!cam-2:cam-*"], devices) == names(["cam-*:!cam-2"], devices) == ["cam-1", "cam-3"]
    assert names(["&site-a,cameras,!cam-1"], devices) == ["cam-2"]
    assert names(["!cam-2,cameras,nvr-1,&site-a"], devices) == ["cam-1", "nvr-1"]


def test_several_patterns_are_a_union_each_evaluated_alone(devices: tuple[Device, ...]) -> None:
    assert names(["cameras:!cam-1", "cam-1:&site-b"], devices) == ["cam-2", "cam-3"]
    assert names(["cam-*:!cam-2", "cam-2"], devices) == ["cam-1", "cam-2", "cam-3"]


def test_a_name_with_pattern_characters_still_selects_exactly_itself(tmp_path: Path) -> None:
    """Before patterns, a name was matched whole: it still is, whatever it holds."""
    inv = parse_inventory(
        "devices:\n"
        "  'nvr-1:2222': {host: 10.0.0.1}\n"
        "  'cam[1]': {host: 10.0.0.2}\n"
        "  cam1: {host: 10.0.0.3}\n"
        "  'a,b': {host: 10.0.0.4, tags: ['!odd']}\n"
        "  a: {host: 10.0.0.5}\n",
        tmp_path / "inv.yaml",
    )
    assert [d.name for d in inv.select(["nvr-1:2222"])] == ["nvr-1:2222"]
    assert [d.name for d in inv.select(["cam[1]"])] == ["cam[1]"]
    assert [d.name for d in inv.select(["a,b"])] == ["a,b"]
    assert [d.name for d in inv.select(["!odd"])] == ["a,b"]
    assert [d.name for d in inv.select(["cam[1],a"])] == ["cam[1]", "cam1", "a"]  # a pattern: glob too


def test_what_matches_nothing_is_reported(devices: tuple[Device, ...]) -> None:
    sel = select(["cam-*:!cam-9:&site-a", "typo*", "cameras"], devices)
    assert [d.name for d in sel.devices] == ["cam-1", "cam-2", "cam-3"]
    assert sel.empty_patterns == ("typo*",)
    assert sel.unmatched_terms == (("cam-*:!cam-9:&site-a", "cam-9"), ("typo*", "typo*"))
    assert sel.warnings() == [
        "--only cam-*:!cam-9:&site-a: cam-9 matches no device, ignored",
        "--only typo*: typo* matches no device, ignored",
        "--only typo* selects no device",
    ]
    none = select(["cameras:&nvrs"], devices)  # each term matches, together nothing
    assert none.devices == () and none.empty_patterns == ("cameras:&nvrs",) and none.unmatched_terms == ()
    assert select([""], devices).devices == ()  # an empty pattern is no device, not every device


# ---- the CLI ----


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    return inv


def _shown(args: list[str]) -> list[str]:
    res = CliRunner().invoke(app, ["inventory", "show", *args, "--json"])
    assert res.exit_code == 0, res.output
    return [d["name"] for d in json.loads(res.stdout)["devices"]]


def test_inventory_show_with_patterns_and_limit(tmp_path: Path) -> None:
    inv = str(_inventory(tmp_path))
    assert _shown([inv, "--only", "cam-*:!cam-2"]) == ["cam-1", "cam-3"]
    assert _shown([inv, "--limit", "cam-*:!cam-2"]) == ["cam-1", "cam-3"]
    assert _shown([inv, "--limit", "cameras:&site-a", "--only", "nvr-1"]) == ["cam-1", "cam-2", "nvr-1"]
    assert _shown([inv, "--only", "cameras"]) == ["cam-1", "cam-2", "cam-3"]


def test_a_pattern_matching_nothing_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    inv = _inventory(tmp_path)
    for option in ("--only", "--limit"):
        res = CliRunner().invoke(app, ["inventory", "show", str(inv), option, "cam-*:&nvrs"])
        assert res.exit_code == 2
        assert res.output.strip() == f"fleet: {inv}: --only cam-*:&nvrs matches no device"
    res = CliRunner().invoke(app, ["collect", str(inv), "--store", str(tmp_path / "s"), "--limit", "x-*"])
    assert res.exit_code == 2 and "--only x-* matches no device" in res.output
    assert not (tmp_path / "s").exists()


def test_a_term_matching_nothing_is_a_warning(tmp_path: Path) -> None:
    inv = str(_inventory(tmp_path))
    res = CliRunner().invoke(
        app, ["inventory", "show", inv, "--json", "--only", "cam-*:!cam-9", "--only", "typo"]
    )
    assert res.exit_code == 0, res.output
    assert [d["name"] for d in json.loads(res.stdout)["devices"]] == ["cam-1", "cam-2", "cam-3"]
    assert res.stderr.splitlines() == [
        "fleet: warning: --only cam-*:!cam-9: cam-9 matches no device, ignored",
        "fleet: warning: --only typo: typo matches no device, ignored",
        "fleet: warning: --only typo selects no device",
    ]


def _store(tmp_path: Path) -> Path:
    """A real SQLite store holding the inventory's devices (attempts only: rank lists them all)."""
    store = tmp_path / "store"
    inv = parse_inventory(INVENTORY, tmp_path / "inv.yaml")
    with Store(store, create=True) as st:
        run = st.begin_run("inv.yaml")
        for d in inv.devices:
            st.record_attempt(
                st.device_id(d.name, d.host, d.groups, d.tags), run, "unreachable", "refused", 1.0
            )
        st.end_run(run)
    return store


def test_rank_and_report_with_limit_on_a_store(tmp_path: Path) -> None:
    store = str(_store(tmp_path))
    runner = CliRunner()

    def ranked(*args: str) -> list[str]:
        res = runner.invoke(app, ["rank", "--store", store, "--json", *args])
        assert res.exit_code == 0, res.output
        return sorted(d["name"] for d in json.loads(res.stdout)["devices"])

    assert ranked("--limit", "cameras:&site-a") == ["cam-1", "cam-2"]
    assert ranked("--only", "site-b,!cam-*") == ["gw.site-b.example"]
    assert ranked("--limit", "!cameras") == ["gw.site-b.example", "nvr-1"]
    assert ranked("--only", "nvr-1") == ["nvr-1"]

    res = runner.invoke(app, ["rank", "--store", store, "--limit", "cameras:&nvrs"])
    assert res.exit_code == 2
    assert res.output.strip() == f"fleet: {store}: --only cameras:&nvrs matches no device in the store"

    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--store", store, "-o", str(out), "--limit", "cam-*:!cam-3"])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "<title>fleet (cam-*:!cam-3): no leaks found on 2 devices" in html
    assert "cam-1" in html and "cam-2" in html and "nvr-1" not in html


def test_show_takes_a_device_name_not_a_pattern(tmp_path: Path) -> None:
    store = str(_store(tmp_path))
    res = CliRunner().invoke(app, ["show", "cam-2", "--store", store, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["name"] == "cam-2"
    res = CliRunner().invoke(app, ["show", "cam-*", "--store", store])
    assert res.exit_code == 2 and "no device named cam-*" in res.output
