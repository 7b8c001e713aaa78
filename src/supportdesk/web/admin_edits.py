"""What the forms of the SLA, assignment and automation admin pages share: ids from a page's path, the
version an edit form carries (the API's If-Match), typed numbers, and fields that hold JSON lists of
conditions or actions, read and explained where they were typed.

The forms build the body the API takes and hand it to the same schema and service; these helpers only
translate between what was posted and that body, so no rule is written twice.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context
from supportdesk.core.errors import SupportdeskError
from supportdesk.web.admin_parts import settle, typed_number
from supportdesk.web.pages import text

# Shown when an edit form carries a version older than the stored one: what was typed stays in the form,
# and nothing is saved over the other person's change.
STALE = (
    "Someone changed this since you opened the page, so nothing was saved. Open it again to see their change."
)
MISSING_VERSION = "The form was missing its version; reload the page and try again."
Body = TypeVar("Body")


def posted_version(form: FormData) -> int | None:
    """The version the edit form showed, or None when it is missing or not a number."""
    typed = typed_number(text(form, "version"))
    return typed if isinstance(typed, int) else None


def json_list(typed: str) -> tuple[list[Any], str | None]:
    """A field holding a JSON list: the list (an empty field is an empty one), or why it is not one."""
    if not typed.strip():
        return [], None
    try:
        value = json.loads(typed)
    except json.JSONDecodeError as error:
        return [], f"This is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
    if not isinstance(value, list):
        return [], "Write a JSON list, in square brackets: [ ... ]."
    return value, None


def shown_json(value: Sequence[Any]) -> str:
    """A stored list as an edit form shows it: indented JSON, or nothing for an empty list."""
    return json.dumps(list(value), indent=2, ensure_ascii=False) if value else ""


def entry_message(location: Sequence[str | int], message: str) -> str:
    """A problem inside a JSON list, said where it is: ``Entry 2, value: ...`` for ``(1, "value")``."""
    if not location:
        return message
    head, *rest = location
    where = f"Entry {int(head) + 1}" if isinstance(head, int) or head.isdigit() else head
    inner = ".".join(str(part) for part in rest)
    return f"{where}, {inner}: {message}" if inner else f"{where}: {message}"


def schema_errors(error: ValidationError, messages: Mapping[str, str]) -> dict[str, str]:
    """A schema's complaints, one per form field: inside a JSON list, said where in the list; about a
    whole field, in the words of ``messages`` where it has some, else in the schema's."""
    found: dict[str, str] = {}
    for item in error.errors():
        location = list(item["loc"])
        name = str(location[0]) if location else "name"
        inside = location[1:]
        message = entry_message(inside, item["msg"]) if inside else messages.get(name, item["msg"])
        found.setdefault(name, message)
    return found


def refused_field(refusal: SupportdeskError) -> tuple[str, str]:
    """A service's refusal as (form field, message): ``actions.0.agent_id`` is the actions field, and
    the message says which entry; a refusal naming no field (a name taken) is the name's."""
    location = getattr(refusal, "field", None)
    if not isinstance(location, str):
        return "name", refusal.detail
    name, _, rest = location.partition(".")
    return name, entry_message([part for part in rest.split(".") if part], refusal.detail)


def describe_entry(entry: Mapping[str, Any]) -> str:
    """A stored condition or action in a few words: ``priority is high``, ``Add tags: vip, billing``."""
    if "field" in entry:
        operator = str(entry.get("operator", "")).replace("_", " ")
        return f"{entry['field']} {operator} {_shown(entry.get('value'))}"
    details = [
        key.replace("_", " ") if value is True else f"{key.replace('_', ' ')} {_shown(value)}"
        for key, value in entry.items()
        if key != "type" and value not in (None, [], False)
    ]
    kind = str(entry.get("type", "")).replace("_", " ").capitalize()
    return f"{kind}: {'; '.join(details)}" if details else kind


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


class RefusableForm(Protocol):
    """A form that can say why the schema or the service refused what was posted."""

    errors: dict[str, str]

    def refused_by_schema(self, error: ValidationError) -> None: ...

    def refused_by_service(self, refusal: SupportdeskError) -> None: ...


async def attempt(
    context: Context,
    form: RefusableForm,
    build: Callable[[], Body],
    save: Callable[[Body], Awaitable[object]],
) -> int | None:
    """Build the API's body from ``form`` and save it through the service: None once saved, else the
    status to show the form again with, its refusals beside the fields."""

    async def change() -> int | None:
        body = build()
        if form.errors:
            return 422
        await save(body)
        return None

    async def by_schema(error: ValidationError) -> int:
        form.refused_by_schema(error)
        return 422

    async def by_service(refusal: SupportdeskError) -> int:
        form.refused_by_service(refusal)
        return refusal.status_code

    return await settle(context, change, by_schema, by_service)
