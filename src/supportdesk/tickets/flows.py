"""The ticket use cases as the desk runs them, each read top to bottom: validate, load, decide (pure
rules), write, record what happened.

A flow sits above the domain services it combines (tickets, people, workspaces, assignment, SLA,
automation), so those never need to import each other. Every entry point (the API today, inbound mail
and the portal later) goes through these, so neither the SLA, the automatic assignment nor the triggers
can be skipped by one that forgets them. All of it is one unit of work: the caller commits.

The ``actor`` is the staff user whose request it is, or ``None`` when nobody on the staff set it off
(mail arriving, a visitor's form): the desk then acts on the rules its admins set, as the audit trail's
"system", and what triggers write is the desk's own internal note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from supportdesk.assignment import service as assignment_service
from supportdesk.automation import engine as automation_engine
from supportdesk.automation import macros
from supportdesk.automation.models import Macro, TriggerEvent
from supportdesk.core.clock import Clock
from supportdesk.core.errors import SupportdeskError
from supportdesk.people import service as people_service
from supportdesk.people.models import Customer, Staff
from supportdesk.sla import service as sla_service
from supportdesk.sla.rules import ClockFacts
from supportdesk.tickets import events, repository, rules
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Channel, Comment, Priority, Ticket, TicketStatus
from supportdesk.tickets.schemas import CommentAuthor
from supportdesk.workspaces import service as workspace_service


async def open_ticket(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    title: str,
    description: str = "",
    priority: Priority = Priority.medium,
    category: str | None = None,
    tags: Sequence[str] = (),
    customer_email: str | None = None,
    customer_name: str | None = None,
    found_customer: Customer | Literal["not-looked-up"] | None = people_service.NOT_LOOKED_UP,
    assigned_agent_id: int | None = None,
    channel: Channel = Channel.api,
    external_id: str | None = None,
    follow_up_of_id: int | None = None,
    auto_assign: bool = True,
) -> Ticket:
    """Take a request in as a ticket: the customer with ``customer_email`` is found or created, the SLA
    policy sets its due times, and, where the workspace assigns automatically (and ``auto_assign``), an
    agent takes it and is told. Triggers are not run (see :func:`process_new_ticket`): loading history,
    as the demo and the tests do, opens tickets without them. A caller that looked ``customer_email`` up
    in this unit of work passes what it found as ``found_customer``, so it is not looked up again."""
    # Validate and load. Everything that can refuse the ticket runs before the workspace row is locked.
    if external_id is not None:
        await ticket_service.check_external_id(session, external_id)
    if assigned_agent_id is not None:
        await ticket_service.check_assignee(session, assigned_agent_id)
    customer: Customer | None = None
    if customer_email is not None:
        customer = await people_service.find_or_create_customer(
            session, clock, email=customer_email, name=customer_name, found=found_customer
        )
    # Reserving the number locks the workspace row until commit, and every ticket opened in the
    # workspace meanwhile waits for it. Where the ticket's insert reserves it (PostgreSQL), intake is
    # read without the lock; elsewhere one round trip reserves the number and reads intake, and a
    # refusal below rolls it back.
    if repository.reserves_the_number(session):
        intake = await workspace_service.read_ticket_intake(session, workspace_id)
    else:
        intake = await workspace_service.reserve_ticket_number(session, workspace_id)
    category = category or rules.default_category(intake.categories)
    ticket_service.require_known_category(category, intake.categories)

    # Decide: who takes it (before the insert, so the ticket is written once, already assigned) and when
    # it is due.
    automatic = None
    if auto_assign and intake.auto_assign and assigned_agent_id is None:
        if intake.number is None:
            # Round robin is fair because each pick sees the one before it: the workspace is locked
            # from here, taking the ticket's number and its turn.
            intake = await workspace_service.reserve_ticket_number(session, workspace_id)
        settings = assignment_service.settings_from(
            intake.assignment_strategy, intake.category_strategies, intake.agent_capacity
        )
        automatic = await assignment_service.pick_agent(
            session, settings, priority=priority, category=category
        )
        assigned_agent_id = automatic
    now = clock.now()
    status = rules.status_after_assignment(TicketStatus.open, assigned_agent_id)
    setup = await sla_service.load_setup(session, workspace_id)
    facts = ClockFacts(priority=priority, status=status, created_at=now)

    # Write and record what happened: the ticket with its audit event, its tags, and the note that tells
    # an automatically chosen agent (in the same statement on PostgreSQL, see insert_ticket).
    ticket = await repository.insert_ticket(
        session,
        {
            "workspace_id": workspace_id,
            "number": intake.number,
            "title": title,
            "description": description,
            "status": status,
            "priority": priority,
            "category": category,
            "customer_id": customer.id if customer else None,
            "customer_email": customer.email if customer else None,
            "assigned_agent_id": assigned_agent_id,
            "channel": channel,
            "external_id": external_id,
            "follow_up_of_id": follow_up_of_id,
            "assignment_seq": intake.assignment_seq if automatic is not None else None,
            "escalated": False,
            "created_at": now,
            "updated_at": now,
            "sla_paused_seconds": 0,
            "version": 1,
            **sla_service.due_fields(setup, customer.tier if customer else None, category, facts),
        },
        tags,
        note=(
            assignment_service.assignment_note(automatic, intake.number, title, priority)
            # A ticket assigned automatically had its number reserved with its turn.
            if automatic is not None and intake.number is not None
            else None
        ),
    )
    # The customer stays reachable from the ticket, so what the flow announces next (the customer's
    # acknowledgement) finds it in the session instead of reading it again.
    set_committed_value(ticket, "customer", customer)
    return ticket


async def process_new_ticket(
    session: AsyncSession, clock: Clock, *, actor: Staff | None, workspace_id: int, **fields: Any
) -> Ticket:
    """A new ticket through the intake rules (:func:`open_ticket`), then the ``created`` triggers."""
    ticket = await open_ticket(session, clock, workspace_id=workspace_id, **fields)
    if fields.get("assigned_agent_id") is not None:
        await _tell_new_assignee(session, clock, None, ticket, actor)
    await automation_engine.run_triggers(session, clock, ticket, TriggerEvent.created, actor=actor)
    await events.announce_created(session, clock, ticket)
    return ticket


async def process_ticket_update(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    changes: dict[str, Any],
    *,
    actor: Staff | None,
    expected_version: int | None = None,
    by_customer: bool = False,
) -> Ticket:
    """Apply a partial update and, if anything changed, run the ``updated`` triggers and announce it.
    ``by_customer`` is a change the customer made themselves (in the portal), which their e-mail does
    not tell them about again."""
    before = events.Before.of(ticket)
    ticket = await ticket_service.update_ticket(
        session, clock, ticket, changes, actor=actor, expected_version=expected_version
    )
    if ticket.version != before.version:
        await _tell_new_assignee(session, clock, before.assigned_agent_id, ticket, actor)
        await automation_engine.run_triggers(session, clock, ticket, TriggerEvent.updated, actor=actor)
        await events.announce_update(session, clock, before, ticket, by_customer=by_customer)
    return ticket


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """What a bulk change did to one ticket: changed it, found it as asked already, or was refused."""

    ticket_id: int
    number: int
    changed: bool
    refusal: SupportdeskError | None = None


async def process_bulk_update(
    session: AsyncSession,
    clock: Clock,
    tickets: Sequence[Ticket],
    changes: dict[str, Any],
    *,
    actor: Staff,
    add_tags: Sequence[str] = (),
) -> list[BulkOutcome]:
    """The same change to several tickets, in one unit of work, each through
    :func:`process_ticket_update` (the lifecycle, SLA, triggers, notifications and announcements).

    Each ticket's change runs in a savepoint of its own: one the rules refuse (a closed ticket, a
    transition the lifecycle does not allow from its status) is left exactly as it was and named with
    the reason, while the others change. Refusals come from the checks before anything is written or
    announced, so a refused ticket leaves nothing behind."""
    outcomes = []
    for ticket in tickets:
        # Read before the savepoint: a rolled-back savepoint expires what it touched.
        ticket_id, number, version = ticket.id, ticket.number, ticket.version
        own = dict(changes)
        if add_tags:
            own["tags"] = sorted({*ticket.tags, *add_tags})
        try:
            async with session.begin_nested():
                await process_ticket_update(session, clock, ticket, own, actor=actor)
        except SupportdeskError as refusal:
            outcomes.append(BulkOutcome(ticket_id, number, changed=False, refusal=refusal))
            continue
        outcomes.append(BulkOutcome(ticket_id, number, changed=ticket.version != version))
    return outcomes


async def _tell_new_assignee(
    session: AsyncSession, clock: Clock, previous: int | None, ticket: Ticket, actor: Staff | None
) -> None:
    """Tell the agent someone else gave ``ticket`` to (in the inbox, and by e-mail if they want it).
    Automatic assignment tells its agent itself; taking a ticket oneself needs no telling."""
    if ticket.assigned_agent_id not in (None, previous, actor.id if actor else None):
        await assignment_service.notify_assignee(session, clock, ticket)


async def process_comment(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    *,
    actor: Staff | None,
    content: str,
    is_public: bool = True,
    author: CommentAuthor = CommentAuthor.agent,
) -> Comment:
    """Add a comment, run the ``commented`` triggers and announce both."""
    before = events.Before.of(ticket)
    comment = await ticket_service.add_comment(
        session, clock, ticket, actor=actor, content=content, is_public=is_public, author=author
    )
    await automation_engine.run_triggers(
        session, clock, ticket, TriggerEvent.commented, actor=actor, comment=comment
    )
    await events.announce_comment(session, clock, ticket, comment)
    # A comment can change the ticket too: an agent's first public reply, or a trigger's actions.
    await events.announce_update(session, clock, before, ticket)
    return comment


async def process_macro(
    session: AsyncSession,
    clock: Clock,
    ticket: Ticket,
    macro: Macro,
    *,
    actor: Staff,
    expected_version: int | None = None,
) -> Ticket:
    """Apply a macro (its reply, its actions and the triggers they set off) and announce what it did."""
    before = events.Before.of(ticket)
    ticket, reply = await macros.apply_macro(
        session, clock, ticket, macro, actor=actor, expected_version=expected_version
    )
    await _tell_new_assignee(session, clock, before.assigned_agent_id, ticket, actor)
    if reply is not None:
        await events.announce_comment(session, clock, ticket, reply)
    await events.announce_update(session, clock, before, ticket)
    return ticket
