"""The ``supportdesk`` command: one module per command group, errors reported in :mod:`.errors`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from supportdesk import __version__
from supportdesk.cli.customers import customers_app
from supportdesk.cli.database import db_app
from supportdesk.cli.deliveries import deliveries_app
from supportdesk.cli.demo import demo
from supportdesk.cli.errors import ErrorTranslatingGroup
from supportdesk.cli.mail import mail_app
from supportdesk.cli.server import serve, worker
from supportdesk.cli.tokens import tokens_app
from supportdesk.cli.users import users_app
from supportdesk.cli.workspaces import workspaces_app

app = typer.Typer(
    cls=ErrorTranslatingGroup,
    help="supportdesk: a self-hosted customer-support platform.",
    no_args_is_help=True,
    # --debug shows a plain traceback; Typer's own would print local variables, passwords among them.
    pretty_exceptions_enable=False,
)
app.command()(serve)
app.command()(worker)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(customers_app, name="customers")
app.add_typer(mail_app, name="mail")
app.command()(demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"supportdesk {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an unexpected error instead of one line.")
    ] = False,
) -> None:
    """supportdesk: a self-hosted customer-support platform."""


def main() -> None:
    """Entry point of the ``supportdesk`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["app", "main"]
