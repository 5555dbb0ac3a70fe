"""Options more than one command takes, each written once (typer Annotated aliases)."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fleet.config import SweepSettings

# Help text is plain text: rich markup would swallow "[default: ...]" and other bracketed words.
# Tracebacks never show local variables (they may hold an SMTP or SSH password).
TYPER_SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,
    "pretty_exceptions_show_locals": False,
    "no_args_is_help": True,
}


LogJsonOpt = Annotated[
    bool, typer.Option("--log-json", help="Log JSON lines instead of plain text (also FLEET_LOG=json).")
]
# What an inventory argument takes (fleet.inventory.load).
INVENTORY_HELP = (
    "Inventory: fleet YAML (inventory/example.yaml), or Ansible: an INI/YAML file or directory (with its"
    " group_vars/ and host_vars/), or the JSON of ansible-inventory --list."
)

QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress on stderr (problems and the summary still show).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also log each step, not only problems.")]
OnlyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        "--limit",
        metavar="PATTERN",
        help="Devices by name, group or tag, as ansible --limit reads them (repeatable): globs"
        " (cam-*), !exclude, &intersect, comma or colon separated ('cameras:&site-a:!cam-9').",
    ),
]


# A string, not a Path: a Path would fold the // of a postgresql:// URL.
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Store directory, or a postgresql:// URL shared by many collectors"
        " (default: $FLEET_STORE, else ./fleet-data).",
    ),
]


class FailOn(StrEnum):
    high = "high"
    medium = "medium"


FailOnOpt = Annotated[FailOn | None, typer.Option("--fail-on", help="Exit 3 on a finding this severe.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML settings (default: $FLEET_CONFIG, else the first of ./fleet.toml,"
        " $XDG_CONFIG_HOME/fleet/fleet.toml (~/.config/...), /etc/fleet/fleet.toml).",
    ),
]
EmailToOpt = Annotated[list[str] | None, typer.Option("--email-to", help="Recipient (repeatable).")]
KeepReportsOpt = Annotated[
    float | None,
    typer.Option(min=0.0, help="Delete dated reports older than this many days (config: 90)."),
]
SmtpHostOpt = Annotated[str | None, typer.Option("--smtp-host", help="SMTP server ($FLEET_SMTP_HOST).")]
SmtpPortOpt = Annotated[int | None, typer.Option("--smtp-port", help="SMTP port ($FLEET_SMTP_PORT).")]
SmtpUserOpt = Annotated[str | None, typer.Option("--smtp-user", help="SMTP login ($FLEET_SMTP_USER).")]
SmtpPassEnvOpt = Annotated[
    str | None, typer.Option("--smtp-password-env", help="Variable holding the SMTP password.")
]
StarttlsOpt = Annotated[
    bool | None,
    typer.Option("--smtp-starttls/--no-smtp-starttls", help="Use STARTTLS (default: with --smtp-user)."),
]
PlainAuthOpt = Annotated[
    bool | None,
    typer.Option(
        "--smtp-allow-plaintext-auth/--no-smtp-allow-plaintext-auth",
        help="Allow sending the SMTP password without TLS ($FLEET_SMTP_ALLOW_PLAINTEXT_AUTH).",
    ),
]
SslOpt = Annotated[bool | None, typer.Option("--smtp-ssl/--no-smtp-ssl", help="Implicit TLS (port 465).")]
EmailFromOpt = Annotated[str | None, typer.Option("--email-from", help="Sender address ($FLEET_EMAIL_FROM).")]


MapsEveryOpt = Annotated[
    int | None,
    typer.Option(
        "--maps-every",
        min=1,
        help="On a kept connection, read slabinfo and every process's maps, cmdline and thread names on"
        " 1 sample in N; the others skip slabinfo and"
        " read them for new or changed (VmSize, threads) processes only and copy the rest from the"
        " sample before: less device CPU and bytes. [collect: 1; sweep: config maps_every, 3]",
    ),
]


MAX_CONNECTED = SweepSettings().max_connected  # = fleet.collect.options.MAX_CONNECTED (a test checks)
MaxConnectedOpt = Annotated[
    int | None,
    typer.Option(
        "--max-connected",
        min=1,
        help="Several samples on kept connections: devices connected at once; the next device starts"
        " its samples when one is done (fewer under a low open-file limit)."
        f" [collect: {MAX_CONNECTED}; sweep: config max_connected, {MAX_CONNECTED}]",
    ),
]


@dataclass(frozen=True)
class SmtpFlags:
    """The SMTP options as given on the command line (None: not given)."""

    smtp_host: SmtpHostOpt = None
    smtp_port: SmtpPortOpt = None
    smtp_user: SmtpUserOpt = None
    smtp_password_env: SmtpPassEnvOpt = None
    smtp_starttls: StarttlsOpt = None
    smtp_ssl: SslOpt = None
    smtp_allow_plaintext_auth: PlainAuthOpt = None
    email_from: EmailFromOpt = None


NO_SMTP_FLAGS = SmtpFlags()


def smtp_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command (report, sweep) every SMTP option, written once in :class:`SmtpFlags`, and
    hand it them as one ``smtp_flags`` argument."""
    hints = typing.get_type_hints(SmtpFlags, include_extras=True)  # name -> Annotated option
    signature = inspect.signature(command, eval_str=True)  # typer reads this one as it is
    params = [p for p in signature.parameters.values() if p.name != "smtp_flags"]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=option)
        for name, option in hints.items()
    ]

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        flags = SmtpFlags(**{name: kwargs.pop(name) for name in hints})
        command(smtp_flags=flags, **kwargs)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return run
