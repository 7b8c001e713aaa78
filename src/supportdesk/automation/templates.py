"""Macro reply templates: the sandboxed template language of :mod:`supportdesk.core.templates` with the
placeholders a reply is offered, checked when a macro is saved and rendered when it is applied. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from supportdesk.core.templates import TemplateLanguage, TemplateRefused

REPLY_LANGUAGE = TemplateLanguage(
    noun="the reply",
    placeholders={
        "customer": frozenset({"name", "email"}),
        "ticket": frozenset({"number", "title"}),
        "agent": frozenset({"name"}),
    },
)
# A reply template that cannot be saved or rendered.
ReplyTemplateError = TemplateRefused


@dataclass(frozen=True, slots=True)
class ReplyValues:
    """The values a reply's placeholders stand for. Missing customer values are empty text."""

    customer_name: str = ""
    customer_email: str = ""
    ticket_number: int = 0
    ticket_title: str = ""
    agent_name: str = ""

    def context(self) -> dict[str, dict[str, Any]]:
        return {
            "customer": {"name": self.customer_name, "email": self.customer_email},
            "ticket": {"number": self.ticket_number, "title": self.ticket_title},
            "agent": {"name": self.agent_name},
        }


_SAMPLE = ReplyValues("Maria Lopez", "maria@example.com", 42, "Cannot export", "Sam Agent")


def check_reply_template(source: str) -> None:
    """Refuse a reply template the reply language does not allow; raises :class:`ReplyTemplateError`."""
    REPLY_LANGUAGE.check(source, _SAMPLE.context())


def render_reply(source: str, values: ReplyValues) -> str:
    """The reply with its placeholders filled in."""
    return REPLY_LANGUAGE.render(source, values.context())
