"""The embedded default: every message kept in a maildir on this machine instead of being sent.

It needs no server and no account, so ``make run`` has working mail from the start: an operator (or a
mail client pointed at the folder) reads what supportdesk would have sent.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from pathlib import Path

from supportdesk.jobs.channels import Sent
from supportdesk.jobs.outcalls import failure, one_line
from supportdesk.notifications.mail.failures import mime_bytes
from supportdesk.notifications.mail.message import OutgoingEmail

# What of a Message-ID may appear in a file name: maildir readers split names at ":" (the flags) and a
# "/" would be a folder; everything else unusual becomes "_".
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._@+=-]")
MAX_ID_IN_NAME = 100


class MaildirProvider:
    """Writes each message as one file in the ``new`` folder of a maildir (the layout the stdlib's
    ``mailbox.Maildir`` and every mail client read), created when missing."""

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = name
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"MaildirProvider(name={self.name!r}, path={str(self.path)!r})"

    async def send(self, email: OutgoingEmail) -> Sent:
        data = mime_bytes(email, self.name)
        try:
            key = await asyncio.to_thread(self._deliver, data, email.message_id)
        except OSError as error:
            detail = one_line(error.strerror or str(error))
            raise failure(self.name, f"could not write to the maildir {self.path}: {detail}") from error
        # The key is the file's name in new/ (and in cur/ once a mail client has seen it).
        return Sent(provider=self.name, provider_message_id=key)

    async def aclose(self) -> None:
        """Nothing is kept open."""

    def _deliver(self, data: bytes, message_id: str) -> str:
        # The maildir's three folders, readable by their owner only, made when missing (also inside a
        # folder that exists but is empty, which the stdlib's ``Maildir(create=True)`` leaves alone).
        for folder in ("tmp", "new", "cur"):
            (self.path / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        key = file_name(message_id)
        written = self.path / "tmp" / key
        # Written in tmp/ and then moved, as maildir readers expect: a file in new/ is always complete.
        # Mail holds customers' personal data, so the file is readable by its owner only.
        descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(written, self.path / "new" / key)
        except BaseException:
            written.unlink(missing_ok=True)
            raise
        return key


def file_name(message_id: str) -> str:
    """A unique maildir name that sorts by time and carries the Message-ID, so that
    ``ls mail/new | grep <id>`` finds the message an outbox row or a customer's reply points to."""
    readable = _UNSAFE_IN_NAME.sub("_", message_id.strip().strip("<>"))[:MAX_ID_IN_NAME] or "message"
    return f"{time.time_ns() // 1000}.{uuid.uuid4().hex[:12]}.{readable}"
