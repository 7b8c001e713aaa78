"""``supportdesk tokens``: personal API tokens, and revoking a leaked one without a database shell."""

from __future__ import annotations

from typing import Annotated

import typer

from supportdesk.cli.common import Cell, find_user, out, print_rows, run_with_database
from supportdesk.cli.errors import fail
from supportdesk.config import Settings
from supportdesk.core.clock import SystemClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service

tokens_app = typer.Typer(help="Personal API tokens and login sessions.", no_args_is_help=True)

WorkspaceOption = Annotated[
    str | None, typer.Option(help="Workspace slug; needed only when the address is staff in several.")
]


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Argument(help="The staff user's e-mail address.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    workspace: WorkspaceOption = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Lifetime in days.")] = None,
) -> None:
    """Create a personal API token and print it (it is shown only once)."""
    from supportdesk.auth import service as auth_service

    async def work(database: Database, loaded: Settings) -> str:
        async with database.unit_of_work() as session:
            user = await find_user(session, email, workspace)
            if not user.is_active:
                fail(f"{user.email} is deactivated: run `supportdesk users activate {user.email}` first")
            issued = await auth_service.create_personal_token(
                session, loaded, SystemClock(), user=user, name=name, expires_in_days=expires_in_days
            )
            return issued.secret

    out.print(run_with_database(work), highlight=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list(
    email: Annotated[str, typer.Argument(help="The staff user's e-mail address.")],
    workspace: WorkspaceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of columns.")] = False,
) -> None:
    """List a user's live tokens (personal ones and browser sessions), newest first; never the secrets."""
    from supportdesk.auth import service as auth_service

    async def work(database: Database, _settings: Settings) -> list[dict[str, Cell]]:
        async with database.unit_of_work(readonly=True) as session:
            user = await find_user(session, email, workspace)
            tokens = await auth_service.list_tokens(session, user, include_sessions=True)
            # Read inside the block: the read-only unit of work ends with a rollback, which expires them.
            return [
                {
                    "id": token.id,
                    "kind": token.kind,
                    "name": token.name,
                    "prefix": token.prefix,
                    "created_at": token.created_at,
                    "expires_at": token.expires_at,
                }
                for token in tokens
            ]

    columns = ["id", "kind", "name", "prefix", "created_at", "expires_at"]
    print_rows(run_with_database(work), columns, as_json=as_json)


@tokens_app.command("revoke")
def tokens_revoke(
    target: Annotated[str, typer.Argument(metavar="ID|EMAIL", help="A token id, or an e-mail with --all.")],
    revoke_all: Annotated[
        bool, typer.Option("--all", help="Revoke every token of the user EMAIL, sessions included.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke one token by id (see `tokens list`), or all of a user's tokens with EMAIL --all."""
    from supportdesk.auth import service as auth_service

    if not revoke_all and not target.isdigit():
        fail(
            f"{target!r} is not a token id: give an id from `supportdesk tokens list EMAIL`, or EMAIL --all",
            2,
        )

    async def work(database: Database, _settings: Settings) -> str:
        clock = SystemClock()
        async with database.unit_of_work() as session:
            if revoke_all:
                user = await find_user(session, target, workspace)
                count = await auth_service.revoke_all_tokens(session, clock, user=user)
                return f"revoked {count} token(s) of {user.email}"
            token = await auth_service.get_token(session, int(target))
            scope_to_workspace(session.sync_session, token.workspace_id)
            user = await people_service.get_user(session, token.user_id)
            if token.revoked_at is not None:
                return f"token {token.id} ({token.name}) of {user.email} was revoked already"
            await auth_service.revoke_token(session, clock, user=user, token_id=token.id)
            return f"revoked token {token.id} ({token.name}) of {user.email}"

    out.print(run_with_database(work), highlight=False)
