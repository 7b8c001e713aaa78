"""A queue page's query string read into the API's list filters."""

from __future__ import annotations

from datetime import UTC, datetime

from supportdesk.tickets.models import ACTIVE_STATUSES, Channel, Priority, TicketStatus
from supportdesk.tickets.schemas import TicketSort
from supportdesk.web.views import (
    ListRequest,
    list_filters,
    parse_list_request,
    queue_filters,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME = 7


def test_an_empty_query_is_my_tickets_sla_due_first() -> None:
    request = parse_list_request({})

    assert (request.queue, request.sort, request.filtered) == ("mine", TicketSort.sla_due, False)
    filters = list_filters(request, ME, NOW)
    assert (filters.assignee_id, tuple(filters.status)) == (ME, ACTIVE_STATUSES)


def test_chosen_filters_replace_the_queues_own() -> None:
    request = parse_list_request(
        {
            "queue": "mine",
            "status": "pending",
            "priority": "high",
            "channel": "email",
            "tag": "vip",
            "assignee": "none",
        }
    )
    filters = list_filters(request, ME, NOW)

    assert tuple(filters.status) == (TicketStatus.pending,)
    assert tuple(filters.priority) == (Priority.high,)
    assert (filters.channel, filters.tag) == (Channel.email, "vip")
    assert (filters.unassigned, filters.assignee_id) == (True, None)
    assert (
        list_filters(parse_list_request({"queue": "unassigned", "assignee": "12"}), ME, NOW).assignee_id == 12
    )


def test_the_queues_filter_as_their_names_say() -> None:
    assert queue_filters("unassigned", ME, NOW).unassigned
    assert queue_filters("urgent", ME, NOW).urgent
    assert queue_filters("at_risk", ME, NOW).sla_condition is not None
    assert queue_filters("breached", ME, NOW).sla_condition is not None
    assert queue_filters("all", ME, NOW) == queue_filters("anything else", ME, NOW)


def test_values_that_make_no_sense_are_named_and_dropped() -> None:
    request = parse_list_request(
        {"queue": "x", "status": "y", "sort": "z", "category": "a b", "assignee": "0"}
    )

    assert request.ignored == ["queue", "assignee", "status", "category", "sort"]
    assert request == ListRequest(ignored=request.ignored)


def test_a_list_keeps_its_query_across_pages() -> None:
    request = parse_list_request({"queue": "all", "priority": "low", "sort": "-created_at", "q": " #12 "})

    assert request.query() == {"queue": "all", "priority": "low", "sort": "-created_at", "q": "#12"}
    assert request.query(cursor="abc", q=None) == {
        "queue": "all",
        "priority": "low",
        "sort": "-created_at",
        "cursor": "abc",
    }
