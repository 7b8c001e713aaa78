"""The file store: bytes kept once under their SHA-256, whole or not at all, and found again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.core.storage import CHUNK_BYTES, LocalFileStore, safe_filename
from supportdesk.tickets.attachments import served_as

pytestmark = pytest.mark.unit


def test_bytes_are_kept_under_their_hash_and_found_again(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    digest = store.put(b"invoice")

    assert digest == hashlib.sha256(b"invoice").hexdigest()
    assert store.get(digest) == b"invoice"
    assert store.has(digest)
    assert store.path_of(digest) == tmp_path / digest[:2] / digest[2:4] / digest


def test_the_same_bytes_twice_are_one_file_and_no_leftovers(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    first, second = store.put(b"logo"), store.put(b"logo")

    assert first == second
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == [first]


@pytest.mark.parametrize(
    "digest", ["../../etc/passwd", "ABC", "g" * 64, "0" * 63], ids=["path", "short", "not-hex", "63"]
)
def test_only_a_sha256_names_a_file(tmp_path: Path, digest: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256"):
        LocalFileStore(tmp_path).get(digest)


def test_bytes_never_kept_are_not_found(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)

    assert not store.has("0" * 64)
    with pytest.raises(FileNotFoundError):
        store.get("0" * 64)
    with pytest.raises(FileNotFoundError):
        store.chunks("0" * 64)  # before any answer is begun, not half way through one


def test_a_large_file_is_read_back_a_piece_at_a_time(tmp_path: Path) -> None:
    store = LocalFileStore(tmp_path)
    data = bytes(range(256)) * (3 * CHUNK_BYTES // 256 + 7)

    pieces = list(store.chunks(store.put(data)))

    assert len(pieces) == 4
    assert max(len(piece) for piece in pieces) == CHUNK_BYTES
    assert b"".join(pieces) == data


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
