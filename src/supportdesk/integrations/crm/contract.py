"""What a CRM adapter answers and how it fails: the profile, the client protocol and the one error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from supportdesk.people.models import Tier


@dataclass(frozen=True, slots=True)
class CrmProfile:
    """What the CRM knows of a customer; a field the CRM leaves empty, or fills with a value we do not
    understand, is ``None``."""

    tier: Tier | None
    plan: str | None
    account_manager: str | None
    crm_id: str | None


class CrmUnavailable(Exception):
    """The CRM could not answer: unreachable, too slow, failing, throttling us, refusing our credentials,
    or answering with something other than what its API promises. The message is one line."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(reason.split())
        super().__init__(self.reason)


class CrmClient(Protocol):
    """One CRM's API, known by its ``name``."""

    name: str

    async def lookup(self, email: str) -> CrmProfile | None:
        """The profile of the customer with this address; ``None`` when the CRM does not know it. Raises
        :class:`CrmUnavailable` when the CRM cannot say."""
        ...

    async def aclose(self) -> None:
        """Release what the client holds open (its HTTP connections)."""
        ...


def tier_of(value: object) -> Tier | None:
    """A CRM's tier value as ours; CRMs differ in case, and a tier we do not offer is no tier at all."""
    if not isinstance(value, str):
        return None
    try:
        return Tier(value.strip().lower())
    except ValueError:
        return None


def text_of(value: object) -> str | None:
    """A text field, ``None`` when absent or blank (CRMs often send "" for a property never set)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def id_of(value: object) -> str | None:
    """A record id, which some CRMs send as a number and others as a string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return text_of(value)
