"""The published OpenAPI schema as the end-to-end tests load it, with links between its operations.

The application does not publish OpenAPI links, so the tests add them here: a link says which value of
one response (an id, an ETag, a cursor) a later request can take, and schemathesis's stateful run
follows them to chain a create with the reads and updates of the object it made.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema_rs
import schemathesis
from hypothesis import strategies as st
from schemathesis.schemas import BaseSchema

from supportdesk.core.emails import is_valid_email
from tests.fixtures.openapi import published_openapi

API = "/api/v1"
# The same examples on every run of the same schema, so a red run is the code's doing and can be
# repeated; a change to an operation's schema draws new examples for it. Wider exploration is a matter
# of running with more examples, not of luck in CI.
DERANDOMIZE = True

# The API's "email" format is an address mail can be delivered to: reserved names such as ``.test``
# are refused, so generated "valid" addresses come from the same validator the API uses.
# They must also pass the format check schemathesis applies when it looks at a request again after
# ``realistic.py`` edited it: that check refuses an upper-case "XN--" label prefix, which mail (and the
# API) accept, and would then expect the API to refuse the request.
_SCHEMA_EMAIL = jsonschema_rs.validator_for({"type": "string", "format": "email"}, validate_formats=True)
schemathesis.openapi.format(
    "email", st.emails().filter(lambda address: is_valid_email(address) and _SCHEMA_EMAIL.is_valid(address))
)


def _reference(path: str, method: str) -> str:
    """A JSON pointer to an operation, as a link's ``operationRef`` takes it."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _link(path: str, method: str, **parameters: str) -> dict[str, Any]:
    # Parameter names are prefixed with their location where the name alone would be ambiguous.
    return {"operationRef": _reference(path, method), "parameters": parameters}


BODY_ID = "$response.body#/id"
ETAG = "$response.header.ETag"
FIRST_ITEM = "$response.body#/items/0/id"


def _object_links(
    collection: str, parameter: str, *, etag: bool, deletable: bool
) -> dict[str, dict[str, Any]]:
    """Links from an object's create (or update) response to its read, update and delete."""
    item = f"{API}/{collection}/{{{parameter}}}"
    update = {parameter: BODY_ID, "header.if-match": ETAG} if etag else {parameter: BODY_ID}
    links = {
        "Read": _link(item, "get", **{parameter: BODY_ID}),
        "Update": _link(item, "patch", **update),
    }
    if deletable:
        links["Delete"] = _link(item, "delete", **{parameter: BODY_ID})
    return links


TICKET = f"{API}/tickets/{{ticket_id}}"
CUSTOMER = f"{API}/customers/{{customer_id}}"
USER = f"{API}/admin/users/{{user_id}}"
APPLY_MACRO = f"{API}/tickets/{{ticket_id}}/macros/{{macro_id}}"
TICKET_FILTERS = [
    "status",
    "priority",
    "assignee",
    "customer_id",
    "category",
    "tag",
    "urgent",
    "escalated",
    "channel",
    "sla",
    "created_after",
    "created_before",
    "sort",
    "limit",
]


def _next_page(path: str, filters: list[str]) -> dict[str, Any]:
    """The next page of a list: its cursor with the filters and sort of the request that issued it."""
    parameters = {f"query.{name}": f"$request.query.{name}" for name in filters}
    return _link(path, "get", **{"query.cursor": "$response.body#/next_cursor", **parameters})


def _ticket_links() -> dict[str, dict[str, Any]]:
    return {
        **_object_links("tickets", "ticket_id", etag=True, deletable=True),
        "Comment": _link(f"{TICKET}/comments", "post", ticket_id=BODY_ID),
        "Comments": _link(f"{TICKET}/comments", "get", ticket_id=BODY_ID),
        "Audit": _link(f"{TICKET}/audit", "get", ticket_id=BODY_ID),
        "ApplyMacro": _link(APPLY_MACRO, "post", ticket_id=BODY_ID, **{"header.if-match": ETAG}),
    }


# (path, method, status) -> the links of that response
LINKS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {
    (f"{API}/tickets", "post", "201"): _ticket_links(),
    (TICKET, "get", "200"): _ticket_links(),
    (TICKET, "patch", "200"): _ticket_links(),
    (f"{API}/tickets", "get", "200"): {
        "First": _link(TICKET, "get", ticket_id=FIRST_ITEM),
        "NextPage": _next_page(f"{API}/tickets", TICKET_FILTERS),
    },
    (f"{TICKET}/comments", "post", "201"): {
        "Comments": _link(f"{TICKET}/comments", "get", ticket_id="$request.path.ticket_id"),
        "Ticket": _link(TICKET, "get", ticket_id="$request.path.ticket_id"),
    },
    (APPLY_MACRO, "post", "200"): {
        "Ticket": _link(TICKET, "get", ticket_id="$request.path.ticket_id"),
        "Audit": _link(f"{TICKET}/audit", "get", ticket_id="$request.path.ticket_id"),
    },
    (f"{API}/customers", "post", "201"): {
        **_object_links("customers", "customer_id", etag=True, deletable=False),
        "Lookup": _link(f"{API}/customers/lookup", "get", email="$response.body#/email"),
        "Tickets": _link(f"{API}/tickets", "get", customer_id=BODY_ID),
    },
    (CUSTOMER, "patch", "200"): _object_links("customers", "customer_id", etag=True, deletable=False),
    (f"{API}/customers", "get", "200"): {
        "First": _link(CUSTOMER, "get", customer_id=FIRST_ITEM),
        "NextPage": _next_page(f"{API}/customers", ["tier", "company", "limit"]),
    },
    (f"{API}/admin/users", "post", "201"): {
        **_object_links("admin/users", "user_id", etag=False, deletable=False),
        "Deactivate": _link(f"{USER}/deactivate", "post", user_id=BODY_ID),
        "AssignTicket": {
            "operationRef": _reference(f"{API}/tickets", "post"),
            "requestBody": {"assigned_agent_id": BODY_ID},
        },
    },
    (f"{API}/me/notifications", "get", "200"): {
        "Read": _link(f"{API}/me/notifications/{{notification_id}}/read", "post", notification_id=FIRST_ITEM),
        "NextPage": _next_page(f"{API}/me/notifications", ["unread", "limit"]),
    },
    (f"{API}/sla/calendars", "post", "201"): {
        **_object_links("sla/calendars", "calendar_id", etag=True, deletable=True),
        "Policy": {
            "operationRef": _reference(f"{API}/sla/policies", "post"),
            "requestBody": {"calendar_id": BODY_ID},
        },
    },
    (f"{API}/sla/policies", "post", "201"): _object_links(
        "sla/policies", "policy_id", etag=True, deletable=True
    ),
    (f"{API}/triggers", "post", "201"): _object_links("triggers", "trigger_id", etag=True, deletable=True),
    (f"{API}/macros", "post", "201"): {
        **_object_links("macros", "macro_id", etag=True, deletable=True),
        "Apply": _link(APPLY_MACRO, "post", macro_id=BODY_ID),
    },
}


def published_schema() -> dict[str, Any]:
    """The OpenAPI document the application publishes, with the links above added (a fresh copy each
    call, of a document built once per process)."""
    return copy.deepcopy(_published_schema())


@functools.cache
def _published_schema() -> dict[str, Any]:
    raw = published_openapi()
    for (path, method, status), links in LINKS.items():
        response = raw["paths"][path][method]["responses"][status]
        response["links"] = {**response.get("links", {}), **links}
    return raw


def load_schema() -> BaseSchema:
    """The schema the tests run against: every operation except those that would end the tests' own
    session (logging out, revoking a token), which have integration tests of their own."""
    schema = schemathesis.openapi.from_dict(published_schema())
    # The coverage phase sends every boundary and every missing or wrong-typed part the schema
    # defines, dozens of requests per operation to each server, and took most of the run. Fuzzing
    # still sends each operation generated valid and invalid requests, so both checks stay on.
    schema.config.phases.update(phases=["examples", "fuzzing", "stateful"])
    return schema.exclude(path=f"{API}/auth/logout").exclude(path=f"{API}/me/tokens/{{token_id}}")
