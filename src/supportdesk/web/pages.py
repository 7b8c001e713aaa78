"""What every page of the workspace shares: rendering with the page headers, the route class that turns
a missing sign-in into the sign-in page and an error into an HTML page, the CSRF check of posted forms
(decision 0053), and what a signed-in page shows around its content.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from supportdesk.auth.dependencies import Context, bearer_secret
from supportdesk.config import Settings
from supportdesk.core.errors import NotAuthenticated, NotFound, SupportdeskError
from supportdesk.core.permissions import Action, check_permission
from supportdesk.core.problems import page_refusal
from supportdesk.core.schemas import MAX_ID
from supportdesk.notifications import service as notification_service
from supportdesk.web import csrf
from supportdesk.web.templating import Pages

WEB_PREFIX = "/app"

ErrorPage = Callable[[Request, SupportdeskError], HTMLResponse]
"""Renders a refusal as an HTML page of one part of the site."""
# The pages' forms that carry files: they take as large a body as the API's upload does (app.py).
UPLOAD_PATHS = re.compile(r"^/app/tickets/\d+/comments$")
LOGIN_PATH = f"{WEB_PREFIX}/login"
# Counts on the pages (queues, unread notifications) read at most this many rows; more shows as "99+".
# A badge needs no more precision than that, and reading a bounded number keeps every page's cost
# bounded however much is waiting.
COUNT_CAP = 99
# Pages show customers' data: no cache keeps a copy, and the back button after signing out shows none.
PAGE_HEADERS = {"Cache-Control": "no-store"}


def capped(count: int) -> str:
    """A count as a badge shows it: up to :data:`COUNT_CAP`, then ``99+``."""
    return f"{COUNT_CAP}+" if count > COUNT_CAP else str(count)


class FormExpired(SupportdeskError):
    """A form came back without the token of the page it was on: from another site, or from a page
    shown before the session it belongs to ended."""

    status_code = 403
    code = "form-expired"
    title = "This form has expired"


def render(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    """``template`` rendered with ``values``, answered with the headers every page carries."""
    pages: Pages = request.app.state.pages
    return HTMLResponse(pages.render(template, **values), status_code=status_code, headers=PAGE_HEADERS)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a page of the workspace, never another site."""
    if not value or "\\" in value:
        return WEB_PREFIX
    if value == WEB_PREFIX or value.startswith((f"{WEB_PREFIX}/", f"{WEB_PREFIX}?")):
        return value
    return WEB_PREFIX


def to_sign_in(request: Request) -> RedirectResponse:
    """The sign-in page, which leads back to the page asked for (a GET) once the person signed in."""
    target = request.url.path
    if request.url.query:
        target += f"?{request.url.query}"
    query = urlencode({"next": target}) if request.method == "GET" and target != WEB_PREFIX else ""
    return RedirectResponse(f"{LOGIN_PATH}?{query}" if query else LOGIN_PATH, status_code=303)


def error_page(request: Request, error: SupportdeskError) -> HTMLResponse:
    """An HTML page that says what went wrong, with the error's status."""
    return render(
        request,
        "error.html",
        status_code=error.status_code,
        title=error.title if error.status_code != 404 else "Not found",
        detail=_error_detail(error),
    )


def _error_detail(error: SupportdeskError) -> str:
    if isinstance(error, NotFound):
        return "There is nothing here in your workspace. The link may be wrong, or the item was deleted."
    if isinstance(error, FormExpired):
        return "The page this form was on is out of date. Go back, reload the page and try again."
    return error.detail


def answer_unknown_paths_with(app: FastAPI, prefix: str, page: ErrorPage) -> None:
    """Answer a path under ``prefix`` that names no page with ``page`` rather than the API's problem
    document: whoever asked followed a link in a browser. Other paths keep the app's answer."""
    answer_otherwise = app.exception_handlers[StarletteHTTPException]

    async def answer(request: Request, error: Exception) -> Response:
        path = request.url.path
        status = getattr(error, "status_code", 500)
        if status == 404 and (path == prefix or path.startswith(f"{prefix}/")):
            return page(request, NotFound("No such page"))
        answered = answer_otherwise(request, error)
        return await answered if inspect.isawaitable(answered) else answered

    app.add_exception_handler(StarletteHTTPException, answer)


class PageRoute(APIRoute):
    """A page's route: no credentials lead to the sign-in page, and an error to an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAuthenticated:
                return to_sign_in(request)
            except RequestValidationError as error:
                return error_page(request, page_refusal(error))
            except SupportdeskError as error:
                return error_page(request, error)
            finally:
                # A form the page read itself is not closed by FastAPI: its files' temporary copies are.
                await request.close()

        return page_handler


def ticket_in_range(ticket_id: int) -> int:
    """A ticket id from a page's path; one no ticket can have is not found, as in the API."""
    if not 0 < ticket_id <= MAX_ID:
        raise NotFound("No such ticket")
    return ticket_id


def text(form: FormData, name: str) -> str:
    """A posted field's text; empty when it is missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def chosen_files(form: FormData, name: str = "files") -> list[UploadFile]:
    """The files chosen in a form's file field. A browser sends a field where nothing was chosen as one
    part without a name and without bytes; that part is no file."""
    return [
        value
        for value in form.getlist(name)
        if isinstance(value, UploadFile) and (value.filename or value.size)
    ]


def session_token(request: Request, settings: Settings) -> str:
    """The CSRF token of the forms of a signed-in page."""
    secret = bearer_secret(request)
    return csrf.form_token(settings.secret_key, "session", secret) if secret is not None else ""


async def checked_form(request: Request, settings: Settings) -> FormData:
    """The posted form of a signed-in page, once its CSRF token proves it came from this site's page."""
    form = await request.form()
    if not csrf.token_matches(settings.secret_key, "session", bearer_secret(request), form.get(csrf.FIELD)):
        raise FormExpired()
    return form


async def chrome(request: Request, context: Context, **values: Any) -> dict[str, Any]:
    """What every signed-in page shows around its content: the person, the forms' token, what their
    role allows, and how many of their notifications are unread."""
    unread = await notification_service.count_unread(context.session, context.user.id, cap=COUNT_CAP)
    return {
        "section": "queues",
        "user": context.user,
        "csrf_token": session_token(request, context.settings),
        "can": lambda action: check_permission(context.user.role, Action(action)),
        "unread": capped(unread),
        **values,
    }
