"""The audit trail records every tag a ticket gains and every tag it loses, as changes of the ticket."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories.tickets import TicketFactory
from tests.fixtures.app import ApiClient


def _trail(events: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(event["action"], event["object_type"], event["changes"]) for event in events]


def _tag(before: str | None, after: str | None) -> tuple[str, str, dict[str, Any]]:
    return ("updated", "ticket", {"tag": [before, after]})


async def test_replacing_then_clearing_tags_records_each_addition_and_removal(
    admin_client: ApiClient,
) -> None:
    created = await admin_client.post("/api/v1/tickets", json={"title": "Tagged", "tags": ["a", "b"]})
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    replaced = await admin_client.patch(f"/api/v1/tickets/{ticket_id}", json={"tags": ["c"]})
    assert replaced.status_code == 200, replaced.text
    cleared = await admin_client.patch(f"/api/v1/tickets/{ticket_id}", json={"tags": []})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["tags"] == []

    response = await admin_client.get(f"/api/v1/tickets/{ticket_id}/audit")
    assert response.status_code == 200
    events = response.json()
    assert [event["action"] for event in events][:1] == ["created"]
    assert _trail(events[1:]) == [
        _tag(None, "a"),
        _tag(None, "b"),
        _tag(None, "c"),
        _tag("a", None),
        _tag("b", None),
        _tag("c", None),
    ]
    assert all(event["object_id"] == ticket_id for event in events)
    assert {event["actor_id"] for event in events} == {admin_client.user.id if admin_client.user else None}


@pytest.mark.parametrize(
    ("before", "after", "removed", "added"),
    [
        pytest.param(["a", "b"], ["b"], ["a"], [], id="one-removed"),
        pytest.param(["a"], ["a", "b"], [], ["b"], id="one-added"),
        pytest.param(["a", "b"], ["b", "c"], ["a"], ["c"], id="one-swapped"),
        pytest.param(["a", "b"], ["b", "a"], [], [], id="same-tags-reordered"),
    ],
)
async def test_an_update_records_exactly_the_tags_that_changed(
    admin_client: ApiClient,
    ticket_factory: TicketFactory,
    before: list[str],
    after: list[str],
    removed: list[str],
    added: list[str],
) -> None:
    ticket = await ticket_factory(tags=before)
    trail_before = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/audit")).json()

    response = await admin_client.patch(f"/api/v1/tickets/{ticket.id}", json={"tags": after})
    assert response.status_code == 200, response.text

    events = (await admin_client.get(f"/api/v1/tickets/{ticket.id}/audit")).json()
    new_events = events[len(trail_before) :]
    assert sorted(_trail(new_events), key=repr) == sorted(
        [_tag(None, tag) for tag in added] + [_tag(tag, None) for tag in removed], key=repr
    )
