"""What the admin pages' forms share: the page around their content, ids from a path, typed numbers,
the schema's refusals as messages beside the fields, and the notice a saved form leads to.

A page builds the same body the API takes and hands it to the same schema and service; these helpers
only translate between a posted form and that body, so no rule is written twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from supportdesk.auth.dependencies import Context
from supportdesk.core.errors import NotFound, SupportdeskError
from supportdesk.core.schemas import MAX_ID
from supportdesk.web.pages import chrome, render, text
from supportdesk.web.templating import label

T = TypeVar("T")
R = TypeVar("R")

# The longest run of digits read as a number; anything longer goes to the schema as typed, to be refused.
_MAX_DIGITS = 18


async def admin_page(
    request: Request, context: Context, template: str, *, status_code: int = 200, **values: Any
) -> HTMLResponse:
    """An admin page: ``template`` with ``values``, inside what every signed-in page shows."""
    return render(
        request,
        template,
        status_code=status_code,
        **await chrome(request, context, section="admin", **values),
    )


def in_range(object_id: int, what: str) -> int:
    """An id from a page's path; one no row can have is not found, as in the API."""
    if not 0 < object_id <= MAX_ID:
        raise NotFound(f"No such {what}")
    return object_id


def typed_number(typed: str) -> int | str | None:
    """A number field as the API's body gives it: empty is no value, whole digits a number, and anything
    else the text as typed, for the schema to refuse."""
    typed = typed.strip()
    if not typed:
        return None
    return int(typed) if typed.isdigit() and len(typed) <= _MAX_DIGITS else typed


def ticked(form: FormData, name: str) -> bool:
    """Whether a checkbox was ticked: a browser sends a ticked box's value and nothing for the others."""
    return name in form


def chosen(form: FormData, name: str) -> list[str]:
    """Every value posted under ``name`` (a group of checkboxes)."""
    return [value for value in form.getlist(name) if isinstance(value, str)]


def field_errors(
    error: ValidationError, messages: Mapping[str, str], *, fallback: str, names: Mapping[str, str] = {}
) -> dict[str, str]:
    """The schema's refusals, one message per field of the form: ``names`` maps the body's field to the
    form's where they differ, and ``messages`` says what each form field wants."""
    errors: dict[str, str] = {}
    for item in error.errors():
        body_field = str(item["loc"][0]) if item["loc"] else fallback
        name = names.get(body_field, body_field)
        errors.setdefault(name, messages.get(name, "Check this field."))
    return errors


def refusal_field(
    refusal: SupportdeskError, fields: Iterable[str], fallback: str, names: Mapping[str, str] = {}
) -> str:
    """The form field a service's refusal is about: the one it names (through ``names`` where the
    service's name differs from the form's) when the form has it, else ``fallback``."""
    named = str(getattr(refusal, "field", ""))
    named = names.get(named, named)
    return named if named in set(fields) else fallback


def notice(request: Request, notices: Mapping[str, str]) -> str | None:
    """What the ``saved`` mark of a redirect after a change says."""
    return notices.get(request.query_params.get("saved", ""))


def saved(path: str, mark: str) -> RedirectResponse:
    """Back to ``path`` after a change (post, redirect, get), which says what was done."""
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}saved={mark}", status_code=303)


def field_text(form: FormData, *names: str) -> dict[str, Any]:
    """The posted text of each field, without the spaces around it."""
    return {name: text(form, name).strip() for name in names}


def options(values: Iterable[object], first: str | None = None) -> list[tuple[str, str]]:
    """A select's (value, label) pairs of an enum's members or of names, led by an empty value labelled
    ``first`` when choosing none is allowed."""
    pairs = [(str(getattr(value, "value", value)), label(value)) for value in values]
    return [("", first), *pairs] if first is not None else pairs


# What a page shows when its change is refused: given the status, the messages by form field, and the
# refusal's own words (empty for the schema's refusals, which are all beside their fields).
Refused = Callable[[int, dict[str, str], str], Awaitable[Response]]


async def settle(
    context: Context,
    change: Callable[[], Awaitable[T]],
    by_schema: Callable[[ValidationError], Awaitable[R]],
    by_service: Callable[[SupportdeskError], Awaitable[R]],
) -> T | R:
    """What ``change`` returns, or what ``by_schema`` or ``by_service`` make of its refusal. A service's
    refusal is rolled back first, so that nothing it wrote is kept and the page reads what was stored."""
    try:
        return await change()
    except ValidationError as error:
        return await by_schema(error)
    except SupportdeskError as refusal:
        await context.session.rollback()
        return await by_service(refusal)


async def attempt(
    context: Context,
    change: Callable[[], Awaitable[T]],
    refused: Refused,
    *,
    messages: Mapping[str, str] = {},
    fallback: str = "",
    names: Mapping[str, str] = {},
) -> T | Response:
    """What ``change`` (which validates the API's body and calls the service) returns, or the page
    ``refused`` shows, with a message beside each field, when the schema or the service refuses it."""

    async def by_schema(error: ValidationError) -> Response:
        return await refused(422, field_errors(error, messages, fallback=fallback, names=names), "")

    async def by_service(refusal: SupportdeskError) -> Response:
        field_name = refusal_field(refusal, messages, fallback, names)
        errors = {field_name: refusal.detail} if field_name else {}
        return await refused(refusal.status_code, errors, refusal.detail)

    return await settle(context, change, by_schema, by_service)
