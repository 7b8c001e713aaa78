"""Pure rules about customers: how a CRM's answer changes one. No I/O, no clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from supportdesk.people.models import Tier

# The customer's CRM columns hold this many characters; a CRM may send longer text.
CRM_TEXT_LENGTH = 200


class CrmDetails(Protocol):
    """What a CRM says of a customer it knows (``integrations.crm.CrmProfile`` is one); a field the CRM
    leaves empty is ``None``."""

    @property
    def tier(self) -> Tier | None: ...

    @property
    def plan(self) -> str | None: ...

    @property
    def account_manager(self) -> str | None: ...

    @property
    def crm_id(self) -> str | None: ...


def crm_dedupe_key(customer_id: int) -> str:
    """The outbox message that has a new customer checked against the CRM: one per customer."""
    return f"crm:customer:{customer_id}:created"


def crm_recheck_key(customer_id: int, asked_at: datetime) -> str:
    """The outbox message that has a customer checked against the CRM again, as an operator asked at
    ``asked_at``: one per customer and request, so asking twice in one second asks once."""
    return f"crm:customer:{customer_id}:recheck:{asked_at:%Y%m%dT%H%M%S}"


def crm_changes(details: CrmDetails | None, checked_at: datetime) -> dict[str, Any]:
    """The customer columns an answer of the CRM sets, given when the CRM gave it.

    ``None`` is the CRM's answer that it does not know the address: only the time it was asked is kept,
    and what the desk knows (the tier an agent chose, say) stays. A known customer takes the CRM's plan,
    account manager and id as they are, empty ones included, since the CRM is where they are kept; the
    tier only when the CRM gives one, because a customer always has a tier, and no tier from the CRM
    says nothing about which.
    """
    changes: dict[str, Any] = {"crm_checked_at": checked_at}
    if details is None:
        return changes
    changes |= {
        "crm_plan": _cut(details.plan),
        "crm_account_manager": _cut(details.account_manager),
        "crm_id": _whole(details.crm_id),
    }
    if details.tier is not None:
        changes["tier"] = details.tier
    return changes


def _cut(text: str | None) -> str | None:
    return text if text is None or len(text) <= CRM_TEXT_LENGTH else text[: CRM_TEXT_LENGTH - 1] + "…"


def _whole(identifier: str | None) -> str | None:
    # An id cut short would name another record, or none: one too long to keep is not kept.
    return identifier if identifier is None or len(identifier) <= CRM_TEXT_LENGTH else None
