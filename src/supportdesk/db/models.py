"""Imports every model, so the metadata (for migrations) and the mappers (for queries) are complete."""

from supportdesk.audit.models import AuditEvent
from supportdesk.automation.models import Macro, Trigger
from supportdesk.channels.email.models import InboundMessage, Mailbox
from supportdesk.db.base import Base
from supportdesk.idempotency.models import IdempotencyRecord
from supportdesk.jobs.models import DeliveryAttempt, JobRun, OutboxMessage
from supportdesk.notifications.mail.models import EmailTemplate
from supportdesk.notifications.models import Notification
from supportdesk.people.models import ApiToken, Customer, User
from supportdesk.portal.models import PortalSession, PortalSignIn
from supportdesk.sla.models import BusinessCalendar, SlaPolicy
from supportdesk.tickets.models import (
    Attachment,
    Comment,
    Ticket,
    TicketParticipant,
    TicketSatisfaction,
    TicketTag,
)
from supportdesk.webhooks.models import WebhookSubscription
from supportdesk.workspaces.models import Workspace

__all__ = [
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "Base",
    "BusinessCalendar",
    "Comment",
    "Customer",
    "DeliveryAttempt",
    "EmailTemplate",
    "IdempotencyRecord",
    "InboundMessage",
    "JobRun",
    "Macro",
    "Mailbox",
    "Notification",
    "OutboxMessage",
    "PortalSession",
    "PortalSignIn",
    "SlaPolicy",
    "Ticket",
    "TicketParticipant",
    "TicketSatisfaction",
    "TicketTag",
    "Trigger",
    "User",
    "WebhookSubscription",
    "Workspace",
]
