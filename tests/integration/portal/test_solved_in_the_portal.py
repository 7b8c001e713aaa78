"""A customer who marks a request solved in the portal is not e-mailed the "how did we do?" question
the page asks them already; a resolution by the desk still sends it."""

from __future__ import annotations

import pytest

from supportdesk.db.session import Database
from supportdesk.people.models import Customer
from supportdesk.tickets.models import TicketStatus
from tests.factories.people import CustomerFactory
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient
from tests.integration.portal.conftest import PORTAL, SignIn, emails


@pytest.fixture
async def customer(customer_factory: CustomerFactory) -> Customer:
    return await customer_factory(email="maria@example.com", name="Maria Lopez")


@pytest.mark.parametrize(
    ("resolved_by", "surveys"),
    [
        pytest.param("customer", 0, id="customer-in-the-portal-gets-no-survey-mail"),
        pytest.param("agent", 1, id="agent-through-the-api-sends-the-survey-mail"),
    ],
)
async def test_the_satisfaction_mail_goes_only_when_the_desk_resolved(
    sign_in: SignIn,
    customer: Customer,
    ticket_factory: TicketFactory,
    senior_client: ApiClient,
    database: Database,
    resolved_by: str,
    surveys: int,
) -> None:
    ticket = await ticket_factory(
        customer=customer, assignee=senior_client.user, status=TicketStatus.in_progress
    )
    if resolved_by == "customer":
        path = f"{PORTAL}/tickets/{ticket.id}"
        answer = await (await sign_in(customer)).fill(path, f"{path}/solve", {})
        assert answer.status_code == 303
    else:
        answer = await senior_client.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "resolved"})
        assert answer.status_code == 200, answer.text

    sent = await emails(database, "satisfaction_request")

    assert [payload["to"] for payload in sent] == ["maria@example.com"] * surveys
