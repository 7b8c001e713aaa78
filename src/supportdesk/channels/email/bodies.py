"""The text of a message once it is out of its MIME parts: bytes decoded in the charset that really
reads them, sanitized HTML turned into text, and a reply told apart from the history it quotes.

These are apart from the reading of the MIME structure (``parsing``) because they work on text alone,
whatever message it came from, and because most of their cost is the reply parser's, whose patterns
are built once here. Quoted history and signatures are told apart from the new words with
mail-parser-reply (docs/decisions/0047).
"""

from __future__ import annotations

import html
import re

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage as ReplyReading

# Where a block starts or ends, the text version starts a new line.
_BLOCK_EDGE = re.compile(r"<br\s*/?>|</?(?:p|div|li|tr|h[1-6]|blockquote|pre|table)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
# A line ending in a colon, then (after blank lines, if any) a quoted line: "X wrote:" in any language.
_QUOTE_HEADER = re.compile(r"^[^\n>][^\n]*:[ \t]*\n(?:[ \t]*\n)*>", re.MULTILINE)
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
