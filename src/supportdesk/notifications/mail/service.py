"""Writing e-mails into the outbox, and a workspace's e-mail settings and templates.

The flows ask :func:`customer_message` for the e-mail a change to a ticket owes its customer and write
it with the change's other outbox messages; recording a staff notification calls :func:`mail_staff`
for the recipients who want e-mail too. Both compose the message at once, in the flow's unit of work,
so it commits or rolls back with the change; the worker renders it from the wording and values the
outbox row keeps (decision 0056). What they read of the workspace (sender identity, its
own templates) is kept per process while the workspace's delivery revision holds, as webhook
subscriptions are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidInput, NotFound
from supportdesk.db.caches import CacheKey, caches_of
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.notifications.mail import templates
from supportdesk.notifications.mail.compose import Composition, Identity, Thread, draft, standalone_draft
from supportdesk.notifications.mail.models import EmailKind, EmailTemplate
from supportdesk.notifications.mail.providers import LOCAL_PROVIDER
from supportdesk.notifications.mail.templates import Wording
from supportdesk.people.models import User
from supportdesk.workspaces import revisions
from supportdesk.workspaces.models import Workspace


@dataclass(frozen=True, slots=True)
class MailSetup:
    """What a workspace's e-mail needs from its configuration."""

    enabled: bool
    workspace_name: str
    identity: Identity
    own_wordings: Mapping[EmailKind, Wording]

    def wording(self, kind: EmailKind) -> Wording:
        return self.own_wordings.get(kind) or templates.DEFAULTS[kind]


_SETUP: CacheKey[MailSetup] = CacheKey("mail_setup")


async def mail_setup(session: AsyncSession, workspace_id: int) -> MailSetup:
    """The workspace's e-mail setup, from this process's cache while the delivery revision holds."""
    revision = (await revisions.current(session, workspace_id)).delivery
    cache = caches_of(session).revision_cache(_SETUP)
    found = cache.get(workspace_id, revision)
    if found is None:
        workspace = (
            await session.execute(select(Workspace).where(Workspace.id == workspace_id))
        ).scalar_one()
        own = (
            await session.execute(select(EmailTemplate).where(EmailTemplate.workspace_id == workspace_id))
        ).scalars()
        found = MailSetup(
            enabled=workspace.email_enabled,
            workspace_name=workspace.name,
            identity=Identity(
                workspace_id=workspace_id,
                from_address=workspace.email_from_address,
                from_name=workspace.email_from_name,
                reply_address=workspace.email_reply_address,
                reply_key=workspace.email_reply_key,
                providers=tuple(workspace.email_providers),
            ),
            own_wordings={row.kind: Wording(row.subject, row.text_body, row.html_body) for row in own},
        )
        cache.put(workspace_id, revision, found)
    return found


def _values(setup: MailSetup, context: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {"workspace": {"name": setup.workspace_name}, **context}


def _composition(
    setup: MailSetup, kind: EmailKind, number: int, context: Mapping[str, Mapping[str, Any]]
) -> Composition:
    # Kept unrendered in the outbox row: the worker renders it (decision 0056).
    return Composition(wording=setup.wording(kind), values=_values(setup, context), number=number)


async def customer_message(
    session: AsyncSession,
    clock: Clock,
    kind: EmailKind,
    *,
    workspace_id: int,
    thread: Thread,
    to: str,
    cause: str,
    context: Mapping[str, Mapping[str, Any]],
) -> outbox.Outgoing | None:
    """The e-mail ``kind`` about ``thread``'s ticket to its customer ``to``, as an outbox message for the
    caller to write with the change; ``None`` when the workspace sends no e-mail. ``cause`` names the
    change (as webhook events do), so announcing one change twice mails once."""
    setup = await mail_setup(session, workspace_id)
    if not setup.enabled:
        return None
    now = clock.now()
    key = f"mail:{kind.value}:{cause}"
    message = draft(
        kind,
        _composition(setup, kind, thread.number, context),
        identity=setup.identity,
        thread=thread,
        to=to,
        dedupe_key=key,
        now=now,
        from_name=setup.workspace_name,
    )
    return outbox.Outgoing(
        channel=DeliveryChannel.email,
        target=to,
        dedupe_key=key,
        payload=message.to_payload(),
        ticket_id=thread.ticket_id,
    )


async def sign_in_message(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    to: str,
    cause: str,
    context: Mapping[str, Mapping[str, Any]],
) -> outbox.Outgoing | None:
    """The portal's sign-in e-mail to ``to``, as an outbox message for the caller to write with the link
    it carries; ``None`` when the workspace sends no e-mail."""
    setup = await mail_setup(session, workspace_id)
    if not setup.enabled:
        return None
    kind = EmailKind.portal_sign_in
    key = f"mail:{kind.value}:{cause}"
    message = standalone_draft(
        kind,
        templates.render_or_default(kind, setup.wording(kind), _values(setup, context)),
        identity=setup.identity,
        to=to,
        dedupe_key=key,
        now=clock.now(),
        from_name=setup.workspace_name,
    )
    return outbox.Outgoing(
        channel=DeliveryChannel.email, target=to, dedupe_key=key, payload=message.to_payload()
    )


@dataclass(frozen=True, slots=True)
class StaffMail:
    """A notification to e-mail to a staff member who wants e-mail too."""

    user_id: int
    kind: EmailKind
    message: str
    thread: Thread
    priority: str
    status: str


async def mail_staff(
    session: AsyncSession, workspace_id: int, mails: Sequence[StaffMail], now: datetime
) -> int:
    """Write the e-mails of ``mails`` for those recipients who are active and want e-mail; returns how
    many were written."""
    if not mails:
        return 0
    setup = await mail_setup(session, workspace_id)
    if not setup.enabled:
        return 0
    wanted = {mail.user_id for mail in mails}
    query = select(User.id, User.email, User.name).where(
        User.workspace_id == workspace_id,
        User.id.in_(wanted),
        User.is_active.is_(True),
        User.email_notifications.is_(True),
    )
    recipients = {row.id: row for row in (await session.execute(query)).all()}
    messages = []
    for mail in mails:
        recipient = recipients.get(mail.user_id)
        if recipient is None:
            continue
        context = {
            "ticket": {
                "number": mail.thread.number,
                "title": mail.thread.title,
                "status": mail.status,
                "priority": mail.priority,
            },
            "recipient": {"name": recipient.name},
            "notification": {"message": mail.message},
        }
        key = f"mail:{mail.kind.value}:t{mail.thread.ticket_id}:u{recipient.id}:{now.isoformat()}"
        message = draft(
            mail.kind,
            _composition(setup, mail.kind, mail.thread.number, context),
            identity=setup.identity,
            thread=mail.thread,
            to=recipient.email,
            dedupe_key=key,
            now=now,
            from_name=setup.workspace_name,
        )
        messages.append(
            outbox.Outgoing(
                channel=DeliveryChannel.email,
                target=recipient.email,
                dedupe_key=key,
                payload=message.to_payload(),
                ticket_id=mail.thread.ticket_id,
            )
        )
    if not messages:
        return 0
    return await outbox.enqueue_at(session, workspace_id, messages, now)


def check_provider_names(names: Sequence[str], settings: Settings) -> None:
    """Refuse a workspace's provider chain that names a provider this server does not configure."""
    configured = [config.name for config in settings.mail_providers] or [LOCAL_PROVIDER]
    unknown = [name for name in dict.fromkeys(names) if name not in configured]
    if unknown:
        raise InvalidInput(
            "email_providers",
            f"No mail provider is named {', '.join(unknown)}; this server has: {', '.join(configured)}.",
            reason="unknown-mail-provider",
        )


# --- a workspace's own templates ----------------------------------------------------------------------


async def own_templates(session: AsyncSession) -> list[EmailTemplate]:
    """The workspace's own templates (the session is scoped to the workspace)."""
    return list((await session.execute(select(EmailTemplate))).scalars())


async def own_template(session: AsyncSession, kind: EmailKind) -> EmailTemplate | None:
    """The workspace's own template of ``kind``, if it has one (the session is scoped to the workspace)."""
    query = select(EmailTemplate).where(EmailTemplate.kind == kind)
    return (await session.execute(query)).scalar_one_or_none()


async def save_template(
    session: AsyncSession, clock: Clock, workspace_id: int, kind: EmailKind, wording: Wording
) -> EmailTemplate:
    """Make ``wording`` the workspace's template of ``kind``; the caller checked it."""
    now = clock.now()
    found = await own_template(session, kind)
    if found is None:
        found = EmailTemplate(
            workspace_id=workspace_id,
            kind=kind,
            subject=wording.subject,
            text_body=wording.text,
            html_body=wording.html,
            created_at=now,
            updated_at=now,
        )
        session.add(found)
    else:
        found.subject, found.text_body, found.html_body = wording.subject, wording.text, wording.html
        found.updated_at = now
    await session.flush()
    await revisions.bump(session, workspace_id, revisions.Covered.delivery)
    return found


async def reset_template(session: AsyncSession, workspace_id: int, kind: EmailKind) -> None:
    """Go back to the default wording of ``kind``; 404 when the workspace has none of its own."""
    found = await own_template(session, kind)
    if found is None:
        raise NotFound("This workspace uses the default template of this kind")
    await session.delete(found)
    await session.flush()
    await revisions.bump(session, workspace_id, revisions.Covered.delivery)
