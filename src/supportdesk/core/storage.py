"""Where attachment files live: outside the database, named by what they hold.

A file is stored under the SHA-256 of its bytes, so the same file attached twice (a logo in every
reply, a form sent to many tickets) is kept once, and a stored file can never be changed without its
name changing too. The database keeps the name a person gave the file, its type and its hash; the
store keeps bytes. :class:`FileStore` is the interface; :class:`LocalFileStore`, a folder on the
server's disk, is the embedded default (docs/decisions/0048).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

# What a download reads and sends at a time.
CHUNK_BYTES = 256 * 1024


class FileStore(Protocol):
    """Bytes kept by their SHA-256."""

    def put(self, data: bytes) -> str:
        """Keep ``data``; returns its SHA-256 (hex), under which it is found again."""
        ...

    def get(self, digest: str) -> bytes:
        """The bytes kept under ``digest``; raises ``FileNotFoundError`` if there are none."""
        ...

    def has(self, digest: str) -> bool:
        """Whether bytes are kept under ``digest``."""
        ...

    def chunks(self, digest: str) -> Iterator[bytes]:
        """The bytes kept under ``digest`` a piece at a time, for serving a large file without holding
        it; raises ``FileNotFoundError`` at once if there are none."""
        ...


def safe_filename(name: str) -> str:
    """A file name as the desk keeps it: no folders, no control characters, at most 255 characters,
    never empty. Whatever a sender called a file, it cannot name a place on anyone's disk."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(character for character in base if character.isprintable()).strip(" .")
    return cleaned[:255] or "attachment"


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class LocalFileStore:
    """Files in a folder, two levels of sub-folders deep by the hash's first characters, so that no
    folder holds more than a few thousand entries."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, digest: str) -> Path:
        if len(digest) != 64 or not all(character in "0123456789abcdef" for character in digest):
            raise ValueError(f"not a SHA-256 in hex: {digest!r}")
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        target = self.path_of(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # Written beside its place and renamed into it: a reader never sees half a file, and two
        # processes storing the same file at once both end with the one complete copy.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        return self.path_of(digest).read_bytes()

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def chunks(self, digest: str) -> Iterator[bytes]:
        # Opened here, not when iteration starts, so a missing file is an error before any answer is sent.
        file = self.path_of(digest).open("rb")
        return _read_in_chunks(file)


def _read_in_chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk
