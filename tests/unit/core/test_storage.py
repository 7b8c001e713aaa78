"""The file stores: bytes kept once under their SHA-256, whole or not at all, and found again; the
same behaviour from the local folder and from an S3 bucket on a real S3-compatible server."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.core.storage import (
    CHUNK_BYTES,
    FileStore,
    LocalFileStore,
    S3FileStore,
    build_file_store,
    safe_filename,
)
from supportdesk.tickets.attachments import served_as
from tests.fixtures.database import make_settings
from tests.fixtures.s3 import S3_ACCESS_KEY_ID, S3_BUCKET, S3Server

pytestmark = pytest.mark.unit


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    """Each kind of store, empty. The S3 server is asked for only here, so that a run of the local
    store's tests alone never starts it."""
    if request.param == "local":
        return LocalFileStore(tmp_path)
    server: S3Server = request.getfixturevalue("s3_server")
    return server.fresh_store()


def kept_names(store: FileStore) -> list[str]:
    """Everything the store holds, named relative to its folder or prefix: a half-written file or a
    stray upload would show here."""
    if isinstance(store, LocalFileStore):
        return sorted(
            path.relative_to(store.root).as_posix() for path in store.root.rglob("*") if path.is_file()
        )
    assert isinstance(store, S3FileStore)
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return sorted(item["Key"].removeprefix(store.prefix) for item in listed.get("Contents", []))


def test_bytes_are_kept_under_their_hash_and_found_again(store: FileStore) -> None:
    digest = store.put(b"invoice")

    assert digest == hashlib.sha256(b"invoice").hexdigest()
    assert store.get(digest) == b"invoice"
    assert store.has(digest)
    assert kept_names(store) == [f"{digest[:2]}/{digest[2:4]}/{digest}"]


def test_the_same_bytes_twice_are_one_file_and_no_leftovers(store: FileStore) -> None:
    first, second = store.put(b"logo"), store.put(b"logo")

    assert first == second
    assert kept_names(store) == [f"{first[:2]}/{first[2:4]}/{first}"]


@pytest.mark.parametrize(
    "digest", ["../../etc/passwd", "ABC", "g" * 64, "0" * 63], ids=["path", "short", "not-hex", "63"]
)
def test_only_a_sha256_names_a_file(store: FileStore, digest: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.get(digest)
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.has(digest)
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.chunks(digest)


def test_bytes_never_kept_are_not_found(store: FileStore) -> None:
    assert not store.has("0" * 64)
    with pytest.raises(FileNotFoundError):
        store.get("0" * 64)
    with pytest.raises(FileNotFoundError):
        store.chunks("0" * 64)  # before any answer is begun, not half way through one


def test_a_large_file_is_read_back_a_piece_at_a_time(store: FileStore) -> None:
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)

    pieces = list(store.chunks(store.put(data)))

    assert len(pieces) == 4
    assert max(len(piece) for piece in pieces) == CHUNK_BYTES
    assert b"".join(pieces) == data


def test_bytes_already_in_the_bucket_are_not_uploaded_again(s3_server: S3Server) -> None:
    store = s3_server.fresh_store()
    uploads: list[str] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        uploads.append(params["Key"])

    store.client.meta.events.register("provide-client-params.s3.PutObject", count)
    try:
        store.put(b"signature")
        store.put(b"signature")
    finally:
        store.client.meta.events.unregister("provide-client-params.s3.PutObject", count)

    assert uploads == [store.key_of(hashlib.sha256(b"signature").hexdigest())]


def test_a_bucket_that_is_not_there_is_an_error_and_not_a_missing_file(s3_server: S3Server) -> None:
    store = S3FileStore(s3_server.client, "no-such-bucket")

    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.get("0" * 64)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        store.put(b"report")


def test_without_a_bucket_files_are_kept_in_the_attachment_folder(tmp_path: Path) -> None:
    store = build_file_store(make_settings(attachment_dir=tmp_path))

    assert isinstance(store, LocalFileStore)
    assert store.root == tmp_path


def test_a_bucket_url_keeps_files_below_its_prefix_signed_with_the_configured_key(
    s3_server: S3Server,
) -> None:
    store = build_file_store(s3_server.settings(f"s3://{S3_BUCKET}/desk/files"))
    assert isinstance(store, S3FileStore)
    sent: list[tuple[str, str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {name.lower(): _text(value) for name, value in request.headers.items()}
        sent.append((request.method, request.url, headers))

    store.client.meta.events.register("before-send.s3", record)
    try:
        digest = store.put(b"minutes")
        assert store.get(digest) == b"minutes"
    finally:
        store.client.close()

    assert (store.bucket, store.prefix) == (S3_BUCKET, "desk/files/")
    key = f"desk/files/{digest[:2]}/{digest[2:4]}/{digest}"
    assert s3_server.client.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read() == b"minutes"
    # Asked whether it is there, sent, read back: each request signed with the configured key, and
    # addressed by path, which every S3-compatible server answers.
    assert [(method, url) for method, url, _ in sent] == [
        (method, f"{s3_server.endpoint_url}/{S3_BUCKET}/{key}") for method in ("HEAD", "PUT", "GET")
    ]
    assert all(f"Credential={S3_ACCESS_KEY_ID}/" in headers["authorization"] for _, _, headers in sent)
    # The upload carries the checksum every server checks, and none of the newer ones some refuse.
    upload = sent[1][2]
    assert (
        upload["content-md5"]
        == base64.b64encode(hashlib.md5(b"minutes", usedforsecurity=False).digest()).decode()
    )
    assert not [name for name in upload if name.startswith(("x-amz-checksum", "x-amz-sdk-checksum"))]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_without_an_endpoint_the_bucket_is_amazons(monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3 would take an endpoint from the environment; a developer's own must not change the outcome.
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    settings = make_settings(
        file_store_url="s3://desk-files",
        file_store_region="eu-central-1",
        file_store_access_key_id=S3_ACCESS_KEY_ID,
        file_store_secret_access_key="not-a-real-secret",
    )

    store = build_file_store(settings)

    assert isinstance(store, S3FileStore)
    try:
        assert (store.bucket, store.prefix) == ("desk-files", "")
        assert store.client.meta.endpoint_url == "https://s3.eu-central-1.amazonaws.com"
        assert store.client.meta.region_name == "eu-central-1"
    finally:
        store.client.close()


@settings(max_examples=50, deadline=None)
@given(name=st.text(max_size=300))
def test_a_kept_file_name_never_names_a_folder_and_is_never_empty(name: str) -> None:
    kept = safe_filename(name)

    assert kept
    assert "/" not in kept
    assert "\\" not in kept
    assert len(kept) <= 255
    assert kept not in (".", "..")


@pytest.mark.parametrize(
    ("declared", "served"),
    [
        ("image/png", ("image/png", "inline")),
        ("IMAGE/JPEG; name=x.jpg", ("image/jpeg", "inline")),
        ("image/svg+xml", ("application/octet-stream", "attachment")),
        ("text/html", ("application/octet-stream", "attachment")),
        ("application/pdf", ("application/octet-stream", "attachment")),
        ("", ("application/octet-stream", "attachment")),
    ],
)
def test_only_safe_pictures_are_served_inline(declared: str, served: tuple[str, str]) -> None:
    assert served_as(declared) == served
