"""Reading a raw message into the standard library's tree of MIME parts, quickly even when it is large.

The standard library's ``email`` package with ``policy.default`` does the MIME work, and it reads a
message line by line in Python. This module keeps that reading fast for large messages by setting their
long runs of base64 lines aside while the structure is read, and putting them back afterwards. It is
apart from ``parsing``, which decides what the desk takes from the parts, because the trick concerns
only how the bytes become parts: the tree it gives is the same as the whole message read at once.
"""

from __future__ import annotations

import email
import re
import secrets
from email import policy
from email.message import EmailMessage

from supportdesk.channels.email import headers

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
