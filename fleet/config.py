"""Settings for unattended runs: a TOML file, ``FLEET_*`` environment variables, then flags.

Precedence, lowest first: built-in defaults, the config file, environment variables (``[smtp]``
only), command-line flags. The config file is ``--config``, else ``$FLEET_CONFIG`` (either must
exist), else the first of the search path that exists: ``./fleet.toml``,
``$XDG_CONFIG_HOME/fleet/fleet.toml`` (default ``~/.config/fleet/fleet.toml``),
``/etc/fleet/fleet.toml``. ``fleet config show`` prints the merged settings and where each came from.
A cron job or a systemd unit then carries one short command line and every setting lives in one
reviewed file. Secrets are never in the file: ``smtp.password_env`` names the variable that holds
the password, which goes over TLS only (STARTTLS unless ``ssl``) unless ``allow_plaintext_auth``
says otherwise. An unknown section or key, or a value of the wrong type, is an error naming the
file and key (a typo never silently falls back to a default). Relative paths are relative to the
working directory of the run, not to the file.

    [smtp]                       # email for `fleet sweep` and `fleet report --email-to`
    host = "mail.example.net"    # $FLEET_SMTP_HOST, --smtp-host; no host: no email can be sent
    port = 587                   # $FLEET_SMTP_PORT, --smtp-port; default 465 (ssl), 587 (starttls), else 25
    starttls = true              # $FLEET_SMTP_STARTTLS, --smtp-starttls; default: on when user is set
    ssl = false                  # $FLEET_SMTP_SSL, --smtp-ssl; implicit TLS (port 465)
    user = "fleet"               # $FLEET_SMTP_USER, --smtp-user; login only when set
    password_env = "FLEET_SMTP_PASSWORD"  # $FLEET_SMTP_PASSWORD_ENV, --smtp-password-env
    allow_plaintext_auth = false  # $FLEET_SMTP_ALLOW_PLAINTEXT_AUTH, --smtp-allow-plaintext-auth
    from = "fleet@example.net"   # $FLEET_EMAIL_FROM, --email-from; default fleet@localhost
    to = ["firmware-team@example.net"]  # $FLEET_EMAIL_TO (comma-separated), --email-to; none: no email

    [sweep]                      # `fleet sweep` (and the defaults of `fleet prune`)
    samples = 3                  # --samples; samples per device per sweep, at least 1
    interval = 60                # --interval; seconds between samples
    concurrency = 64             # --concurrency; devices sampled at once, at least 1
    maps_every = 3               # --maps-every; all maps on 1 sample in N, else only changed processes'
    max_connected = 2000         # --max-connected; devices holding a connection between samples at once
    report_dir = "reports"       # --report-dir; one dated fleet-report-<UTC time>.html per sweep
    fail_on = "high"             # --fail-on; exit 3 when a finding this severe exists (high | medium)
    keep_raw_days = 14           # --keep-raw-days; raw captures older than this are dropped
    keep_metrics_days = 365      # --keep-metrics-days; whole samples (parsed metrics) older than this
    keep_reports_days = 90       # --keep-reports-days; dated reports in report_dir older than this
"""

from __future__ import annotations

import os
import pwd
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

from fleet.errors import UsageError
from fleet.text import visible

SYSTEM_CONFIG = Path("/etc/fleet/fleet.toml")  # the search path's last place (tests pass their own)
DEFAULT = "default"  # the source of a setting nothing set


class ConfigError(UsageError):
    """A broken config file or setting: names the file and key."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int | None = None  # default: 465 with ssl, else 587 with starttls, else 25
    user: str | None = None
    password_env: str | None = None
    starttls: bool | None = None  # None: STARTTLS exactly when there is a login (a user)
    ssl: bool = False
    allow_plaintext_auth: bool = False  # the explicit opt-in to send the password without TLS
    sender: str = "fleet@localhost"
    to: tuple[str, ...] = ()

    def use_starttls(self) -> bool:
        """Upgrade the connection: when asked to, and by default whenever a password will be sent."""
        if self.ssl:
            return False
        return bool(self.user) if self.starttls is None else self.starttls

    def effective_port(self) -> int:
        if self.port:
            return self.port
        return 465 if self.ssl else 587 if self.use_starttls() else 25


@dataclass(frozen=True)
class SweepSettings:
    samples: int = 3
    interval: float = 60.0
    concurrency: int = 64
    maps_every: int = 3  # = samples: each night's first sample reads every maps
    max_connected: int = 2000  # fleet.collect.options.MAX_CONNECTED
    report_dir: str = "reports"
    fail_on: str | None = None
    keep_raw_days: float | None = 14.0
    keep_metrics_days: float | None = 365.0
    keep_reports_days: float | None = 90.0  # a 2,000-device report is ~4 MB a night


@dataclass(frozen=True)
class Config:
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    sweep: SweepSettings = field(default_factory=SweepSettings)
    path: str | None = None
    found_by: str | None = None  # "--config", "FLEET_CONFIG", "search path"; None: no file
    searched: tuple[str, ...] = ()  # the search path, in order
    # "smtp.host" -> "file:PATH" or "env:FLEET_SMTP_HOST"; a key not here is the built-in default
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)


_SMTP_KEYS = {f.name for f in fields(SmtpSettings)} - {"sender"} | {"from"}
_SWEEP_KEYS = {f.name for f in fields(SweepSettings)}
FAIL_ON = ("high", "medium")
_AT_LEAST_ONE = ("samples", "concurrency", "maps_every", "max_connected", "port")
_S = TypeVar("_S", SmtpSettings, SweepSettings)


def _typed(where: str, key: str, value: Any, default: Any) -> Any:
    """Check a file value against the type of its default; ints are fine where floats are."""
    expected = type(default) if default is not None else None
    if key in ("port", "keep_raw_days", "keep_metrics_days", "keep_reports_days") or expected in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{where}: {key}: must be a non-negative number, not {value!r}")
        if (expected is int or key == "port") and not isinstance(value, int):
            raise ConfigError(f"{where}: {key}: must be a whole number, not {value!r}")
        if key in _AT_LEAST_ONE and value < 1:
            # samples = 0 would turn a nightly sweep into an endless soak run
            raise ConfigError(f"{where}: {key}: must be at least 1, not {value!r}")
        return int(value) if expected is int or key == "port" else float(value)
    if (expected is bool or key == "starttls") and not isinstance(value, bool):
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


def user_config(env: Mapping[str, str]) -> Path | None:
    """``$XDG_CONFIG_HOME/fleet/fleet.toml``, else ``~/.config/fleet/fleet.toml`` (a relative
    ``XDG_CONFIG_HOME`` is ignored, as the XDG spec says); None when there is no home directory."""
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "fleet" / "fleet.toml"
    home = env.get("HOME")
    if not home:
        try:
            home = pwd.getpwuid(os.getuid()).pw_dir  # what ~ means without $HOME (a systemd unit)
        except KeyError:
            return None
    return Path(home) / ".config" / "fleet" / "fleet.toml"


def search_path(env: Mapping[str, str], system: Path | None = None) -> tuple[Path, ...]:
    """Where a config file is looked for when neither ``--config`` nor ``$FLEET_CONFIG`` names one."""
    user = user_config(env)
    places = (Path("fleet.toml"), *((user,) if user else ()), SYSTEM_CONFIG if system is None else system)
    return tuple(dict.fromkeys(places))


def find_config(
    path: Path | None, env: Mapping[str, str], system: Path | None = None
) -> tuple[Path | None, str | None, tuple[Path, ...]]:
    """The config file to read, how it was found, and the search path."""
    places = search_path(env, system)
    if path is not None:
        return path, "--config", places
    if env.get("FLEET_CONFIG"):
        return Path(env["FLEET_CONFIG"]), "FLEET_CONFIG", places
    for place in places:
        if os.path.exists(place):  # an unreadable directory on the way is "not there", as for ls
            return place, "search path", places
    return None, None, places


def load_config(
    path: Path | None = None, env: Mapping[str, str] | None = None, system: Path | None = None
) -> Config:
    """The config file merged over defaults, then ``FLEET_SMTP_*`` variables over that.

    ``path`` is ``--config``; ``system`` the search path's last place (default
    :data:`SYSTEM_CONFIG`, ``/etc/fleet/fleet.toml``)."""
    env = os.environ if env is None else env
    path, found_by, places = find_config(path, env, system)
    smtp, sweep = SmtpSettings(), SweepSettings()
    sources: dict[str, str] = {}
    if path is not None:
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except RecursionError:  # tomllib recurses per nesting level: [[[[... thousands deep
            raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
        for section in doc:
            if section not in ("smtp", "sweep"):
                raise ConfigError(f"{path}: {section}: unknown section (expected smtp, sweep)")
        smtp = _section(path, "smtp", doc.get("smtp", {}), smtp, _SMTP_KEYS, sources)
        sweep = _section(path, "sweep", doc.get("sweep", {}), sweep, _SWEEP_KEYS, sources)
    smtp = _smtp_from_env(smtp, env, sources)
    return Config(
        smtp=smtp,
        sweep=sweep,
        path=str(path) if path else None,
        found_by=found_by,
        searched=tuple(str(p) for p in places),
        sources=sources,
    )


def _section(path: Path, name: str, table: Any, base: _S, keys: set[str], sources: dict[str, str]) -> _S:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {name}: must be a table")
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{path}: {name}.{key}: unknown key")
        attr = "sender" if key == "from" else key
        changes[attr] = _typed(f"{path}: {name}", key, value, getattr(base, attr))
        sources[f"{name}.{key}"] = f"file:{path}"
    return replace(base, **changes)


def _smtp_from_env(smtp: SmtpSettings, env: Mapping[str, str], sources: dict[str, str]) -> SmtpSettings:
    changes: dict[str, Any] = {}

    def given(key: str, variable: str, value: Any) -> None:
        changes["sender" if key == "from" else key] = value
        sources[f"smtp.{key}"] = f"env:{variable}"

    for key in ("host", "user", "password_env"):
        if env.get(f"FLEET_SMTP_{key.upper()}"):
            given(key, f"FLEET_SMTP_{key.upper()}", env[f"FLEET_SMTP_{key.upper()}"])
    if env.get("FLEET_SMTP_PORT"):
        try:
            given("port", "FLEET_SMTP_PORT", int(env["FLEET_SMTP_PORT"]))
        except ValueError:
            raise ConfigError(f"FLEET_SMTP_PORT: not a port number: {env['FLEET_SMTP_PORT']!r}") from None
    for key in ("starttls", "ssl", "allow_plaintext_auth"):
        value = env.get(f"FLEET_SMTP_{key.upper()}")
        if value:
            given(key, f"FLEET_SMTP_{key.upper()}", value.lower() in ("1", "true", "yes", "on"))
    if env.get("FLEET_EMAIL_FROM"):
        given("from", "FLEET_EMAIL_FROM", env["FLEET_EMAIL_FROM"])
    if env.get("FLEET_EMAIL_TO"):
        given("to", "FLEET_EMAIL_TO", tuple(a.strip() for a in env["FLEET_EMAIL_TO"].split(",") if a.strip()))
    return replace(smtp, **changes)


# (section, key) in the README's table order: what `fleet config show` prints.
SHOWN = (
    *(("smtp", k) for k in ("host", "port", "starttls", "ssl", "user", "password_env")),
    *(("smtp", k) for k in ("allow_plaintext_auth", "from", "to")),
    *(("sweep", k) for k in ("samples", "interval", "concurrency", "maps_every", "max_connected")),
    *(("sweep", k) for k in ("report_dir", "fail_on", "keep_raw_days", "keep_metrics_days")),
    ("sweep", "keep_reports_days"),
)


def _value(cfg: Config, section: str, key: str) -> Any:
    """A setting as a run uses it: the port and STARTTLS that follow from the others when unset."""
    if section == "smtp":
        if key == "port":
            return cfg.smtp.effective_port()
        if key == "starttls":
            return cfg.smtp.use_starttls()
        value = getattr(cfg.smtp, "sender" if key == "from" else key)
    else:
        value = getattr(cfg.sweep, key)
    return list(value) if isinstance(value, tuple) else value


def config_json(cfg: Config) -> dict[str, Any]:
    """``fleet config show --json``: the file, the search path, every setting and its source.

    Secrets are never in it: the SMTP password appears only as the name of its variable."""
    out: dict[str, Any] = {"config": cfg.path, "found_by": cfg.found_by, "search_path": list(cfg.searched)}
    out.update({"smtp": {}, "sweep": {}, "sources": {"smtp": {}, "sweep": {}}})
    for section, key in SHOWN:
        out[section][key] = _value(cfg, section, key)
        out["sources"][section][key] = cfg.sources.get(f"{section}.{key}", DEFAULT)
    return out


def _text(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(visible(str(v)) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return visible(str(value))


def render_text(cfg: Config) -> str:
    """``fleet config show``: the file and how it was found, then ``key  value  [source]`` lines."""
    if cfg.path is None:
        lines = ["config file: none (built-in defaults)"]
    else:
        lines = [f"config file: {visible(cfg.path)} (from {cfg.found_by})"]
    lines.append(f"search path: {', '.join(visible(p) for p in cfg.searched)}")
    lines.append("")
    for section, key in SHOWN:
        name = f"{section}.{key}"
        source = visible(cfg.sources.get(name, DEFAULT))
        lines.append(f"{name:<28}{_text(_value(cfg, section, key))}  [{source}]")
    return "\n".join(lines)
