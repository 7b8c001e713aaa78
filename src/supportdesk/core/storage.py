"""Where attachment files live: outside the database, named by what they hold.

A file is stored under the SHA-256 of its bytes, so the same file attached twice (a logo in every
reply, a form sent to many tickets) is kept once, and a stored file can never be changed without its
name changing too. The database keeps the name a person gave the file, its type and its hash; the
store keeps bytes. :class:`FileStore` is the interface; :class:`LocalFileStore`, a folder on the
server's disk, is the embedded default (docs/decisions/0048), and :class:`S3FileStore` keeps the same
names in a bucket of an S3-compatible server, for servers that share their files
(docs/decisions/0049). :func:`build_file_store` picks one from the settings.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

    from supportdesk.config import Settings

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


def relative_name(digest: str) -> str:
    """Where bytes are kept relative to a store's root: two levels of sub-folders by the hash's first
    characters, then the hash. Every store uses the same names, so files can be copied between them."""
    if len(digest) != 64 or not all(character in "0123456789abcdef" for character in digest):
        raise ValueError(f"not a SHA-256 in hex: {digest!r}")
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


class LocalFileStore:
    """Files in a folder, two levels of sub-folders deep by the hash's first characters, so that no
    folder holds more than a few thousand entries."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, digest: str) -> Path:
        return self.root / relative_name(digest)

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


class S3FileStore:
    """Objects in a bucket of Amazon S3 or of another server that speaks its API (MinIO, Ceph and
    others), keyed like the local folder's paths, below an optional prefix.

    The client is a boto3 S3 client, which may be called from several threads at once: callers run
    these methods with ``asyncio.to_thread``, and downloads are read in the web server's worker threads.
    """

    def __init__(self, client: S3Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        # A prefix is a folder-like part of a bucket that other data may share; keys below it follow
        # one slash, however the prefix was written.
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""

    def key_of(self, digest: str) -> str:
        return self.prefix + relative_name(digest)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        key = self.key_of(digest)
        # A HEAD costs far less than sending the bytes again. Two processes that both find the object
        # missing both upload it; S3 keeps one whole object either way, and it holds the same bytes.
        if self._exists(key):
            return digest
        # Content-MD5 has the server refuse bytes damaged on the way, and every S3-compatible server
        # checks it (the newer checksum headers are not understood everywhere).
        checksum = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentMD5=checksum,
            ContentType="application/octet-stream",
        )
        return digest

    def get(self, digest: str) -> bytes:
        with self._open(digest) as body:
            return body.read()

    def has(self, digest: str) -> bool:
        return self._exists(self.key_of(digest))

    def chunks(self, digest: str) -> Iterator[bytes]:
        # The object is requested here, not when iteration starts, so a missing one is an error before
        # any answer is sent.
        return _read_in_chunks(self._open(digest))

    def _open(self, digest: str) -> StreamingBody:
        key = self.key_of(digest)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:
            # Only a missing object is "not found": a missing bucket, refused credentials or an
            # unreachable server are faults of the installation and must not look like a lost file.
            if _status(error) == 404 and error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                raise FileNotFoundError(f"no object {key!r} in bucket {self.bucket!r}") from None
            raise

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            # A HEAD answer has no body, so a missing object and a missing bucket both read as 404
            # here; a missing bucket is then reported by the upload or download that follows.
            if _status(error) == 404:
                return False
            raise
        return True


def _status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...

    def close(self) -> None: ...


def _read_in_chunks(file: _Readable) -> Iterator[bytes]:
    with contextlib.closing(file):
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


# Connections kept open to the S3 server: as many as threads may call the store at once (asyncio's
# default executor for uploads, up to 32 threads, and anyio's 40 worker threads, which stream
# downloads), so that none is opened only to be thrown away.
S3_MAX_CONNECTIONS = 72


def build_file_store(settings: Settings) -> FileStore:
    """The file store the settings name: a bucket when ``file_store_url`` is set, else the folder."""
    if settings.file_store_url is None:
        return LocalFileStore(settings.attachment_dir)
    bucket, _, prefix = settings.file_store_url.removeprefix("s3://").partition("/")
    return S3FileStore(s3_client(settings), bucket, prefix)


def s3_client(settings: Settings) -> S3Client:
    """A boto3 client for the configured S3 server.

    With an access key in the settings, making it sends nothing over the network. Without one, boto3
    looks for credentials at once, and on a cloud instance that may ask the instance's metadata service.
    """
    # Imported here, so that a desk keeping its files in a folder never loads boto3 (a fifth of a second
    # at every start of the server and of each command).
    import boto3
    from botocore.config import Config

    secret = settings.file_store_secret_access_key
    config = Config(
        max_pool_connections=S3_MAX_CONNECTIONS,
        # Three attempts with backoff for throttling and passing faults, the rules AWS recommends now
        # (boto3 still defaults to older ones for compatibility).
        retries={"mode": "standard"},
        # Checksums only where the API requires them: the ones boto3 adds by default are refused by
        # several S3-compatible servers. Uploads carry Content-MD5 instead (see S3FileStore.put).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Another server than Amazon's is addressed by path (http://host/bucket/key), which every
        # S3-compatible server answers; bucket names as host names would need wildcard DNS for it.
        s3={"addressing_style": "path" if settings.file_store_endpoint_url else "auto"},
    )
    # A session of its own: boto3's default session is shared by the whole process and is not safe to
    # use from several threads.
    session = boto3.session.Session(
        aws_access_key_id=settings.file_store_access_key_id,
        aws_secret_access_key=None if secret is None else secret.get_secret_value(),
        region_name=settings.file_store_region,
    )
    return session.client("s3", endpoint_url=settings.file_store_endpoint_url, config=config)
