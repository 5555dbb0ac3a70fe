"""`fleet config show`: the merged settings and where each came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fleet.cli.options import ConfigOpt
from fleet.config import config_json, load_config, render_text


def config_show_cmd(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print every setting as a run would use it (config file and FLEET_* variables over the
    defaults) and where each came from; the SMTP password only by the name of its variable."""
    cfg = load_config(config)
    if as_json:
        typer.echo(json.dumps(config_json(cfg), indent=2))
    else:
        typer.echo(render_text(cfg))
