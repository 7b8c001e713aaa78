"""Reading a raw e-mail into what the desk needs from it, whatever the sender's software did to it.

Pure: bytes in, a :class:`ParsedEmail` out, and it never raises. Mail arrives from every kind of
program, and a message the desk cannot read perfectly is still a customer asking for help: a header
that does not parse is kept as text, a body in a charset it does not declare (or declares wrongly) is
decoded as best it can be, and every such repair is listed in ``defects``. What is left out on purpose
(an attachment over the size limit, one too many, text beyond the length limit) is listed in
``dropped``, so nobody has to guess what the sender sent.

The standard library's ``email`` package with ``policy.default`` does the MIME work. HTML is sanitized
with nh3, quoted history and signatures are told apart from the new words with mail-parser-reply, and
Outlook's ``winmail.dat`` is opened with tnefparse (docs/decisions/0047).
"""

from __future__ import annotations

import dataclasses
import email
import html
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any, TypeVar, cast

import nh3
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage as ReplyReading

from supportdesk.channels.email import headers
from supportdesk.core.storage import safe_filename

MEGABYTE = 1024 * 1024

# Tags and attributes an HTML body keeps: nh3's defaults (text formatting, tables, images, links)
# with inline images (cid:) allowed; scripts, styles, forms and event handlers never survive.
URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
# Where a block starts or ends, the text version starts a new line.
_BLOCK_EDGE = re.compile(r"<br\s*/?>|</?(?:p|div|li|tr|h[1-6]|blockquote|pre|table)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# A line ending in a colon, then (after blank lines, if any) a quoted line: "X wrote:" in any language.
_QUOTE_HEADER = re.compile(r"^[^\n>][^\n]*:[ \t]*\n(?:[ \t]*\n)*>", re.MULTILINE)
_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
# Every language the reply parser knows, so a German or Japanese "On ... wrote:" is found as well.
_REPLIES = EmailReplyParser(languages=sorted(MAIL_LANGUAGES))


class _Replies:
    """The reply parser's reading of a text, with its patterns built once.

    mail-parser-reply builds and compiles its three patterns (the "wrote:" lines, signatures, disclaimers
    of every language) again for every message it reads; they depend only on the languages, so one
    reading of an empty text builds them and every message's reading is handed them ready."""

    def __init__(self, parser: EmailReplyParser) -> None:
        self._languages = tuple(parser.languages)
        ready = ReplyReading(text="", languages=list(self._languages))
        self._patterns = {
            "_header_regex": ready.HEADER_REGEX,
            "_disclaimers_regex": ready.DISCLAIMERS_REGEX,
            "_signature_regex": ready.SIGNATURE_REGEX,
        }

    def parse_reply(self, text: str) -> str | None:
        """What ``EmailReplyParser.parse_reply`` gives for ``text``."""
        reading = ReplyReading(text=text, languages=list(self._languages), **self._patterns)
        reply = reading.read().latest_reply
        return reply if isinstance(reply, str) else None


_READ_REPLIES = _Replies(_REPLIES)


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


# Messages from this size on have their long runs of base64 lines set aside while the standard library
# reads their structure (see _message_from_bytes).
HOLLOW_FROM = 32 * 1024
# A run of at least this many full lines of base64 (76 characters, as every mail program writes it).
_BASE64_RUN = re.compile(rb"(?:^[A-Za-z0-9+/]{76}(?:\r\n|\n)){64,}", re.MULTILINE)
# What stands for a run set aside: the message's token (16 random bytes in hex) and the run's number.
# One pattern for every message, since compiling one with each message's token costs more than reading.
_PLACEHOLDER = re.compile(r"(?<![0-9a-f])([0-9a-f]{32})(\d{8})(\r\n|\n)?")


def _message_from_bytes(raw: bytes) -> EmailMessage:
    """``raw`` read by the standard library with ``policy.default`` (and a memory of the headers parsed:
    one per message, so it ends with it).

    Its parser reads a message line by line in Python, and most of a large message is the base64 lines
    of its files: a 200 KB attachment is 3,500 lines, each matched against the part's boundary. Such
    runs of lines hold no boundary and no header, so in a large message each is replaced by one line
    naming it before parsing, and put back in every part's text afterwards: the parts, their payloads
    and the defects found are the same as when the whole message is read."""
    message_policy = policy.default.clone(header_factory=headers.ReadOnce())
    if len(raw) < HOLLOW_FROM:
        return email.message_from_bytes(raw, policy=message_policy)
    token = secrets.token_hex(16)
    runs: list[bytes] = []

    def set_aside(found: re.Match[bytes]) -> bytes:
        runs.append(found.group())
        ending = b"\r\n" if found.group().endswith(b"\r\n") else b"\n"
        return f"{token}{len(runs) - 1:08d}".encode("ascii") + ending

    hollow = _BASE64_RUN.sub(set_aside, raw)
    message = email.message_from_bytes(hollow, policy=message_policy)
    if not runs:
        return message
    # The parser reads bytes as ASCII with surrogate escapes; the runs are ASCII, so they go back as such.
    texts = [run.decode("ascii") for run in runs]

    def run_of(found: re.Match[str]) -> str:
        if found.group(1) != token:  # the sender's own text, which only looks like a placeholder
            return found.group()
        text = texts[int(found.group(2))]
        # The parser strips the line ending of a preamble's last line; that run goes back without its own.
        return text if found.group(3) else text.removesuffix("\n").removesuffix("\r")

    def put_back(text: str) -> str:
        return _PLACEHOLDER.sub(run_of, text) if token in text else text

    for part in message.walk():
        # A part's text as read; given back without a charset, set_payload changes nothing else.
        payload = None if part.is_multipart() else part.get_payload()
        if isinstance(payload, str):
            part.set_payload(put_back(payload))
        for edge in ("preamble", "epilogue"):
            value = getattr(part, edge, None)
            if isinstance(value, str):
                setattr(part, edge, put_back(value))
    return message


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


def decode_text(data: bytes, declared: str) -> tuple[str, str]:
    """``data`` as text, and the charset that read it.

    The declared charset first, unless the bytes show it is wrong: what says Latin-1 or ASCII but holds
    bytes 0x80 to 0x9F is Windows-1252 (as browsers read it, per the WHATWG encoding standard). Then UTF-8,
    then Windows-1252 with a replacement character for the few bytes nothing maps.
    """
    candidates = [declared]
    if declared in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii") and re.search(
        rb"[\x80-\x9f]", data
    ):
        candidates = ["windows-1252"]
    for charset in (*candidates, "utf-8"):
        try:
            return data.decode(charset), charset
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("windows-1252", errors="replace"), "windows-1252"


def html_to_text(clean_html: str) -> str:
    """The text of sanitized HTML: a new line where a block ends, entities read."""
    text = html.unescape(_TAG.sub("", _BLOCK_EDGE.sub("\n", clean_html)))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def split_reply(text: str) -> tuple[str, str]:
    """The new words of a reply, and what came after them (quoted history, signature).

    mail-parser-reply knows the "On ... wrote:" lines of a dozen languages. Where it finds none, a line
    that ends in a colon and is followed by quoted lines (``>``) is taken as such a line in any other
    language or wording, when everything after it is quoted; quoting inside a reply, answered line by
    line, is left alone.
    """
    try:
        reply = (_READ_REPLIES.parse_reply(text) or "").strip()
    except Exception:  # noqa: BLE001  (a parser error leaves the fallback below to decide)
        reply = ""
    if reply and reply != text.strip():
        start = text.find(reply[: min(len(reply), 80)])
        rest = text[start + len(reply) :] if start >= 0 else ""
        return reply, rest.strip()
    for header in _QUOTE_HEADER.finditer(text):
        before, after = text[: header.start()], text[header.end() - 1 :]
        quoted_to_the_end = all(line.startswith(">") for line in after.splitlines() if line.strip())
        if before.strip() and quoted_to_the_end:
            return before.strip(), text[header.start() :].strip()
    return text.strip(), ""


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
    "decode_text",
    "html_to_text",
    "parse",
    "split_reply",
]
