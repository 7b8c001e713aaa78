"""Reading the audit trail."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.models import AuditEvent


async def events_for(session: AsyncSession, object_type: str, object_id: int) -> list[AuditEvent]:
    """Every audit event of one object, oldest first."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.id)
    )
    return list((await session.execute(query)).scalars())
