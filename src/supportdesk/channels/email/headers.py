"""Reading a message's headers: the plain ones from their own text, every other one through the standard
library's header registry, parsed once per message.

The registry (``policy.default``) builds a parse tree of every header it is asked for, which was a
third of reading a message. A header whose text is printable ASCII without an encoded word reads the
same without it, as do the mailboxes most mail names; ``tests/unit/channels/test_email_parsing.py``
generates header values of every shape and checks that both readings agree (decision 0060).
"""

from __future__ import annotations

import re
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message

# The headers the rules look at besides the addresses and ids, kept as text under their lower-case names.
KEPT_HEADERS = (
    "auto-submitted",
    "precedence",
    "x-autoreply",
    "x-autorespond",
    "x-auto-response-suppress",
    "x-loop",
    "list-id",
    "list-unsubscribe",
    "return-path",
    "authentication-results",
    "thread-index",
    "thread-topic",
    "x-supportdesk-ticket",
)

# The class the registry makes for each header name, shared by every message's registry: the standard
# library makes a new class with ``type()`` for every header it parses.
_HEADER_CLASSES: dict[str, type[BaseHeader]] = {}


class ReadOnce(HeaderRegistry):
    """``policy.default``'s headers, each value parsed once per message.

    The standard library parses a header again (and makes a class for it) whenever it is asked for
    one, and reading a message asks for each part's Content-Type many times over: to find the
    boundaries, the type, the charset, the file name. Parsed headers are never changed, so the same
    name and value may share one.
    """

    def __init__(self) -> None:
        super().__init__()
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = _HEADER_CLASSES.get(key)
        if made is None:
            made = _HEADER_CLASSES[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: str) -> BaseHeader:
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = super().__call__(name, value)
        return found


# Headers the registry reads as their own text when that text is printable ASCII without an encoded
# word, and a Message-ID that is one plain id (the registry's parser mends, or drops, any other).
TEXT_HEADERS = frozenset({"message-id", "in-reply-to", "references", "subject", *KEPT_HEADERS})
_PRINTABLE = re.compile(r"[\x20-\x7e\t\r\n]*")
# The mailboxes most mail names: ``Name <local@domain>``, ``"Any, name" <local@domain>`` or a bare
# address, with dot-atoms on both sides of the @. Anything else (comments, groups, quoted local parts,
# encoded words, obsolete forms) is left to the registry.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
_ONE_MESSAGE_ID = re.compile(rf"[ \t]*<{_DOT_ATOM}@{_DOT_ATOM}>[ \t]*")
_PLAIN_MAILBOX = re.compile(
    rf"[ \t]*(?:(?P<name>{_ATOM}(?:[ \t]+{_ATOM})*)?[ \t]*<(?P<angled>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf'|"(?P<quoted>[^"\\\r\n]*)"[ \t]*<(?P<quoted_angled>{_DOT_ATOM}@{_DOT_ATOM})>'
    rf"|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM}))[ \t]*"
)


def raw_header(message: Message, name: str) -> str | None:
    """The first ``name`` header as the message wrote it, unfolded (what the registry is given)."""
    for key, value in message.raw_items():
        if key.lower() == name:
            return "".join(value.splitlines())
    return None


def _reads_as_written(raw: str) -> bool:
    return "=?" not in raw and _PRINTABLE.fullmatch(raw) is not None


def plain_text(name: str, raw: str) -> str | None:
    """The text of header ``name`` (one of :data:`TEXT_HEADERS`) as the registry reads it, from ``raw``
    alone; ``None`` when only the registry can read it."""
    if _reads_as_written(raw) and (name != "message-id" or _ONE_MESSAGE_ID.fullmatch(raw)):
        return " ".join(raw.split())
    return None


def plain_mailboxes(raw: str) -> list[tuple[str, str]] | None:
    """The address (lower case) and display name of each mailbox of an address header whose every
    mailbox has one of the plain shapes, as the registry reads them; ``None`` when one has another."""
    if not _reads_as_written(raw):
        return None
    # A comma inside a quoted name would split it: such a header is read whole, as one mailbox.
    items = [raw] if '"' in raw else raw.split(",")
    found = []
    for item in items:
        match = _PLAIN_MAILBOX.fullmatch(item)
        if match is None:
            return None
        name, angled, quoted, quoted_angled, bare = match.group(
            "name", "angled", "quoted", "quoted_angled", "bare"
        )
        if bare is not None:
            found.append((bare.lower(), ""))
        elif angled is not None:
            found.append((angled.lower(), " ".join((name or "").split())))
        else:
            found.append((quoted_angled.lower(), quoted))
    return found
