"""Macros: keeping them, and applying one to a ticket (its reply, its actions, then the triggers a
reply and a change set off).

Services flush; the caller (request or job) commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.automation import checks, engine
from supportdesk.automation.actions import Action
from supportdesk.automation.models import Macro, TriggerEvent
from supportdesk.automation.templates import ReplyTemplateError, ReplyValues, render_reply
from supportdesk.core.clock import Clock
from supportdesk.core.errors import Conflict, InvalidInput
from supportdesk.core.http import require_version
from supportdesk.db.lookups import get_in_workspace
from supportdesk.people.models import Customer, Staff
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Comment, Ticket, TicketStatus


class MacroExists(Conflict):
    code = "macro-exists"
    title = "Another macro has this name"


class MacroOutdated(Conflict):
    code = "macro-outdated"
    title = "The macro's stored actions are no longer valid; edit the macro"


def _check_not_empty(actions: Sequence[Any], reply: str | None) -> None:
    if not actions and reply is None:
        raise InvalidInput("actions", "A macro needs actions, a reply or both.", reason="empty-macro")


async def list_macros(session: AsyncSession) -> list[Macro]:
    """The workspace's macros by name."""
    return list((await session.execute(select(Macro).order_by(Macro.name, Macro.id))).scalars())


async def get_macro(session: AsyncSession, macro_id: int) -> Macro:
    """The macro with ``macro_id`` in the session's workspace."""
    return await get_in_workspace(session, Macro, macro_id, "macro")


async def create_macro(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    name: str,
    actions: Sequence[Action] = (),
    reply: str | None = None,
    reply_public: bool = True,
) -> Macro:
    """Add a macro; its reply template was checked by the schema."""
    _check_not_empty(actions, reply)
    await checks.check_categories(session, workspace_id, (), actions)
    await checks.check_people(session, workspace_id, actions)
    await checks.check_name(session, Macro, workspace_id, name, MacroExists)
    now = clock.now()
    macro = Macro(
        workspace_id=workspace_id,
        name=name,
        actions=checks.dump(actions),
        reply=reply,
        reply_public=reply_public,
        created_at=now,
        updated_at=now,
    )
    session.add(macro)
    await session.flush()
    return macro


async def update_macro(
    session: AsyncSession,
    clock: Clock,
    macro: Macro,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> Macro:
    """Apply a partial update; ``changes`` holds validated values (actions as models)."""
    require_version(macro.version, expected_version)
    actions: Sequence[Action] = changes.get("actions", ())
    _check_not_empty(changes.get("actions", macro.actions), changes.get("reply", macro.reply))
    await checks.check_categories(session, macro.workspace_id, (), actions)
    await checks.check_people(session, macro.workspace_id, actions)
    if "name" in changes and changes["name"] != macro.name:
        await checks.check_name(
            session, Macro, macro.workspace_id, changes["name"], MacroExists, except_id=macro.id
        )
    for key, value in changes.items():
        setattr(macro, key, checks.dump(value) if key == "actions" else value)
    if session.sync_session.is_modified(macro):
        macro.updated_at = clock.now()
    await session.flush()
    return macro


async def delete_macro(session: AsyncSession, macro: Macro) -> None:
    """Delete a macro."""
    await session.delete(macro)
    await session.flush()


async def _reply_values(session: AsyncSession, ticket: Ticket, agent: Staff) -> ReplyValues:
    customer = await session.get(Customer, ticket.customer_id) if ticket.customer_id is not None else None
    return ReplyValues(
        customer_name=(customer.name if customer else None) or "",
        customer_email=(customer.email if customer else ticket.customer_email) or "",
        ticket_number=ticket.number,
        ticket_title=ticket.title,
        agent_name=agent.name,
    )


async def apply_macro(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    macro: Macro,
    *,
    actor: Staff,
    expected_version: int | None = None,
) -> tuple[Ticket, Comment | None]:
    """Post the macro's reply as ``actor``, then apply its actions in order; then run the triggers
    as for any reply and change: ``commented`` for the reply, ``updated`` if the actions changed
    the ticket.

    All or nothing: the first action the ticket refuses raises, and the caller does not commit.
    Returns the ticket and the reply, if the macro has one.
    """
    require_version(ticket.version, expected_version)
    if ticket.status == TicketStatus.closed:
        raise ticket_service.TicketClosed()
    try:
        actions = checks.ACTIONS.validate_python(macro.actions)
    except ValidationError:
        raise MacroOutdated() from None
    reply: Comment | None = None
    if macro.reply is not None:
        try:
            content = render_reply(macro.reply, await _reply_values(session, ticket, actor))
        except ReplyTemplateError as error:
            raise InvalidInput("reply", error.message, reason=error.reason) from None
        if not content.strip():
            raise InvalidInput("reply", "The reply is empty for this ticket.", reason="empty-reply")
        reply = await ticket_service.add_comment(
            session, clock, ticket, actor=actor, content=content, is_public=macro.reply_public
        )
    version = ticket.version
    message = f'{actor.name} applied "{macro.name}" to ticket #{ticket.number} "{ticket.title}"'
    for action in actions:
        await engine.apply_action(session, clock, ticket, action, actor=actor, message=message)
    # A macro is a way to reply and change a ticket, not a way around the workspace's triggers.
    if reply is not None:
        await engine.run_triggers(session, clock, ticket, TriggerEvent.commented, actor=actor, comment=reply)
    if ticket.version != version:
        await engine.run_triggers(session, clock, ticket, TriggerEvent.updated, actor=actor)
    return ticket, reply
