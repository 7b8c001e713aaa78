"""The CRM channel's sender: a new customer checked against the CRM, its answer kept on the customer.

``people.service.create_customer`` writes one outbox message per new customer when the process has a
CRM (``core.crm``); this sender takes each one, asks :class:`~supportdesk.integrations.crm.CrmLookup`
about the customer's address as it is now, and records the answer through the people service in a unit
of work of the message's workspace, as the system's doing (the audit trail shows it). A new tier
re-times the customer's open tickets from inside that unit of work's flush (``sla.clocks``).

What an answer does:

- the CRM knows the address (``fresh`` or ``cached``): tier (when it gives one), plan, account manager,
  CRM id and the time of the answer are kept; delivered;
- the CRM does not know it: only the time it was asked is kept; delivered;
- the CRM cannot answer now (``stale``, ``unavailable``): a failed attempt, not a permanent one, so the
  outbox tries again after its backoff, with the reason on the attempt. A stale answer is not taken:
  the retry will get today's;
- the customer was deleted meanwhile (or is not one of the message's workspace): delivered, with
  nothing to do. A dead letter would ask an admin to look at a message nobody can or needs to act on;
- the customer's address changed while the CRM was asked: a failed attempt, so the retry asks about
  the new one;
- a message that names no customer: refused for good (dead at once), since no retry reads it better.
"""

from __future__ import annotations

from collections.abc import Sequence

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.core.clock import Clock
from supportdesk.core.errors import NotFound
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.integrations.crm.lookup import CrmLookup
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent
from supportdesk.people import service as people_service


class CrmSender:
    """Sends CRM outbox messages: each one is a customer to check against the CRM of ``lookup``, which
    the sender owns (:meth:`aclose` closes it)."""

    def __init__(self, database: Database, clock: Clock, lookup: CrmLookup) -> None:
        self._database = database
        self._clock = clock
        self._lookup = lookup
        # Addresses read for a batch (prepare), by message id, None for a customer not found; each is
        # taken by its own attempt.
        self._prepared: dict[int, str | None] = {}

    @property
    def crm(self) -> str:
        """The CRM's name, which messages for it name as their target."""
        return self._lookup.client.name

    async def prepare(self, deliveries: Sequence[Delivery]) -> None:
        """Read the addresses of a batch's customers in one query per workspace instead of one per
        message."""
        by_workspace: dict[int, list[tuple[Delivery, int]]] = {}
        for delivery in deliveries:
            customer_id = _customer_id(delivery)
            if customer_id is not None:
                by_workspace.setdefault(delivery.workspace_id, []).append((delivery, customer_id))
        for workspace_id, wanted in by_workspace.items():
            found = await self._addresses(workspace_id, [customer_id for _, customer_id in wanted])
            for delivery, customer_id in wanted:
                self._prepared[delivery.message_id] = found.get(customer_id)

    async def __call__(self, delivery: Delivery) -> Sent:
        customer_id = _customer_id(delivery)
        if customer_id is None:
            # Written by something other than create_customer: no attempt will ever read it better.
            raise DeliveryFailed("the message names no customer", permanent=True, provider=self.crm)
        # The address as it is now: an agent may have corrected it since the customer was created.
        if delivery.message_id in self._prepared:
            address = self._prepared.pop(delivery.message_id)
        else:
            address = (await self._addresses(delivery.workspace_id, [customer_id])).get(customer_id)
        if address is None:
            return Sent(provider=self.crm)
        # No transaction is open while the CRM is asked: its answer may take seconds.
        answer = await self._lookup.profile(address)
        if answer.source in ("stale", "unavailable") or answer.checked_at is None:
            raise DeliveryFailed(answer.reason or "the CRM could not answer", provider=self.crm)
        async with self._database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, delivery.workspace_id)
            act_as(session.sync_session, SYSTEM, self._clock)
            try:
                customer = await people_service.get_customer(session, customer_id)
            except NotFound:
                return Sent(provider=self.crm)
            if customer.email != address:
                # Changed while the CRM was asked: the answer is about an address the customer no
                # longer has.
                raise DeliveryFailed(
                    "the customer's address changed during the look-up; it is asked about again",
                    provider=self.crm,
                )
            await people_service.record_crm_answer(
                session, self._clock, customer, answer.profile, checked_at=answer.checked_at
            )
        return Sent(provider=self.crm)

    async def aclose(self) -> None:
        await self._lookup.aclose()

    async def _addresses(self, workspace_id: int, customer_ids: Sequence[int]) -> dict[int, str]:
        async with self._database.unit_of_work(readonly=True) as session:
            scope_to_workspace(session.sync_session, workspace_id)
            return await people_service.customer_addresses(session, customer_ids)


def _customer_id(delivery: Delivery) -> int | None:
    value = delivery.payload.get("customer_id")
    return None if isinstance(value, bool) or not isinstance(value, int) else value
