"""Arrived mail read in a child process: the same reading as in the worker's own process, each answer to
its own question, and nothing lost when the child dies or cannot start."""

from __future__ import annotations

import asyncio
import hashlib
import io
import pickle
import signal
import sys
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from supportdesk.channels.email import parsing, reader
from supportdesk.channels.email.reader import MessageReader
from supportdesk.core.storage import FileStore, LocalFileStore

pytestmark = pytest.mark.integration

LIMITS = parsing.Limits(max_attachment_bytes=50_000)


def _message(number: int, *, attachment_bytes: int = 0, html: bool = False) -> bytes:
    built = EmailMessage()
    built["From"] = f'"Customer {number}" <customer{number}@example.org>'
    built["To"] = "help@acme.test"
    built["Subject"] = f"=?utf-8?q?Dr=C3=BCcker_{number}?="
    built["Message-ID"] = f"<m{number}@mail.example.org>"
    built.set_content(f"Printer {number} is on fire.\n\nOn Monday Acme wrote:\n> Hello")
    if html:
        built.add_alternative(f"<p>Printer {number}</p><script>alert(1)</script>", subtype="html")
    if attachment_bytes:
        built.add_attachment(b"x" * attachment_bytes, maintype="application", subtype="pdf", filename="a.pdf")
    return built.as_bytes()


MESSAGES = [
    _message(1),
    _message(2, html=True),
    _message(3, attachment_bytes=20_000),
    _message(4, attachment_bytes=80_000),  # over the limit: dropped and said so
    b"\x00\xff not mail at all",
]


@pytest.fixture
async def separate() -> AsyncIterator[MessageReader]:
    message_reader = MessageReader(separate=True)
    yield message_reader
    await message_reader.aclose()


async def _started(message_reader: MessageReader) -> reader._Child:
    """The reader's child, started by reading a first message."""
    await message_reader.read(MESSAGES[0], LIMITS)
    child = message_reader._child
    assert child is not None
    return child


async def test_a_message_read_in_the_child_is_read_as_in_this_process(separate: MessageReader) -> None:
    for raw in MESSAGES:
        assert await separate.read(raw, LIMITS) == parsing.parse(raw, LIMITS)
    assert separate._child is not None, "the messages were read in a child process"


async def test_questions_asked_at_once_each_get_their_own_answer(separate: MessageReader) -> None:
    raws = [_message(number, attachment_bytes=(number % 3) * 10_000) for number in range(60)]
    answers = await asyncio.gather(*(separate.read(raw, LIMITS) for raw in raws))
    assert [answer.message_id for answer in answers] == [
        f"<m{number}@mail.example.org>" for number in range(60)
    ]
    assert answers == [parsing.parse(raw, LIMITS) for raw in raws]


async def test_questions_the_child_did_not_answer_are_read_here(
    separate: MessageReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = await _started(separate)
    # The child dies with questions on its pipe: they are read in this process instead, and the next
    # message, after the pause, goes to a new child.
    asked = [asyncio.create_task(separate.read(raw, LIMITS)) for raw in MESSAGES]
    await asyncio.sleep(0)
    child.process.kill()
    assert await asyncio.gather(*asked) == [parsing.parse(raw, LIMITS) for raw in MESSAGES]
    assert child.gone

    # During the pause after a failure, messages are read here and no child is started.
    assert await separate.read(MESSAGES[2], LIMITS) == parsing.parse(MESSAGES[2], LIMITS)
    assert separate._child is child

    monkeypatch.setattr(reader, "RESTART_AFTER", 0.0)
    assert await separate.read(MESSAGES[1], LIMITS) == parsing.parse(MESSAGES[1], LIMITS)
    assert separate._child is not None
    assert separate._child is not child
    assert not separate._child.gone


async def test_a_child_that_cannot_start_leaves_reading_to_this_process(
    separate: MessageReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    assert await separate.read(MESSAGES[2], LIMITS) == parsing.parse(MESSAGES[2], LIMITS)
    assert separate._child is None


async def test_closing_ends_the_child(separate: MessageReader) -> None:
    child = await _started(separate)
    await separate.aclose()
    assert child.process.returncode == 0, "it ended when its questions did"


async def test_a_child_that_does_not_end_in_time_is_killed(
    separate: MessageReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = await _started(separate)
    monkeypatch.setattr(reader, "STOP_WITHIN", 0.0)
    await separate.aclose()
    assert child.process.returncode == -signal.SIGKILL


async def test_a_reader_of_this_process_starts_no_child() -> None:
    here = MessageReader(separate=False)
    assert await here.read(MESSAGES[3], LIMITS) == parsing.parse(MESSAGES[3], LIMITS)
    assert here._child is None
    await here.aclose()


def test_the_child_answers_every_question_in_order_until_its_input_ends(tmp_path: Path) -> None:
    # Bytes, a file of the store's folder, and a file that is not there.
    kept = tmp_path / "kept.eml"
    kept.write_bytes(MESSAGES[1])
    given: list[bytes | Path] = [*MESSAGES, kept, tmp_path / "gone.eml"]
    questions = b"".join(
        reader._LENGTH.pack(len(body)) + body for body in (pickle.dumps((item, LIMITS)) for item in given)
    )
    answers = io.BytesIO()
    reader.serve(io.BytesIO(questions), answers)
    answers.seek(0)
    read = []
    while head := answers.read(reader._LENGTH.size):
        read.append(pickle.loads(answers.read(reader._LENGTH.unpack(head)[0])))  # noqa: S301
    *parsed, missing = read
    assert parsed == [parsing.parse(raw, LIMITS) for raw in [*MESSAGES, MESSAGES[1]]]
    assert isinstance(missing, FileNotFoundError)


class _BucketLike:
    """A store that is not a folder on this machine: its bytes come only through ``get``."""

    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.kept[digest] = data
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self.kept[digest]
        except KeyError:
            raise FileNotFoundError(digest) from None

    def has(self, digest: str) -> bool:
        return digest in self.kept


@pytest.mark.parametrize("in_own_process", [True, False], ids=["child", "here"])
@pytest.mark.parametrize("kind", ["folder", "bucket"])
async def test_a_stored_message_is_read_from_its_store(
    kind: str, in_own_process: bool, tmp_path: Path
) -> None:
    store: FileStore = LocalFileStore(tmp_path) if kind == "folder" else _BucketLike()  # type: ignore[assignment]
    message_reader = MessageReader(separate=in_own_process)
    try:
        for raw in MESSAGES:
            digest = store.put(raw)
            assert await message_reader.read_stored(store, digest, LIMITS) == parsing.parse(raw, LIMITS)
        with pytest.raises(FileNotFoundError):
            await message_reader.read_stored(store, "0" * 64, LIMITS)
        # A file that could not be read costs the child nothing: the next message is read by it.
        digest = store.put(MESSAGES[1])
        assert await message_reader.read_stored(store, digest, LIMITS) == parsing.parse(MESSAGES[1], LIMITS)
        assert (message_reader._child is not None) == in_own_process
    finally:
        await message_reader.aclose()
