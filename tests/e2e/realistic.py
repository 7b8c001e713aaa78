"""Generated requests made realistic where a valid request depends on what the server holds.

The schema can say that a ``ticket_id`` is a positive integer, an ``If-Match`` looks like ``"v3"`` and a
``category`` is a short slug, but only the server knows which tickets exist, which version a ticket is
at and which categories the workspace has. A schema-valid request that names none of them is rightly
refused, so "valid data is accepted" can only be checked once the generated values are replaced by
ones the server has. Only components that were generated valid are touched: an invalid component stays
as generated, so the check that invalid input is refused keeps its teeth.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from requests.structures import CaseInsensitiveDict
from schemathesis import Case
from schemathesis.core.parameters import ParameterLocation

from tests.e2e.conftest import LiveServer

Choose = Callable[[Sequence[Any]], Any]

# A calendar's time zone and holiday region are short strings to the schema, but the server builds the
# calendar from them, so only zones and regions it knows are valid: the schema cannot list them all.
TIME_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney")
# Holiday countries with the subdivisions used here (a subdivision needs its country).
HOLIDAY_REGIONS: dict[str, tuple[str, ...]] = {"DE": ("BY", "BE"), "US": ("CA", "NY"), "FR": (), "JP": ()}
# An action that any macro may hold, for a macro that a generated update would leave empty.
TAG_ACTION = {"type": "add_tags", "tags": ["realistic"]}


def _is_positive(case: Case[Any], location: ParameterLocation) -> bool:
    meta = case.meta
    if meta is None or location not in meta.components:
        # Values that came from a link or that were not generated are what the server gave us.
        return True
    return meta.components[location].mode.is_positive


def _is_number(value: Any) -> bool:
    # JSON Schema counts 3.0 as an integer, so generated ids may come as whole floats.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    for key in headers:
        if key.lower() == name:
            return str(key)
    return None


class Realistic:
    """Rewrites one case in place, reading what it needs from the live server."""

    def __init__(self, case: Case[Any], server: LiveServer, client: httpx.Client, choose: Choose) -> None:
        self.case = case
        self.server = server
        self.client = client
        self.choose = choose
        self._categories: list[str] | None = None

    @property
    def categories(self) -> list[str]:
        """The workspace's categories now (a generated workspace update may have changed them)."""
        if self._categories is None:
            self._categories = list(self.client.get("/api/v1/workspace").json()["categories"])
        return self._categories

    def apply(self, *, draw_ids: bool) -> None:
        """Make the case's generated-valid parts name what the server has; ``draw_ids`` also replaces
        path ids (the stateful run leaves them, as they come from the server's own responses)."""
        positive = {location: _is_positive(self.case, location) for location in ParameterLocation}
        if positive[ParameterLocation.PATH]:
            self._path(draw_ids=draw_ids)
        if positive[ParameterLocation.QUERY]:
            self._query()
        if positive[ParameterLocation.BODY] and isinstance(self.case.body, dict):
            self.case.body = self._body(self.case.body)
        # The path is final now, so an If-Match can be read for the object it names.
        if positive[ParameterLocation.HEADER]:
            self._headers()

    def _path(self, *, draw_ids: bool) -> None:
        parameters = dict(self.case.path_parameters or {})
        for name, value in parameters.items():
            known = self.server.ids.get(name, [])
            if draw_ids and known:
                parameters[name] = self.choose([*known, value])
        user = parameters.get("user_id")
        if user == self.server.admin_id and self.case.method.upper() != "GET":
            # The run's admin must stay an active admin, or every later request is refused; changing
            # or deactivating it has integration tests of its own.
            parameters["user_id"] = self.choose(self.server.ids["user_id"])
        self.case.path_parameters = parameters

    def _query(self) -> None:
        query = dict(self.case.query or {})
        if "cursor" in query:
            # Only a cursor the server issued for the same filters and sort is valid; ask for one.
            issued = {name: value for name, value in query.items() if name != "cursor"}
            issued["limit"] = 1
            response = self.client.get(self.case.formatted_path, params=issued)
            cursor = response.json().get("next_cursor") if response.status_code == 200 else None
            if cursor is None:
                del query["cursor"]
            else:
                query["cursor"] = cursor
        self.case.query = query

    def _body(self, body: dict[str, Any]) -> dict[str, Any]:
        body = dict(body)
        for name in ("category", "default_category"):
            if isinstance(body.get(name), str):
                body[name] = self.choose(self.categories)
        if _is_number(body.get("assigned_agent_id")):
            body["assigned_agent_id"] = self.choose(self.server.assignees)
        if _is_number(body.get("calendar_id")):
            body["calendar_id"] = self.choose(self.server.calendars)
        if isinstance(body.get("actions"), list):
            body["actions"] = [self._action(action) for action in body["actions"]]
        for conditions in ("conditions", "any_conditions"):
            if isinstance(body.get(conditions), list):
                body[conditions] = [self._condition(condition) for condition in body[conditions]]
        if isinstance(body.get("category_strategies"), dict):
            body["category_strategies"] = self._strategies(body)
        if isinstance(body.get("email_providers"), list):
            # Only the providers the server configures can be chosen; the test server has its maildir.
            body["email_providers"] = ["local"] if body["email_providers"] else []
        self._calendar(body)
        path, method = self.case.formatted_path, self.case.method.upper()
        if path.startswith("/api/v1/webhooks") and isinstance(body.get("url"), str):
            # Whether an address may be called depends on where its name leads, which the schema cannot
            # say: a generated host is most likely an address the desk refuses.
            body["url"] = f"https://hooks.example.com/supportdesk/{uuid.uuid4().hex[:8]}"
        if path.startswith("/api/v1/triggers"):
            self._comment_conditions_on_comments(body)
        if "/macros/" in path and method == "PATCH":
            self._keep_macro_useful(body)
        if path.endswith("/comments") and method == "POST" and body.get("author") == "customer":
            self._customer_only_with_one(body)
        return body

    def _stored(self) -> dict[str, Any]:
        """The object the request's path names, as the server has it (empty when there is none)."""
        response = self.client.get(self.case.formatted_path)
        return dict(response.json()) if response.status_code == 200 else {}

    def _comment_conditions_on_comments(self, body: dict[str, Any]) -> None:
        """A condition on a comment's text only makes sense in a trigger that runs on a comment; the
        schema publishes event and conditions apart, so a trigger that has one gets that event."""
        stored = self._stored() if self.case.method.upper() == "PATCH" else {}
        conditions = [
            condition
            for group in ("conditions", "any_conditions")
            for condition in (body[group] if group in body else stored.get(group)) or []
        ]
        if any(
            isinstance(condition, dict) and condition.get("field") == "comment" for condition in conditions
        ):
            body["event"] = "commented"

    def _customer_only_with_one(self, body: dict[str, Any]) -> None:
        # Only a ticket with a customer can have a comment written by its customer.
        ticket = self.client.get(self.case.formatted_path.removesuffix("/comments"))
        if ticket.status_code == 200 and ticket.json().get("customer_id") is None:
            body["author"] = "agent"

    def _strategies(self, body: dict[str, Any]) -> dict[str, Any]:
        # Keys must be categories of the workspace, which are the ones the same update sets, if any.
        given = body.get("categories")
        categories = (
            [str(name).strip().lower() for name in given]
            if isinstance(given, list) and given
            else self.categories
        )
        return {self.choose(categories): strategy for strategy in body["category_strategies"].values()}

    def _calendar(self, body: dict[str, Any]) -> None:
        if isinstance(body.get("weekly_hours"), dict):
            # A day's intervals must be in order and each must end after it starts, which the schema
            # cannot say; the same number of half hours, one per hour from midnight, always are.
            body["weekly_hours"] = {
                day: [{"start": f"{hour:02d}:00", "end": f"{hour:02d}:30"} for hour in range(len(intervals))]
                if isinstance(intervals, list)
                else intervals
                for day, intervals in body["weekly_hours"].items()
            }
            if not any(body["weekly_hours"].values()):
                # A calendar must be open at some time of the week.
                body["weekly_hours"]["monday"] = [{"start": "09:00", "end": "17:00"}]
        if isinstance(body.get("timezone"), str):
            body["timezone"] = self.choose(TIME_ZONES)
        if isinstance(body.get("holiday_subdivision"), str):
            country = self.choose([name for name, subdivisions in HOLIDAY_REGIONS.items() if subdivisions])
            body["holiday_country"] = country
            body["holiday_subdivision"] = self.choose(HOLIDAY_REGIONS[country])
        elif isinstance(body.get("holiday_country"), str):
            body["holiday_country"] = self.choose(list(HOLIDAY_REGIONS))
            # An update may meet a stored subdivision of another country; null clears it.
            body["holiday_subdivision"] = None
        elif "holiday_country" in body:
            # Clearing the country clears its subdivision too, or the stored one would be left alone.
            body["holiday_subdivision"] = None

    def _keep_macro_useful(self, body: dict[str, Any]) -> None:
        """A macro needs actions or a reply; whether an update leaves it neither depends on what is
        stored, which the schema cannot know, so an update that would empty the macro gets an action."""
        stored = self._stored()
        if not stored:
            return
        actions = body.get("actions", stored.get("actions"))
        reply = body["reply"] if "reply" in body else stored.get("reply")
        if not actions and reply is None:
            body["actions"] = [dict(TAG_ACTION)]

    def _condition(self, condition: Any) -> Any:
        # A condition on the category names categories the workspace has, one or a list of them.
        if not isinstance(condition, dict) or condition.get("field") != "category":
            return condition
        condition = dict(condition)
        if isinstance(condition.get("value"), str):
            condition["value"] = self.choose(self.categories)
        elif isinstance(condition.get("value"), list):
            condition["value"] = [self.choose(self.categories) for _ in condition["value"]]
        return condition

    def _action(self, action: Any) -> Any:
        if not isinstance(action, dict):
            return action
        action = dict(action)
        if action.get("type") == "set_category" and isinstance(action.get("value"), str):
            action["value"] = self.choose(self.categories)
        if action.get("type") == "assign":
            # An assign action names one agent or asks for automatic assignment, never both or neither
            # (the schema publishes both as optional); the agent must be one the server has.
            if _is_number(action.get("agent_id")):
                action["agent_id"] = self.choose(self.server.assignees)
                action.pop("strategy", None)
            else:
                action.pop("agent_id", None)
                action["strategy"] = "auto"
        if action.get("type") == "notify":
            if isinstance(action.get("user_ids"), list):
                action["user_ids"] = [self.choose(self.server.assignees) for _ in action["user_ids"]]
            # A notification must reach someone; the schema publishes every recipient as optional.
            if not (action.get("assignee") is True or action.get("roles") or action.get("user_ids")):
                action["user_ids"] = [self.choose(self.server.assignees)]
        return action

    def _headers(self) -> None:
        headers = dict(self.case.headers or {})
        key = _header(headers, "idempotency-key")
        if key is not None:
            # A key the server has seen with another body is rightly refused; a fresh key keeps the
            # generated request what it is, a first attempt.
            headers[key] = f"{str(headers[key])[:200]}{uuid.uuid4().hex}"
        key = _header(headers, "if-match")
        if key is not None and headers[key] != "*":
            # When the object does not exist, a well-formed version lets the server answer 404.
            headers[key] = self._etag() or '"v1"'
        self.case.headers = CaseInsensitiveDict(headers)

    def _etag(self) -> str | None:
        """The current ETag of the object whose version the request's If-Match is about."""
        path = self.case.formatted_path
        if "/macros/" in path and path.startswith("/api/v1/tickets/"):
            # Applying a macro changes the ticket, so it is the ticket's version that is matched.
            path = path.split("/macros/")[0]
        response = self.client.get(path)
        return response.headers.get("etag") if response.status_code == 200 else None


def remember_outcome(case: Case[Any], server: LiveServer, status_code: int) -> None:
    """Stop offering an object the request deleted."""
    if case.method.upper() == "DELETE" and status_code == 204 and case.path_parameters:
        name, value = list(case.path_parameters.items())[-1]
        server.forget(name, value)
