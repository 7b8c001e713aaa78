"""The portal's forms as the server reads them: each a model with the same text rules as the API's
(no character a database cannot store, the columns' lengths), and one message per field for a person."""

from __future__ import annotations

from typing import Annotated

from pydantic import ValidationError

from supportdesk.core.schemas import EmailAddress, RequestModel, Text
from supportdesk.tickets.models import SatisfactionRating
from supportdesk.tickets.schemas import CustomerName, Title

Message = Annotated[str, Text(strip_whitespace=True, min_length=1, max_length=100_000)]
RatingComment = Annotated[str, Text(strip_whitespace=True, max_length=2000)]


class RequestForm(RequestModel):
    """The public request form: who is asking, and what about."""

    name: CustomerName | None = None
    email: EmailAddress
    subject: Title
    message: Message


class SignInForm(RequestModel):
    email: EmailAddress


class ReplyForm(RequestModel):
    message: Message


class RatingForm(RequestModel):
    rating: SatisfactionRating
    comment: RatingComment = ""


_MESSAGES = {
    "name": "Keep your name under 200 characters.",
    "email": "Enter your e-mail address, like name@example.com.",
    "subject": "Say in a few words what it is about (up to 300 characters).",
    "message": "Describe your request.",
    "rating": "Choose whether you were happy with the help.",
    "comment": "Keep the comment under 2,000 characters.",
}


def field_errors(error: ValidationError) -> dict[str, str]:
    """One message per field that was refused, for the page to show beside it."""
    found: dict[str, str] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "message"
        found.setdefault(name, _MESSAGES.get(name, "Check this field."))
    return found
