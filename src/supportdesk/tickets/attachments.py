"""Files on comments: kept in the file store by their hash, recorded in the ticket's workspace, served
so that no browser runs them.

Uploads are checked before anything is kept (their number and sizes, then the optional virus scan), so
a refused upload leaves nothing behind. A kept file whose comment is rolled back stays in the store,
unreferenced, and costs only its disk space; the same bytes attached again reuse it.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.errors import InvalidInput, SupportdeskError
from supportdesk.core.storage import FileStore, safe_filename
from supportdesk.db.lookups import get_in_workspace
from supportdesk.tickets.models import Attachment, Comment, Ticket

# Served inline, as pictures: types no browser runs. Everything else is a download.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DOWNLOAD_TYPE = "application/octet-stream"
SCAN_SECONDS = 60.0


class AttachmentInfected(SupportdeskError):
    status_code = 422
    code = "attachment-infected"
    title = "The virus scanner refused a file"


class ScannerFailed(SupportdeskError):
    status_code = 503
    code = "attachment-scan-failed"
    title = "The virus scanner could not check the files; nothing was kept"


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as it arrived: the name and type its sender gave, and its bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class AttachmentRules:
    max_bytes: int
    max_count: int
    scan_command: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> AttachmentRules:
        """The limits and the scanner the server's settings give every way files come in."""
        return cls(
            max_bytes=settings.attachment_max_bytes,
            max_count=settings.attachment_max_count,
            scan_command=settings.attachment_scan_command,
        )


def served_as(content_type: str) -> tuple[str, str]:
    """The Content-Type and the disposition (``inline`` or ``attachment``) a stored file is served with.

    Only pictures on the allow-list are shown in the page; anything else, HTML and SVG and PDF among
    them, is offered as a download of bytes, whatever its sender called it, so a file cannot run as a
    page of this site.
    """
    declared = content_type.split(";", 1)[0].strip().lower()
    if declared in INLINE_TYPES:
        return declared, "inline"
    return DOWNLOAD_TYPE, "attachment"


def check_count(count: int, rules: AttachmentRules) -> None:
    """Refuse more files than one comment may carry (before any is read)."""
    if count > rules.max_count:
        raise InvalidInput(
            "files", f"At most {rules.max_count} files may be attached at once.", reason="too-many"
        )


def check_uploads(uploads: Sequence[Upload], rules: AttachmentRules) -> None:
    """Refuse too many files, or a file too large, naming the file. An empty file is kept: an empty log
    or form can be what the customer means to show."""
    check_count(len(uploads), rules)
    for upload in uploads:
        name = safe_filename(upload.filename)
        if len(upload.data) > rules.max_bytes:
            raise InvalidInput(
                "files", f"{name} is larger than {rules.max_bytes} bytes.", reason="file-too-large"
            )


async def scan(uploads: Sequence[Upload], command: str | None) -> None:
    """Run the configured scanner on each file (its path appended to the command): exit status 0 is
    clean, 1 is infected (refused), anything else a scanner that could not check (503, retry later)."""
    if command is None:
        return
    with tempfile.TemporaryDirectory(prefix="supportdesk-scan-") as folder:
        for number, upload in enumerate(uploads):
            path = Path(folder) / f"{number}"
            path.write_bytes(upload.data)
            os.chmod(path, 0o644)  # clamdscan's daemon reads the file as its own user
            process = await asyncio.create_subprocess_exec(
                *shlex.split(command),
                str(path),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                status = await asyncio.wait_for(process.wait(), SCAN_SECONDS)
            except TimeoutError:
                process.kill()
                raise ScannerFailed(f"The scanner took longer than {SCAN_SECONDS:g} s") from None
            if status == 1:
                raise AttachmentInfected(f"{safe_filename(upload.filename)} was refused by the virus scanner")
            if status != 0:
                raise ScannerFailed(f"The scanner ended with status {status}")


async def read_uploads(files: Sequence[UploadFile], rules: AttachmentRules) -> list[Upload]:
    """The files of a posted form, checked (count, sizes, the scanner when one is configured) before
    anything is kept; the API's upload and the pages' forms take files through this one door."""
    check_count(len(files), rules)
    uploads = []
    for file in files:
        # One byte more than allowed is enough to refuse the file without reading all of it.
        data = await file.read(rules.max_bytes + 1)
        uploads.append(Upload(file.filename or "attachment", file.content_type or "", data))
    check_uploads(uploads, rules)
    await scan(uploads, rules.scan_command)
    return uploads


@dataclass(frozen=True, slots=True)
class Kept:
    """An upload whose bytes are in the file store, under ``sha256``."""

    upload: Upload
    sha256: str


async def keep(store: FileStore, uploads: Sequence[Upload]) -> list[Kept]:
    """Put ``uploads`` (checked already) into the store, before they are recorded (:func:`record`): a
    flow that holds a lock until its commit keeps the files first, so the disk's writes are not waited
    for under the lock."""
    return [Kept(upload, await asyncio.to_thread(store.put, upload.data)) for upload in uploads]


def record(session: AsyncSession, clock: Clock, comment: Comment, kept: Sequence[Kept]) -> list[Attachment]:
    """Record files kept by :func:`keep` on ``comment`` (a flushed one); they are written with the
    session's next flush."""
    now = clock.now()
    attachments = [
        Attachment(
            workspace_id=comment.workspace_id,
            ticket_id=comment.ticket_id,
            comment_id=comment.id,
            filename=safe_filename(one.upload.filename),
            content_type=(one.upload.content_type or DOWNLOAD_TYPE)[:127],
            size=len(one.upload.data),
            sha256=one.sha256,
            created_at=now,
        )
        for one in kept
    ]
    session.add_all(attachments)
    return attachments


async def attach(
    session: AsyncSession,
    clock: Clock,
    store: FileStore,
    comment: Comment,
    uploads: Sequence[Upload],
) -> list[Attachment]:
    """Keep ``uploads`` (checked already) in the store and record them on ``comment``."""
    kept = record(session, clock, comment, await keep(store, uploads))
    await session.flush()
    return kept


async def list_attachments(session: AsyncSession, ticket: Ticket) -> list[Attachment]:
    """The ticket's attachments, oldest first."""
    query = select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    return list((await session.execute(query)).scalars())


async def get_attachment(session: AsyncSession, attachment_id: int) -> Attachment:
    """The attachment with ``attachment_id`` in the session's workspace."""
    return await get_in_workspace(session, Attachment, attachment_id, "attachment")


async def content_of(store: FileStore, attachment: Attachment) -> Iterator[bytes]:
    """The attachment's bytes from the store, a piece at a time."""
    return await asyncio.to_thread(store.chunks, attachment.sha256)


async def download(store: FileStore, attachment: Attachment) -> StreamingResponse:
    """The answer that hands over an attachment's bytes: pictures of a few safe types shown inline,
    everything else a download of bytes (see :func:`served_as`), streamed from the store so a large
    file is never held whole."""
    chunks = await content_of(store, attachment)
    media_type, disposition = served_as(attachment.content_type)
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.filename)}",
        "Content-Length": str(attachment.size),
        "Cache-Control": "private, max-age=0",
    }
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
