"""Bulk changes from a queue, as the pages read and tell them: the tickets a form chose, and what the
queue page says afterwards (how many changed, were already so, were not found, and which the rules
refused, with the refusal's code), carried in the query of the queue it returns to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.datastructures import FormData

from supportdesk.core.schemas import MAX_ID
from supportdesk.web.pages import safe_next

MAX_BULK = 100
_BULK_PARAMS = ("changed", "same", "refused", "missing", "bulk")
_BULK_PROBLEMS = {
    "none-chosen": "Choose the tickets to change first.",
    "no-change": "Choose what to change: a status, a priority, an assignee or a tag.",
    "invalid": "That change is not possible: choose the values from the lists, and a tag of letters, "
    "digits, dots, dashes or underscores.",
}
_REFUSAL_CODE = re.compile(r"^(\d{1,18})\.([a-z-]{1,40})$")


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def bulk_notices(params: Mapping[str, str]) -> list[str]:
    """What the last bulk change did, as the queue it returns to says it."""
    problem = _BULK_PROBLEMS.get(params.get("bulk", ""))
    if problem is not None:
        return [problem]
    notices = []
    counts = {name: params.get(name, "") for name in ("changed", "same", "missing")}
    if counts["changed"].isdigit() and len(counts["changed"]) < 4:
        notices.append(f"{plural(int(counts['changed']), 'ticket', 'tickets')} changed.")
    if counts["same"].isdigit() and len(counts["same"]) < 4 and int(counts["same"]):
        notices.append(f"{plural(int(counts['same']), 'ticket was', 'tickets were')} already so.")
    if counts["missing"].isdigit() and len(counts["missing"]) < 4 and int(counts["missing"]):
        notices.append(f"{plural(int(counts['missing']), 'ticket was', 'tickets were')} not found.")
    refused = [
        match
        for item in params.get("refused", "").split(",")[:MAX_BULK]
        if (match := _REFUSAL_CODE.match(item)) is not None
    ]
    if refused:
        named = ", ".join(f"#{match[1]} ({match[2].replace('-', ' ')})" for match in refused)
        notices.append(f"Not changed, refused by the ticket's rules: {named}. Open one to see why.")
    return notices


def bulk_return(target: str, **values: str) -> str:
    """The queue page ``target`` (a page of the workspace) with the bulk change's outcome in its query."""
    parts = urlsplit(safe_next(target))
    kept = [(name, value) for name, value in parse_qsl(parts.query) if name not in _BULK_PARAMS]
    query = urlencode([*kept, *((name, value) for name, value in values.items() if value)])
    return urlunsplit(("", "", parts.path, query, ""))


def chosen_ids(form: FormData) -> list[int]:
    ids = []
    for value in form.getlist("ticket"):
        if isinstance(value, str) and value.isdigit() and len(value) <= 18 and 0 < int(value) <= MAX_ID:
            ids.append(int(value))
    return list(dict.fromkeys(ids))[:MAX_BULK]
