"""The config file: every key documented, precedence file < environment < flag, typos are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import fleet.config
from fleet.config import ConfigError, load_config

from .conftest import REPO

KEYS = [f"smtp.{k}" for k in sorted(fleet.config._SMTP_KEYS)] + [
    f"sweep.{k}" for k in sorted(fleet.config._SWEEP_KEYS)
]


@pytest.mark.parametrize("key", KEYS)
def test_every_key_is_documented_in_the_readme_and_the_module(key: str) -> None:
    assert f"| `{key}` |" in (REPO / "README.md").read_text()
    section, name = key.split(".")
    doc = fleet.config.__doc__ or ""
    assert f"[{section}]" in doc and f"\n    {name} = " in doc


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = fleet.config.__doc__ or ""
    example = "\n".join(line[4:] for line in doc.splitlines() if line.startswith("    "))
    (tmp_path / "fleet.toml").write_text(example)
    cfg = load_config(tmp_path / "fleet.toml", env={})
    assert cfg.smtp.host == "mail.example.net" and cfg.smtp.sender == "fleet@example.net"
    assert cfg.sweep.fail_on == "high" and cfg.sweep.keep_raw_days == 14.0


def test_environment_beats_the_file(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text('[smtp]\nhost = "a"\nport = 25\nto = "x@y"\n')
    cfg = load_config(tmp_path / "f.toml", env={"FLEET_SMTP_HOST": "b", "FLEET_EMAIL_TO": "p@q, r@s"})
    assert (cfg.smtp.host, cfg.smtp.port, cfg.smtp.to) == ("b", 25, ("p@q", "r@s"))


def test_fleet_config_variable_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text("[sweep]\nsamples = 7\n")
    assert load_config(None, env={"FLEET_CONFIG": str(tmp_path / "f.toml")}).sweep.samples == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sweep]\nsampels = 3\n", "sweep.sampels: unknown key"),
        ("[swep]\n", "swep: unknown section"),
        ("[sweep]\nsamples = 0\n", "samples: must be at least 1"),
        ("[sweep]\nsamples = 2.5\n", "samples: must be a whole number"),
        ('[sweep]\nfail_on = "low"\n', "fail_on: must be one of high, medium"),
        ("[sweep]\nkeep_raw_days = -1\n", "keep_raw_days: must be a non-negative number"),
        ('[smtp]\nstarttls = "yes"\n', "starttls: must be true or false"),
        ("[smtp\n", "invalid TOML"),
        ("[sweep]\nx = " + "[" * 5000 + "]" * 5000 + "\n", "invalid TOML: nested too deeply"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
