"""What the commands share: failing with one line, opening the store, settings, the fleet view."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import typer

from fleet.cli.logs import failure_line, log, name_command, setup_logging, want_json
from fleet.cli.options import SmtpFlags
from fleet.config import Config, SmtpSettings
from fleet.errors import FleetError, UsageError
from fleet.inventory.load import load_inventory
from fleet.inventory.model import Device, Inventory
from fleet.inventory.patterns import Selectable, Selection, select
from fleet.store.location import store_location
from fleet.store.schema import DeviceRow
from fleet.store.store import Store
from fleet.view.fleet import FleetView, build_view

T = TypeVar("T", bound=Selectable)


def smtp_settings(config: Config, flags: SmtpFlags) -> SmtpSettings:
    """Flags over environment over config file."""
    given: dict[str, Any] = {
        "host": flags.smtp_host,
        "port": flags.smtp_port,
        "user": flags.smtp_user,
        "password_env": flags.smtp_password_env,
        "starttls": flags.smtp_starttls,
        "ssl": flags.smtp_ssl,
        "sender": flags.email_from,
        "allow_plaintext_auth": flags.smtp_allow_plaintext_auth,
    }
    return replace(config.smtp, **{k: v for k, v in given.items() if v is not None})


def fail(code: int, message: str) -> typer.Exit:
    """One line on stderr saying what went wrong (a JSON object with --log-json), and the exit."""
    typer.echo(failure_line(message, code), err=True)
    return typer.Exit(int(code))


def command_logging(log_json: bool, verbose: bool = False) -> bool:
    """Set up a command's logging (--log-json, FLEET_LOG); whether its lines are JSON. Its later
    select_devices and open_store calls then pass ``logging_set_up``."""
    json_lines = want_json(log_json)
    setup_logging(json_lines, verbose)
    return json_lines


def exits_on_fleet_errors(command: Callable[..., None]) -> Callable[..., None]:
    """The one place a command's FleetError becomes its one-line message and its class's exit code
    (fleet.errors), for the console and for tests driving the app in-process alike."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        name_command(command.__name__.removesuffix("_cmd"))  # collect_cmd: collect_failed
        setup_logging(want_json(False), verbose=False)  # this command's own, until it sets its own up
        try:
            command(*args, **kwargs)
        except FleetError as exc:
            raise fail(exc.exit_code, str(exc)) from None

    return run


def select_devices(
    inventory: Path, only: list[str] | None, *, logging_set_up: bool = False
) -> tuple[Inventory, tuple[Device, ...]]:
    """The inventory and the devices of it that ``--only``'s host patterns select (all without it);
    none is an error, a pattern or term that matches nothing a warning line (as ``ansible --limit``),
    logged plain (or as FLEET_LOG says) unless the command set up its logging (sweep's --log-json)."""
    inv = load_inventory(inventory)
    nothing = f"{inventory}: --only {' '.join(only or [])} matches no device"
    return inv, _selected(inv.selection(only), nothing, logging_set_up)


def _selected(selection: Selection[T], nothing: str, logging_set_up: bool = False) -> tuple[T, ...]:
    if not selection.devices:
        raise UsageError(nothing)
    warnings = selection.warnings()
    if warnings and not logging_set_up:
        setup_logging(want_json(False), verbose=False)
    for line in warnings:
        log.warning(line, extra={"event": "only_matches_nothing"})
    return selection.devices


def open_store(
    store: str | None, *, create: bool = False, collector: str | None = None, logging_set_up: bool = False
) -> Store:
    if not logging_set_up:  # the store may warn (fleet.store.sqlite._warn_if_open)
        setup_logging(want_json(False), verbose=False)
    return Store(store_location(store), create=create, collector=collector)


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N; raises ValueError."""
    k, _, n = text.partition("/")
    kn = int(k), int(n)
    if not 1 <= kn[0] <= kn[1]:
        raise ValueError(text)
    return kn


def fleet_view(st: Store, only: list[str] | None, *, details: bool = True) -> FleetView:
    """The fleet view of rank and report, of the devices ``--only``'s host patterns select (by
    name, group or tag); as for :func:`select_devices`, none is an error."""
    if not only:
        return build_view(st, details=details)
    return build_view(st, details=details, only=only, rows=store_devices(st, only))


def store_devices(st: Store, only: list[str] | None) -> tuple[DeviceRow, ...]:
    """The store's devices that ``--only``'s host patterns select (all without it); none is an error."""
    if not only:
        return tuple(st.devices())
    nothing = f"{st.location}: --only {' '.join(only)} matches no device in the store"
    return _selected(select(only, st.devices()), nothing)
