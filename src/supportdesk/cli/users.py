"""``supportdesk users``: staff users, and getting an admin back in without a database shell.

Every change goes through the people service in one unit of work, as the API's would: the same rules
(the last active admin stays), the same audit events, and the same notice to running servers' token
caches.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.cli.common import Cell, checked_email, find_user, out, print_rows, run_with_database
from supportdesk.cli.errors import fail
from supportdesk.config import Settings
from supportdesk.core.clock import Clock, SystemClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.people import service as people_service
from supportdesk.people.models import User
from supportdesk.workspaces import service as workspace_service

users_app = typer.Typer(help="Staff users.", no_args_is_help=True)

Email = Annotated[str, typer.Argument(help="The staff user's e-mail address.")]
WorkspaceOption = Annotated[
    str | None, typer.Option(help="Workspace slug; needed only when the address is staff in several.")
]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON array instead of columns.")]


def _described(user: User, slug: str) -> str:
    return f"{user.role.value} {user.email} (id {user.id}) in workspace {slug}"


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The user's e-mail address.")],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    role: Annotated[Role, typer.Option(help="Role.")] = Role.agent,
    workspace: Annotated[str, typer.Option(help="Workspace slug (created if missing).")] = "default",
    password: Annotated[str | None, typer.Option(help="Password for browser login.")] = None,
    prompt_password: Annotated[bool, typer.Option(help="Ask for the password (twice).")] = False,
) -> None:
    """Create a staff user (and the workspace, the first time)."""
    address = checked_email(email)
    if password is not None and prompt_password:
        fail("give either --password or --prompt-password, not both", code=2)
    if prompt_password:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password is not None:
        _check_length(password)

    async def work(database: Database, _settings: Settings) -> str:
        clock = SystemClock()
        async with database.unit_of_work() as session:
            found = await workspace_service.get_workspace_by_slug(session, workspace)
            ws = found or await workspace_service.create_workspace(
                session, clock, slug=workspace, name=workspace.replace("-", " ").title()
            )
            user = await people_service.create_user(
                session,
                clock,
                workspace_id=ws.id,
                email=address,
                name=name or address.split("@")[0],
                role=role,
                password=password,
            )
            return f"created {_described(user, ws.slug)}"

    out.print(run_with_database(work), highlight=False)


@users_app.command("list")
def users_list(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace (slug).")] = None,
    as_json: Json = False,
) -> None:
    """List staff users: workspace, id, e-mail, name, role and whether they are active."""

    async def work(database: Database, _settings: Settings) -> list[dict[str, Cell]]:
        async with database.unit_of_work(readonly=True) as session:
            slugs = {ws.id: ws.slug for ws in await workspace_service.list_workspaces(session)}
            if workspace is not None and workspace not in slugs.values():
                fail(f"no workspace {workspace!r}: see `supportdesk workspaces list`")
            users = await people_service.list_users(session)
            return [
                {
                    "workspace": slugs[user.workspace_id],
                    "id": user.id,
                    "email": user.email,
                    "name": user.name,
                    "role": user.role,
                    "active": user.is_active,
                }
                for user in sorted(users, key=lambda user: (slugs[user.workspace_id], user.email))
                if workspace is None or slugs[user.workspace_id] == workspace
            ]

    rows = run_with_database(work)
    print_rows(rows, ["workspace", "id", "email", "name", "role", "active"], as_json=as_json)


@users_app.command("set-password")
def users_set_password(
    email: Email,
    workspace: WorkspaceOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of standard input.")
    ] = False,
) -> None:
    """Set a user's password (asked twice) and end their browser sessions; API tokens stay valid."""
    checked_email(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail(
                "no password on standard input: pipe one line into the command, or leave out --password-stdin"
            )
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    _check_length(password)

    async def set_password(session: AsyncSession, clock: Clock, user: User) -> str:
        await people_service.set_password(session, clock, user, password)
        return "set the password of"

    _change(email, workspace, set_password)


@users_app.command("deactivate")
def users_deactivate(email: Email, workspace: WorkspaceOption = None) -> None:
    """Deactivate a user and revoke all their tokens (refused for the last active admin)."""

    async def deactivate(session: AsyncSession, clock: Clock, user: User) -> str:
        if not user.is_active:
            return "already deactivated:"
        await people_service.deactivate_user(session, clock, user)
        return "deactivated (and revoked the tokens of)"

    _change(email, workspace, deactivate)


@users_app.command("activate")
def users_activate(email: Email, workspace: WorkspaceOption = None) -> None:
    """Let a deactivated user back in; their old tokens stay revoked."""

    async def activate(session: AsyncSession, clock: Clock, user: User) -> str:
        if user.is_active:
            return "already active:"
        await people_service.activate_user(session, clock, user)
        return "activated"

    _change(email, workspace, activate)


@users_app.command("set-role")
def users_set_role(
    email: Email,
    role: Annotated[Role, typer.Argument(help="admin, senior_agent, agent or viewer.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Change a user's role (refused when it would leave the workspace without an active admin)."""

    async def set_role(session: AsyncSession, clock: Clock, user: User) -> str:
        await people_service.update_user(session, clock, user, {"role": role})
        return "now"

    _change(email, workspace, set_role)


Change = Callable[[AsyncSession, Clock, User], Awaitable[str]]


def _change(email: str, workspace: str | None, change: Change) -> None:
    """Find the user, apply ``change`` in one unit of work and print what was done to whom."""

    async def work(database: Database, _settings: Settings) -> str:
        clock = SystemClock()
        async with database.unit_of_work() as session:
            user = await find_user(session, email, workspace)
            done = await change(session, clock, user)
            found = await workspace_service.get_workspace(session, user.workspace_id)
            return f"{done} {_described(user, found.slug)}"

    out.print(run_with_database(work), highlight=False)


def _check_length(password: str) -> None:
    if len(password) < people_service.MIN_PASSWORD_LENGTH:
        fail(f"the password needs at least {people_service.MIN_PASSWORD_LENGTH} characters")
