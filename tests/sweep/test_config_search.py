"""Where the config file is found, and `fleet config show`.

Every test builds its own places under tmp: the working directory, HOME, XDG_CONFIG_HOME and the
system file. /etc/fleet/fleet.toml cannot be written by a test, so the loader takes the system path
as a parameter (``load_config(system=...)``, default ``fleet.config.SYSTEM_CONFIG``,
``/etc/fleet/fleet.toml``); in-process CLI tests point ``SYSTEM_CONFIG`` under tmp, and one
subprocess test checks the real default is what is searched.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import fleet.config
from fleet.cli.app import app
from fleet.config import ConfigError, load_config, search_path

from .conftest import fleet_env, run_fleet
from .test_config import KEYS


@dataclass
class Places:
    work: Path  # the working directory (./fleet.toml)
    home: Path
    xdg: Path  # XDG_CONFIG_HOME
    system: Path  # stands in for /etc/fleet/fleet.toml
    explicit: Path  # for --config and $FLEET_CONFIG

    @property
    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.xdg)}

    def write(self, place: str, samples: int) -> Path:
        path = {
            "cwd": self.work / "fleet.toml",
            "xdg": self.xdg / "fleet" / "fleet.toml",
            "home": self.home / ".config" / "fleet" / "fleet.toml",
            "system": self.system,
            "explicit": self.explicit,
        }[place]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"[sweep]\nsamples = {samples}\n")
        return path


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Places:
    p = Places(
        work=tmp_path / "work",
        home=tmp_path / "home",
        xdg=tmp_path / "xdg",
        system=tmp_path / "etc" / "fleet" / "fleet.toml",
        explicit=tmp_path / "elsewhere" / "mine.toml",
    )
    p.work.mkdir()
    p.home.mkdir()
    monkeypatch.chdir(p.work)
    return p


def test_the_first_place_that_exists_wins_in_order(places: Places) -> None:
    """--config, $FLEET_CONFIG, ./fleet.toml, $XDG_CONFIG_HOME/fleet, /etc/fleet: each file has
    its own samples; taking them away from the front shows the order."""
    explicit = places.write("explicit", 1)
    cwd = places.write("cwd", 2)
    xdg = places.write("xdg", 3)
    system = places.write("system", 4)
    with_var = {**places.env, "FLEET_CONFIG": str(explicit)}

    def used(path: Path | None, env: dict[str, str]) -> tuple[int, str | None, str | None]:
        cfg = load_config(path, env=env, system=places.system)
        return cfg.sweep.samples, cfg.path, cfg.found_by

    assert used(explicit, places.env) == (1, str(explicit), "--config")
    assert used(explicit, {**with_var, "FLEET_CONFIG": str(xdg)}) == (1, str(explicit), "--config")
    assert used(None, with_var) == (1, str(explicit), "FLEET_CONFIG")
    assert used(None, places.env) == (2, "fleet.toml", "search path")
    cwd.unlink()
    assert used(None, places.env) == (3, str(xdg), "search path")
    xdg.unlink()
    assert used(None, places.env) == (4, str(system), "search path")
    system.unlink()
    assert used(None, places.env) == (3, None, None)  # the built-in default


def test_without_xdg_config_home_the_user_file_is_under_home_dot_config(places: Places) -> None:
    home_file = places.write("home", 5)
    places.write("system", 4)
    for env in ({"HOME": str(places.home)}, {"HOME": str(places.home), "XDG_CONFIG_HOME": ""}):
        cfg = load_config(None, env=env, system=places.system)
        assert (cfg.sweep.samples, cfg.path) == (5, str(home_file))
    # a relative XDG_CONFIG_HOME is ignored, as the XDG spec says
    rel = {"HOME": str(places.home), "XDG_CONFIG_HOME": "xdg"}
    assert load_config(None, env=rel, system=places.system).path == str(home_file)
    # XDG_CONFIG_HOME set: ~/.config is not looked at
    assert load_config(None, env=places.env, system=places.system).path == str(places.system)


def test_the_search_path_and_its_real_system_default(places: Places) -> None:
    assert search_path(places.env) == (
        Path("fleet.toml"),
        places.xdg / "fleet" / "fleet.toml",
        Path("/etc/fleet/fleet.toml"),
    )
    assert Path("/etc/fleet/fleet.toml") == fleet.config.SYSTEM_CONFIG
    assert search_path({"HOME": "/h"}, system=places.system) == (
        Path("fleet.toml"),
        Path("/h/.config/fleet/fleet.toml"),
        places.system,
    )


@pytest.mark.parametrize("how", ["--config", "FLEET_CONFIG"])
def test_a_named_file_that_does_not_exist_is_an_error_not_a_fallback(places: Places, how: str) -> None:
    for place in ("cwd", "xdg", "system"):
        places.write(place, 2)
    missing = places.work / "missing.toml"
    env = {**places.env, "FLEET_CONFIG": str(missing)} if how == "FLEET_CONFIG" else places.env
    with pytest.raises(ConfigError) as err:
        load_config(missing if how == "--config" else None, env=env, system=places.system)
    assert str(err.value) == f"{missing}: cannot read: No such file or directory"


def test_a_broken_file_found_on_the_search_path_names_file_and_key(places: Places) -> None:
    bad = places.xdg / "fleet" / "fleet.toml"
    bad.parent.mkdir(parents=True)
    bad.write_text("[sweep]\nsampels = 3\n")
    places.write("system", 4)  # never reached: a broken file is not skipped
    with pytest.raises(ConfigError) as err:
        load_config(None, env=places.env, system=places.system)
    assert str(err.value) == f"{bad}: sweep.sampels: unknown key"


def test_sources_say_file_or_variable_per_key(places: Places) -> None:
    path = places.xdg / "fleet" / "fleet.toml"
    path.parent.mkdir(parents=True)
    path.write_text('[smtp]\nhost = "a"\nfrom = "f@x"\n[sweep]\nfail_on = "high"\n')
    env = {**places.env, "FLEET_SMTP_HOST": "b", "FLEET_EMAIL_TO": "p@q", "FLEET_SMTP_SSL": "yes"}
    cfg = load_config(None, env=env, system=places.system)
    assert dict(cfg.sources) == {
        "smtp.host": "env:FLEET_SMTP_HOST",
        "smtp.from": f"file:{path}",
        "smtp.to": "env:FLEET_EMAIL_TO",
        "smtp.ssl": "env:FLEET_SMTP_SSL",
        "sweep.fail_on": f"file:{path}",
    }


# --- fleet config show, in-process with a controlled environment ---

SECRET = "hunter2-do-not-print"


@pytest.fixture
def cli_places(places: Places, monkeypatch: pytest.MonkeyPatch) -> Places:
    """The process environment as a user's: HOME and XDG_CONFIG_HOME under tmp, no FLEET_*, the
    system file under tmp."""
    for name in list(os.environ):
        if name.startswith("FLEET_"):
            monkeypatch.delenv(name)
    for name, value in places.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(fleet.config, "SYSTEM_CONFIG", places.system)
    return places


def _user_file(places: Places) -> Path:
    path = places.xdg / "fleet" / "fleet.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        '[smtp]\nhost = "mail.example.net"\nuser = "fleet"\npassword_env = "FLEET_SMTP_PASSWORD"\n'
        '[sweep]\nsamples = 5\nreport_dir = "/var/lib/fleet/reports"\n'
    )
    return path


def test_config_show_prints_every_key_its_value_and_source(
    cli_places: Places, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _user_file(cli_places)
    monkeypatch.setenv("FLEET_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("FLEET_EMAIL_TO", "a@x,b@x")
    res = CliRunner().invoke(app, ["config", "show"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"config file: {path} (from search path)"
    assert lines[1] == f"search path: fleet.toml, {path}, {cli_places.system}"
    rows = {line.split()[0]: line.split(None, 1)[1] for line in lines[3:]}
    assert sorted(rows) == sorted(KEYS)  # every key of the README's table, nothing else
    assert rows["smtp.host"] == f"mail.example.net  [file:{path}]"
    assert rows["smtp.port"] == "587  [default]"  # STARTTLS because there is a user
    assert rows["smtp.starttls"] == "true  [default]"
    assert rows["smtp.password_env"] == f"FLEET_SMTP_PASSWORD  [file:{path}]"
    assert rows["smtp.to"] == "a@x, b@x  [env:FLEET_EMAIL_TO]"
    assert rows["sweep.samples"] == f"5  [file:{path}]"
    assert rows["sweep.interval"] == "60  [default]"
    assert rows["sweep.fail_on"] == "-  [default]"
    assert SECRET not in res.output


def test_config_show_json(cli_places: Places, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _user_file(cli_places)
    monkeypatch.setenv("FLEET_SMTP_PASSWORD", SECRET)
    monkeypatch.setenv("FLEET_SMTP_PORT", "2525")
    res = CliRunner().invoke(app, ["config", "show", "--json"])
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output
    doc = json.loads(res.output)
    assert doc["config"] == str(path) and doc["found_by"] == "search path"
    assert doc["search_path"] == ["fleet.toml", str(path), str(cli_places.system)]
    for key in KEYS:
        section, name = key.split(".")
        assert name in doc[section] and name in doc["sources"][section], key
    assert sorted(f"{s}.{k}" for s in ("smtp", "sweep") for k in doc[s]) == sorted(KEYS)
    assert doc["smtp"]["host"] == "mail.example.net"
    assert doc["sources"]["smtp"]["host"] == f"file:{path}"
    assert (doc["smtp"]["port"], doc["sources"]["smtp"]["port"]) == (2525, "env:FLEET_SMTP_PORT")
    assert (doc["smtp"]["to"], doc["sources"]["smtp"]["to"]) == ([], "default")
    assert (doc["sweep"]["samples"], doc["sweep"]["keep_raw_days"]) == (5, 14.0)
    assert doc["sources"]["sweep"]["keep_raw_days"] == "default"


def test_config_show_with_config_and_nothing_found(cli_places: Places) -> None:
    res = CliRunner().invoke(app, ["config", "show", "--json"])
    doc = json.loads(res.output)
    assert (doc["config"], doc["found_by"]) == (None, None)
    assert set(doc["sources"]["smtp"].values()) == set(doc["sources"]["sweep"].values()) == {"default"}
    explicit = cli_places.write("explicit", 9)
    cli_places.write("cwd", 2)
    res = CliRunner().invoke(app, ["config", "show", "--config", str(explicit)])
    assert res.output.splitlines()[0] == f"config file: {explicit} (from --config)"
    assert f"sweep.samples               9  [file:{explicit}]" in res.output.splitlines()


def test_config_show_with_a_broken_file_exits_2_with_one_line(cli_places: Places) -> None:
    bad = cli_places.work / "fleet.toml"
    bad.write_text("[smtp]\nport = 0\n")
    res = CliRunner().invoke(app, ["config", "show"])
    assert res.exit_code == 2
    assert res.output == "fleet: fleet.toml: smtp: port: must be at least 1, not 0\n"
    res = CliRunner().invoke(
        app, ["config", "show", "--json"], env={"FLEET_CONFIG": str(cli_places.work / "no")}
    )
    assert res.exit_code == 2
    assert res.output == f"fleet: {cli_places.work / 'no'}: cannot read: No such file or directory\n"


def test_a_real_process_finds_the_file_under_home_dot_config(tmp_path: Path) -> None:
    """fleet as its own process, HOME under tmp and no XDG_CONFIG_HOME: ~/.config/fleet/fleet.toml is
    used, and /etc/fleet/fleet.toml is the search path's last place."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    user = home / ".config" / "fleet" / "fleet.toml"
    user.parent.mkdir(parents=True)
    user.write_text("[sweep]\nconcurrency = 7\n")
    env = fleet_env(HOME=str(home))
    env.pop("XDG_CONFIG_HOME", None)
    res = run_fleet("config", "show", "--json", cwd=work, env=env)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["config"] == str(user) and doc["sweep"]["concurrency"] == 7
    assert doc["search_path"] == ["fleet.toml", str(user), "/etc/fleet/fleet.toml"]
