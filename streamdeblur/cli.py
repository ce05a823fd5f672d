"""Command line: parses options and calls one library function per subcommand. No logic here.

Each subcommand has its own section; user mistakes surface as UserError -> one line, exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from streamdeblur.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remove motion blur from faces in video: process, make-pairs, train, eval, bench, export, demo.",
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"streamdeblur: error: {message}", err=True)
    raise typer.Exit(code)


# --- process ---

# --- demo ---

# --- make-pairs ---

# --- train ---

# --- eval ---

# --- bench ---

# --- export ---


def main() -> None:
    """Entry point: run the app, turning UserError into one line on stderr and exit code 2."""
    try:
        app()
    except UserError as exc:
        typer.echo(f"streamdeblur: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("streamdeblur: interrupted", err=True)
        sys.exit(130)
