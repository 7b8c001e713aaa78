"""Imports every model, so the metadata (for migrations) and the mappers (for queries) are complete."""

from supportdesk.audit.models import AuditEvent
from supportdesk.core.idempotency_models import IdempotencyRecord
from supportdesk.db.base import Base
from supportdesk.people.models import ApiToken, Customer, User
from supportdesk.tickets.models import Comment, Ticket, TicketTag
from supportdesk.workspaces.models import Workspace

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Comment",
    "Customer",
    "IdempotencyRecord",
    "Ticket",
    "TicketTag",
    "User",
    "Workspace",
]
