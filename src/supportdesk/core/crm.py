"""Whether a database's new customers are checked against a CRM, and which one.

Only a process that can reach a CRM should ask for its customers to be checked: the outbox message
that asks costs a row with every first contact, and a desk without a CRM would keep such rows for
nothing. The :class:`CrmSwitch` a database carries (every session made by it finds it in
``session.info``, as it finds the :class:`~supportdesk.core.pushes.PushOutlet`) is off until the app
or the worker that has a CRM configured turns it on; a plain session, made without a database, has no
switch and so no CRM.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

SWITCH_KEY = "crm_switch"


class CrmSwitch:
    """Which CRM a database's new customers are checked against: none until a process that has one
    turns it on."""

    def __init__(self) -> None:
        self.crm: str | None = None

    def turn_on(self, crm: str) -> None:
        """Check new customers against the CRM named ``crm`` (its client's name, which outbox messages
        name as their target)."""
        self.crm = crm


def crm_of(session: AsyncSession | Session) -> str | None:
    """The CRM that ``session``'s new customers are checked against; ``None`` when there is none."""
    switch = session.info.get(SWITCH_KEY)
    return switch.crm if isinstance(switch, CrmSwitch) else None
