"""Settings for unattended runs: a TOML file, ``FLEET_*`` environment variables, then flags.

Precedence, lowest first: built-in defaults, the config file (``--config``, else ``$FLEET_CONFIG``,
else ``./fleet.toml`` when present), environment variables, command-line flags. Secrets are never
in the file: ``smtp.password_env`` names the variable that holds the password.

    [smtp]
    host = "mail.example.net"
    port = 587
    starttls = true          # or: ssl = true (implicit TLS, port 465)
    user = "fleet"
    password_env = "FLEET_SMTP_PASSWORD"
    from = "fleet@example.net"
    to = ["firmware-team@example.net"]

    [sweep]
    samples = 3
    interval = 60
    concurrency = 64
    report_dir = "reports"
    fail_on = "high"          # exit 3 when such a finding exists
    keep_raw_days = 14        # raw captures; parsed metrics stay longer
    keep_metrics_days = 365
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar


class ConfigError(Exception):
    """A broken config file or setting: names the file and key."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int | None = None  # default: 465 with ssl, else 587 with starttls, else 25
    user: str | None = None
    password_env: str | None = None
    starttls: bool = False
    ssl: bool = False
    sender: str = "fleet@localhost"
    to: tuple[str, ...] = ()

    def effective_port(self) -> int:
        if self.port:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


@dataclass(frozen=True)
class SweepSettings:
    samples: int = 3
    interval: float = 60.0
    concurrency: int = 64
    report_dir: str = "reports"
    fail_on: str | None = None
    keep_raw_days: float | None = 14.0
    keep_metrics_days: float | None = 365.0


@dataclass(frozen=True)
class Config:
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)
    path: str | None = None


_SMTP_KEYS = {f.name for f in fields(SmtpSettings)} - {"sender"} | {"from"}
_SWEEP_KEYS = {f.name for f in fields(SweepSettings)}
FAIL_ON = ("high", "medium")
_S = TypeVar("_S", SmtpSettings, SweepSettings)


def _typed(where: str, key: str, value: Any, default: Any) -> Any:
    """Check a file value against the type of its default; ints are fine where floats are."""
    expected = type(default) if default is not None else None
    if key in ("port", "keep_raw_days", "keep_metrics_days") or expected in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}: {key}: must be a non-negative number, not {value!r}")
        return int(value) if expected is int or key == "port" else float(value)
    if expected is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: {key}: must be true or false, not {value!r}")
    if key == "to":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key}: must be an address or a list of addresses")
        return tuple(value)
    if key == "fail_on" and value not in FAIL_ON:
        raise ConfigError(f"{where}: {key}: must be one of {', '.join(FAIL_ON)}, not {value!r}")
    if expected in (str, None) and not isinstance(value, str | bool):
        raise ConfigError(f"{where}: {key}: must be a string, not {value!r}")
    return value


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """The config file merged over defaults, then ``FLEET_SMTP_*`` variables over that."""
    env = os.environ if env is None else env
    if path is None and env.get("FLEET_CONFIG"):
        path = Path(env["FLEET_CONFIG"])
    if path is None and Path("fleet.toml").exists():
        path = Path("fleet.toml")
    smtp, sweep = SmtpSettings(), SweepSettings()
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        for section in doc:
            if section not in ("smtp", "sweep"):
                raise ConfigError(f"{path}: {section}: unknown section (expected smtp, sweep)")
        smtp = _section(path, "smtp", doc.get("smtp", {}), smtp, _SMTP_KEYS)
        sweep = _section(path, "sweep", doc.get("sweep", {}), sweep, _SWEEP_KEYS)
    smtp = _smtp_from_env(smtp, env)
    return Config(smtp=smtp, sweep=sweep, path=str(path) if path else None)


def _section(path: Path, name: str, table: Any, base: _S, keys: set[str]) -> _S:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name}: must be a table")
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{path}: {name}.{key}: unknown key")
        attr = "sender" if key == "from" else key
        changes[attr] = _typed(f"{path}: {name}", key, value, getattr(base, attr))
    return replace(base, **changes)


def _smtp_from_env(smtp: SmtpSettings, env: Mapping[str, str]) -> SmtpSettings:
    changes: dict[str, Any] = {}
    for key in ("host", "user", "password_env"):
        if env.get(f"FLEET_SMTP_{key.upper()}"):
            changes[key] = env[f"FLEET_SMTP_{key.upper()}"]
    if env.get("FLEET_SMTP_PORT"):
        try:
            changes["port"] = int(env["FLEET_SMTP_PORT"])
        except ValueError:
            raise ConfigError(f"FLEET_SMTP_PORT: not a port number: {env['FLEET_SMTP_PORT']!r}") from None
    for key in ("starttls", "ssl"):
        value = env.get(f"FLEET_SMTP_{key.upper()}")
        if value:
            changes[key] = value.lower() in ("1", "true", "yes", "on")
    if env.get("FLEET_EMAIL_FROM"):
        changes["sender"] = env["FLEET_EMAIL_FROM"]
    if env.get("FLEET_EMAIL_TO"):
        changes["to"] = tuple(a.strip() for a in env["FLEET_EMAIL_TO"].split(",") if a.strip())
    return replace(smtp, **changes)
