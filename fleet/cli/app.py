"""The command line: the typer app, its commands registered by name, and the entry point.

Commands live in fleet.cli.collect, analyse, sweep, inputs and config and stay thin: parse flags, call the
package, map outcomes to exit codes (fleet.cli.exits); a fleet error none of them catches is caught
once in :func:`main`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fleet import DISTRIBUTION, __version__
from fleet.cli import analyse, collect, config, export, inputs, sweep
from fleet.cli.common import exits_on_fleet_errors
from fleet.cli.logs import setup_logging, want_json
from fleet.cli.options import TYPER_SETTINGS, smtp_options
from fleet.errors import FleetError
from fleet.lab.cli import lab_app
from fleet.text import visible

app = typer.Typer(
    help="Hunt memory leaks across fleets of embedded Linux devices over plain SSH.", **TYPER_SETTINGS
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"fleet {__version__} ({DISTRIBUTION})")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Hunt memory leaks across fleets of embedded Linux devices over plain SSH."""


app.command("collect")(exits_on_fleet_errors(collect.collect_cmd))
app.command("rank")(exits_on_fleet_errors(analyse.rank_cmd))
app.command("show")(exits_on_fleet_errors(analyse.show_cmd))
app.command("maps")(exits_on_fleet_errors(analyse.maps_cmd))
app.command("import")(exits_on_fleet_errors(inputs.import_cmd))
app.command("report")(exits_on_fleet_errors(smtp_options(analyse.report_cmd)))
app.command("sweep")(exits_on_fleet_errors(smtp_options(sweep.sweep_cmd)))
app.command("prune")(exits_on_fleet_errors(sweep.prune_cmd))
app.command("export")(exits_on_fleet_errors(export.export_cmd))
app.add_typer(lab_app, name="lab")
inventory_app = typer.Typer(help="Check an inventory before collecting.", **TYPER_SETTINGS)
inventory_app.command("show")(exits_on_fleet_errors(inputs.inventory_show_cmd))
app.add_typer(inventory_app, name="inventory")
config_app = typer.Typer(help="Check the settings before a run.", **TYPER_SETTINGS)
config_app.command("show")(exits_on_fleet_errors(config.config_show_cmd))
app.add_typer(config_app, name="config")


def main() -> None:
    """Console entry point: any fleet error a command leaves uncaught exits with its class's code."""
    setup_logging(want_json(False), verbose=False)  # commands that log more set it up again
    try:
        app()
    except FleetError as exc:
        typer.echo(f"fleet: {visible(str(exc))}", err=True)
        sys.exit(exc.exit_code)
