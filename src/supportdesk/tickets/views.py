"""The API's view of a ticket: its fields and, where the workspace's SLA setup is at hand, its SLA as of now.

Built here rather than in a router, so every endpoint that answers with a ticket (the ticket API, macros,
the breach list) shows the same thing, and no router imports another.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, computed_field
from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from supportdesk.core.schemas import ResponseModel
from supportdesk.sla import service as sla_service
from supportdesk.sla.schemas import TicketSlaOut, sla_out
from supportdesk.sla.service import SlaSetup
from supportdesk.tickets import rules
from supportdesk.tickets.models import Channel, ListedTicket, Priority, Ticket, TicketStatus


class TicketOut(ResponseModel):
    id: int
    number: int
    title: str
    description: str
    status: TicketStatus
    priority: Priority
    category: str
    tags: list[str]
    customer_id: int | None
    customer_email: str | None
    assigned_agent_id: int | None
    channel: Channel
    external_id: str | None
    escalated: bool
    follow_up_of_id: int | None = Field(
        default=None, description="The closed ticket this one follows up, when a customer wrote again."
    )
    created_at: datetime
    updated_at: datetime
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    version: int
    sla: TicketSlaOut | None = Field(
        default=None, description="Each SLA target's due time, time remaining and state when answered."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def is_urgent(self) -> bool:
        """Open, unassigned and high or critical."""
        return rules.is_urgent(self.status, self.priority, self.assigned_agent_id)


def ticket_out(
    ticket: Ticket | ListedTicket, setup: SlaSetup | None = None, now: datetime | None = None
) -> TicketOut:
    """The API view of a ticket; with the workspace's SLA setup and the time, its SLA too."""
    view = TicketOut.model_validate(ticket)
    if setup is not None and now is not None:
        view.sla = sla_out(sla_service.sla_view(ticket, setup, now))
    return view


# Views built in the session's transaction, by ticket id: (the ticket's version, its view).
_BUILT = "ticket_views"


async def ticket_view(session: AsyncSession, ticket: Ticket, now: datetime) -> TicketOut:
    """The API view of a ticket with its SLA as of ``now``.

    Built once per version of the ticket in a transaction: a change's announcement and the answer to
    the request that made it show the same view (its SLA as of the announcement, a moment before the
    answer), instead of validating the ticket twice. A ticket with changes not yet flushed is built
    anew each time, and a commit or rollback forgets every view."""
    built: dict[int, tuple[int, TicketOut]] = session.info.setdefault(_BUILT, {})
    unchanged = not inspect(ticket).modified
    kept = built.get(ticket.id)
    if kept is not None and unchanged and kept[0] == ticket.version:
        return kept[1]
    setup = await sla_service.load_setup(session, ticket.workspace_id)
    view = ticket_out(ticket, setup, now)
    if unchanged:
        built[ticket.id] = (ticket.version, view)
    return view


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_views(session: Session, *_previous: object) -> None:
    session.info.pop(_BUILT, None)
