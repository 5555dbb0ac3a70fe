"""The command line (typer): thin commands over the package."""
