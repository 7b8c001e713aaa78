"""Text neither database can store is refused with 422 naming the field, on both databases.

Before, PostgreSQL refused a NUL character with a server error while SQLite stored it. The unit tests
walk every text input; these send the inputs the probe named through the API, so the answer is the
same whichever database the request would have reached.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from supportdesk.tickets.models import Ticket
from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient

NUL = "\x00"


@dataclasses.dataclass(frozen=True)
class Case:
    method: str
    path: str
    field: str
    location: str = "body"
    body: dict[str, Any] | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


_WEEK = {"monday": [{"start": "09:00", "end": "17:00"}]}

CASES = [
    pytest.param(
        Case("POST", "/api/v1/tickets", "title", body={"title": f"Printer{NUL}"}), id="ticket-title"
    ),
    pytest.param(
        Case("POST", "/api/v1/tickets", "description", body={"title": "x", "description": NUL}),
        id="ticket-description",
    ),
    pytest.param(
        Case("POST", "/api/v1/tickets", "customer_name", body={"title": "x", "customer_name": f"A{NUL}"}),
        id="ticket-customer-name",
    ),
    pytest.param(
        Case("POST", "/api/v1/tickets", "tags.1", body={"title": "x", "tags": ["ok", f"v{NUL}ip"]}),
        id="ticket-tag",
    ),
    pytest.param(
        Case("POST", "/api/v1/tickets", "category", body={"title": "x", "category": f"billing{NUL}"}),
        id="ticket-category",
    ),
    pytest.param(
        Case("POST", "/api/v1/tickets", "external_id", body={"title": "x", "external_id": f"E{NUL}1"}),
        id="ticket-external-id",
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/tickets",
            "customer_email",
            body={"title": "x", "customer_email": f"a{NUL}@example.com"},
        ),
        id="ticket-customer-email",
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/tickets",
            "Idempotency-Key",
            location="header",
            body={"title": "x"},
            headers={"Idempotency-Key": f"key{NUL}1"},
        ),
        id="idempotency-key-header",
    ),
    pytest.param(
        Case("PATCH", "/api/v1/tickets/{ticket}", "title", body={"title": NUL}), id="ticket-update-title"
    ),
    pytest.param(
        Case("POST", "/api/v1/tickets/{ticket}/comments", "content", body={"content": f"Hi{NUL}"}),
        id="comment-content",
    ),
    pytest.param(
        Case("GET", "/api/v1/tickets", "tag", location="query", params={"tag": f"vip{NUL}"}), id="tag-filter"
    ),
    pytest.param(
        Case("GET", "/api/v1/tickets", "cursor", location="query", params={"cursor": f"abc{NUL}"}),
        id="ticket-cursor",
    ),
    pytest.param(
        Case("POST", "/api/v1/customers", "name", body={"email": "lena@example.com", "name": f"Lena{NUL}"}),
        id="customer-name",
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/customers",
            "company",
            body={"email": "lena@example.com", "company": f"Acme{NUL}"},
        ),
        id="customer-company",
    ),
    pytest.param(
        Case("GET", "/api/v1/customers", "company", location="query", params={"company": f"Acme{NUL}"}),
        id="company-filter",
    ),
    pytest.param(
        Case("POST", "/api/v1/admin/users", "name", body={"email": "new@example.com", "name": f"N{NUL}"}),
        id="user-name",
    ),
    pytest.param(Case("POST", "/api/v1/me/tokens", "name", body={"name": f"ci{NUL}"}), id="token-name"),
    pytest.param(
        Case("PATCH", "/api/v1/workspace", "categories.0", body={"categories": [f"sales{NUL}"]}),
        id="workspace-category",
    ),
    pytest.param(Case("POST", "/api/v1/macros", "name", body={"name": f"M{NUL}"}), id="macro-name"),
    pytest.param(
        Case("POST", "/api/v1/macros", "reply", body={"name": "M", "reply": f"Hello{NUL}"}), id="macro-reply"
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/triggers",
            "name",
            body={
                "name": f"T{NUL}",
                "event": "created",
                "actions": [{"type": "set_priority", "value": "high"}],
            },
        ),
        id="trigger-name",
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/triggers",
            "conditions.0.value",
            body={
                "name": "T",
                "event": "created",
                "conditions": [{"field": "title", "operator": "contains", "value": f"refund{NUL}"}],
                "actions": [{"type": "set_priority", "value": "high"}],
            },
        ),
        id="trigger-condition-text",
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/triggers",
            "actions.0.content",
            body={"name": "T", "event": "created", "actions": [{"type": "add_note", "content": NUL}]},
        ),
        id="trigger-note",
    ),
    pytest.param(Case("POST", "/api/v1/sla/policies", "name", body={"name": f"P{NUL}"}), id="policy-name"),
    pytest.param(
        Case(
            "POST",
            "/api/v1/sla/calendars",
            "name",
            body={"name": f"C{NUL}", "timezone": "Europe/Berlin", "weekly_hours": _WEEK},
        ),
        id="calendar-name",
    ),
    pytest.param(
        Case(
            "POST",
            "/api/v1/sla/calendars",
            "timezone",
            body={"name": "C", "timezone": f"Europe/Berlin{NUL}", "weekly_hours": _WEEK},
        ),
        id="calendar-timezone",
    ),
]


@pytest.fixture
async def ticket(ticket_factory: TicketFactory) -> Ticket:
    """A ticket for the cases that change one."""
    return await ticket_factory()


def _field_of(errors: list[dict[str, Any]], expected: str) -> list[tuple[str, str, str]]:
    return [
        (error["field"], error["location"], error["type"]) for error in errors if error["field"] == expected
    ]


@pytest.mark.parametrize("case", CASES)
async def test_a_nul_character_is_refused_with_422_naming_the_field(
    admin_client: ApiClient, ticket: Ticket, case: Case
) -> None:
    response = await admin_client.request(
        case.method,
        case.path.format(ticket=ticket.id),
        json=case.body,
        params=case.params,
        headers=case.headers,
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "validation-error"
    assert _field_of(body["errors"], case.field) == [(case.field, case.location, "unstorable-character")]


@pytest.mark.parametrize(
    ("raw_title", "field"),
    [
        pytest.param('"Printer \\ud800"', "title", id="unpaired-high-surrogate"),
        pytest.param('"\\udfff Printer"', "title", id="unpaired-low-surrogate"),
        pytest.param('"Printer \\u0000"', "title", id="escaped-nul"),
    ],
)
async def test_escapes_in_json_that_no_database_can_store_are_refused(
    agent_client: ApiClient, raw_title: str, field: str
) -> None:
    response = await agent_client.post(
        "/api/v1/tickets",
        content=f'{{"title": {raw_title}, "tags": ["ok"]}}'.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert _field_of(response.json()["errors"], field) == [(field, "body", "unstorable-character")]


async def test_unusual_text_that_can_be_stored_is_kept_as_sent(agent_client: ApiClient) -> None:
    # A surrogate pair escaped in JSON is one character; control characters other than NUL, a
    # noncharacter and the replacement character are all valid UTF-8 that both databases store.
    title = "Tab\there, \U0001f600 \ufffd\uffff\u2028 done"
    escaped = json.dumps({"title": title, "description": "\x01\x1f"}, ensure_ascii=True).encode()

    created = await agent_client.post(
        "/api/v1/tickets", content=escaped, headers={"Content-Type": "application/json"}
    )

    assert created.status_code == 201, created.text
    fetched = (await agent_client.get(f"/api/v1/tickets/{created.json()['id']}")).json()
    assert (fetched["title"], fetched["description"]) == (title, "\x01\x1f")
