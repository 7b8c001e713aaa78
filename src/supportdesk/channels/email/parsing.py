"""Reading a raw e-mail into what the desk needs from it, whatever the sender's software did to it.

Pure: bytes in, a :class:`ParsedEmail` out, and it never raises. Mail arrives from every kind of
program, and a message the desk cannot read perfectly is still a customer asking for help: a header
that does not parse is kept as text, a body in a charset it does not declare (or declares wrongly) is
decoded as best it can be, and every such repair is listed in ``defects``. What is left out on purpose
(an attachment over the size limit, one too many, text beyond the length limit) is listed in
``dropped``, so nobody has to guess what the sender sent.

This module walks the message's parts and decides what the desk keeps of each: the headers, the text
and HTML bodies, the attachments within the limits, a bounce's failed recipients. The bytes become parts
in ``mime``, which keeps the standard library's reading fast for large messages, and the text of the
bodies is decoded, turned from HTML into text and split from its quoted history in ``bodies``. HTML is
sanitized with nh3 and Outlook's ``winmail.dat`` is opened with tnefparse (docs/decisions/0047).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, TypeVar, cast

import nh3

from supportdesk.channels.email import headers
from supportdesk.channels.email.bodies import decode_text, html_to_text, split_reply
from supportdesk.channels.email.mime import _message_from_bytes
from supportdesk.core.storage import safe_filename

MEGABYTE = 1024 * 1024

# Tags and attributes an HTML body keeps: nh3's defaults (text formatting, tables, images, links)
# with inline images (cid:) allowed; scripts, styles, forms and event handlers never survive.
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


@dataclass(frozen=True, slots=True)
class Limits:
    """What one message may bring in; the rest is dropped and listed."""

    max_attachment_bytes: int = 25 * MEGABYTE
    max_attachments: int = 50
    max_text_chars: int = 200_000


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: its address (lower case) and the display name it came with."""

    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file the message carried; ``inline`` ones are shown in the HTML body by ``content_id``."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Dropped:
    """Something the message carried that the desk did not keep, and why."""

    what: str
    reason: str


@dataclass(frozen=True, slots=True)
class Bounce:
    """A delivery status notification (RFC 3464): the addresses it says could not be reached."""

    failed_recipients: tuple[str, ...]
    status: str
    diagnostic: str


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """What the desk reads from one message."""

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: datetime | None
    text: str
    html: str | None
    reply: str
    quoted: str
    attachments: tuple[Attachment, ...]
    bounce: Bounce | None
    headers: Mapping[str, str]
    dropped: tuple[Dropped, ...] = ()
    defects: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc


def parse(raw: bytes, limits: Limits = Limits()) -> ParsedEmail:
    """Read ``raw`` (the message as received, headers and body); never raises. Every text it gives can
    be stored (see :func:`storable`)."""
    reading = _Reading(limits)
    try:
        message = _message_from_bytes(raw)
    except Exception as error:  # noqa: BLE001  (the parser is lenient; this is the last resort)
        reading.defect(f"the message could not be read as MIME ({type(error).__name__}); kept as text")
        return _storable_copy(reading.result(None, text=raw.decode("utf-8", errors="replace")))
    for defect in message.defects:
        reading.defect(f"message: {type(defect).__name__}")
    return _storable_copy(reading.result(message))


_T = TypeVar("_T")
# What no database stores as text: NUL (PostgreSQL) and lone surrogates (which the standard library
# makes of undecodable header bytes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with the characters no database can store replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def _storable_copy(value: _T) -> _T:
    """``value`` (a parsed message or any part of it) with every text made :func:`storable`; bytes stay."""
    return cast(_T, _storable_value(value))


def _storable_value(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, tuple):
        return tuple(_storable_value(item) for item in value)
    if isinstance(value, Mapping):
        return {storable(key): _storable_value(item) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            item.name: _storable_value(getattr(value, item.name)) for item in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    return value


class _Reading:
    """What is learnt while one message is read."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.defects: list[str] = []
        self.dropped: list[Dropped] = []
        self.attachments: list[Attachment] = []
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.bounce: Bounce | None = None

    def defect(self, text: str) -> None:
        if text not in self.defects:
            self.defects.append(text)

    def result(self, message: EmailMessage | None, *, text: str | None = None) -> ParsedEmail:
        if message is not None:
            self._walk(message)
        body = text if text is not None else "\n\n".join(part for part in self.texts if part.strip())
        clean_html = nh3.clean("\n".join(self.htmls), url_schemes=URL_SCHEMES) if self.htmls else None
        if not body.strip() and clean_html:
            body = html_to_text(clean_html)
        body = self._bounded(body.replace("\r\n", "\n"))
        reply, quoted = split_reply(body)
        return ParsedEmail(
            message_id=_first_id(self._header(message, "message-id")),
            in_reply_to=_ids(self._header(message, "in-reply-to")),
            references=_ids(self._header(message, "references")),
            subject=" ".join(self._header(message, "subject").split()),
            sender=_first(self._addresses(message, "from")),
            reply_to=self._addresses(message, "reply-to"),
            to=self._addresses(message, "to"),
            cc=self._addresses(message, "cc"),
            date=self._date(message),
            text=body,
            html=clean_html,
            reply=reply,
            quoted=quoted,
            attachments=tuple(self.attachments),
            bounce=self.bounce,
            headers={name: value for name in headers.KEPT_HEADERS if (value := self._header(message, name))},
            dropped=tuple(self.dropped),
            defects=tuple(self.defects),
        )

    # --- headers ---------------------------------------------------------------------------------

    def _header(self, message: Message | None, name: str) -> str:
        if message is None:
            return ""
        if name in headers.TEXT_HEADERS:
            raw = headers.raw_header(message, name)
            if raw is None:
                return ""
            plain = headers.plain_text(name, raw)
            if plain is not None:
                return plain
        try:
            value = message.get(name)
            return "" if value is None else " ".join(str(value).split())
        except Exception as error:  # noqa: BLE001  (a header the registry cannot parse is read raw)
            self.defect(f"header {name}: {type(error).__name__}; read as it was written")
            for key, raw_value in message.raw_items():
                if key.lower() == name:
                    return " ".join(str(raw_value).split())
            return ""

    def _addresses(self, message: Message | None, name: str) -> tuple[Address, ...]:
        if message is None:
            return ()
        raw = headers.raw_header(message, name)
        if raw is None:
            return ()
        plain = headers.plain_mailboxes(raw)
        if plain is not None:
            return tuple(Address(email=email_, name=name_) for email_, name_ in plain)
        try:
            found = getattr(message.get(name), "addresses", None)
            if found is not None:
                return tuple(
                    _address(one) for one in found if isinstance(one, HeaderAddress) and one.addr_spec
                )
        except Exception:  # noqa: BLE001  (fall through to the plain reading below)
            self.defect(f"header {name}: not a valid address list; read leniently")
        pairs = getaddresses([self._header(message, name)])
        return tuple(
            Address(email=addr.strip().lower(), name=name_.strip()) for name_, addr in pairs if "@" in addr
        )

    def _date(self, message: Message | None) -> datetime | None:
        value = self._header(message, "date")
        if not value:
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            self.defect("header date: not a date")
            return None

    # --- body ------------------------------------------------------------------------------------

    def _walk(self, message: EmailMessage) -> None:
        for part in _leaves(message, self):
            try:
                self._read_part(part)
            except Exception as error:  # noqa: BLE001  (one unreadable part never costs the others)
                self.defect(f"part {part.get_content_type()}: {type(error).__name__}; skipped")

    def _read_part(self, part: Message) -> None:
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            self.bounce = _bounce(part)
            return
        if content_type == "message/rfc822":
            forwarded = part.get_payload(0) if part.is_multipart() else None
            data = forwarded.as_bytes() if isinstance(forwarded, Message) else _payload(part)
            self._attach(part, data, default_name="forwarded-message.eml")
            return
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
        if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            text = self._decoded_text(part)
            (self.texts if content_type == "text/plain" else self.htmls).append(text)
            return
        data = _payload(part)
        is_tnef = content_type in _TNEF_TYPES or (filename or "").lower() == "winmail.dat"
        if is_tnef and self._unpack_tnef(data):
            return
        self._attach(part, data)

    def _decoded_text(self, part: Message) -> str:
        data = _payload(part)
        declared = (part.get_content_charset() or "us-ascii").lower()
        text, used = decode_text(data, declared)
        if used != declared and not (used == "utf-8" and declared in ("us-ascii", "ascii")):
            self.defect(f"text declared as {declared} was read as {used}")
        return text

    def _attach(self, part: Message, data: bytes, *, default_name: str = "attachment") -> None:
        filename = safe_filename(part.get_filename() or default_name)
        content_id = part.get("content-id")
        inline = (part.get_content_disposition() or "").lower() == "inline" and content_id is not None
        self._keep(
            Attachment(
                filename=filename,
                content_type=part.get_content_type(),
                data=data,
                content_id=str(content_id).strip("<> ") if content_id else None,
                inline=inline,
            )
        )

    def _keep(self, attachment: Attachment) -> None:
        limits = self.limits
        if attachment.size > limits.max_attachment_bytes:
            self.dropped.append(
                Dropped(
                    f"attachment {attachment.filename} ({_size(attachment.size)})",
                    f"larger than {_size(limits.max_attachment_bytes)}",
                )
            )
        elif len(self.attachments) >= limits.max_attachments:
            self.dropped.append(
                Dropped(
                    f"attachment {attachment.filename}", f"more than {limits.max_attachments} attachments"
                )
            )
        else:
            self.attachments.append(attachment)

    def _unpack_tnef(self, data: bytes) -> bool:
        """Keep the files inside Outlook's winmail.dat; ``False`` if it cannot be opened."""
        from tnefparse import TNEF

        try:
            packed = TNEF(data)
        except Exception as error:  # noqa: BLE001  (kept as the file it is)
            self.defect(f"winmail.dat could not be opened ({type(error).__name__}); kept as it is")
            return False
        for inner in packed.attachments:
            name = inner.long_filename() or inner.name or "attachment"
            raw_name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
            self._keep(Attachment(safe_filename(raw_name), "application/octet-stream", bytes(inner.data)))
        body = getattr(packed, "body", None)
        if isinstance(body, bytes | str) and body:
            self.texts.append(body.decode("latin-1") if isinstance(body, bytes) else body)
        return True

    def _bounded(self, text: str) -> str:
        limit = self.limits.max_text_chars
        if len(text) <= limit:
            return text
        self.dropped.append(Dropped(f"text after the first {limit:,} characters", "the body is too long"))
        return text[:limit]


def _leaves(message: Message, reading: _Reading) -> Iterator[Message]:
    """The parts that hold content, depth first; a forwarded message is one part, not opened."""
    if message.get_content_type() in ("message/rfc822", "message/delivery-status"):
        yield message
        return
    if not message.is_multipart():
        yield message
        return
    payload = message.get_payload()
    if not isinstance(payload, list):
        reading.defect("a multipart part without parts")
        return
    for child in payload:
        if isinstance(child, Message):
            for defect in child.defects:
                reading.defect(f"part: {type(defect).__name__}")
            yield from _leaves(child, reading)


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", errors="replace") if isinstance(raw, str) else b""


def _bounce(part: Message) -> Bounce:
    """The failed recipients of a delivery-status part: its blocks after the first, one per recipient."""
    blocks = part.get_payload()
    recipients: list[str] = []
    status = diagnostic = ""
    if isinstance(blocks, list):
        for block in blocks[1:]:
            if not isinstance(block, Message):
                continue
            action = str(block.get("action", "")).strip().lower()
            if action not in ("failed", ""):
                continue
            recipient = str(block.get("final-recipient") or block.get("original-recipient") or "")
            address = recipient.split(";", 1)[-1].strip().lower()
            if "@" in address:
                recipients.append(address)
                status = status or str(block.get("status", "")).strip()
                diagnostic = diagnostic or " ".join(str(block.get("diagnostic-code", "")).split())
    return Bounce(tuple(recipients), status, diagnostic)


def _address(found: HeaderAddress) -> Address:
    return Address(email=found.addr_spec.lower(), name=found.display_name or "")


def _first(addresses: tuple[Address, ...]) -> Address | None:
    return addresses[0] if addresses else None


def _ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_MESSAGE_ID.findall(value)))


def _first_id(value: str) -> str | None:
    found = _ids(value)
    return found[0] if found else (value.strip() or None)


def _size(count: int) -> str:
    """A size as people read it: ``300 KB``, ``2.5 MB``."""
    if count >= MEGABYTE:
        return f"{count / MEGABYTE:.1f}".removesuffix(".0") + " MB"
    return f"{max(1, round(count / 1024))} KB"


__all__ = [
    "Address",
    "Attachment",
    "Bounce",
    "Dropped",
    "Limits",
    "ParsedEmail",
    "parse",
]
