"""Reading arrived e-mail in a process of its own, beside the process that acts on it.

Reading a message (``parsing.parse``) is CPU work in Python: the MIME structure, the headers, the HTML,
the quoted history. A worker process runs it on the same event loop as its database work, so it competes
with that work for one core while the second core of a small server waits for something to do. A
:class:`MessageReader` hands the bytes to a child process that reads them and answers with the
:class:`~supportdesk.channels.email.parsing.ParsedEmail` (pickled, over a pipe), one message after the
other in the order asked; the worker meanwhile goes on with the other messages' transactions.

The child is started at the first message and again after it failed. A message it did not answer
(the child died, or could not be started) is read in this process instead, so reading never fails
for a reason of its own; a child that keeps failing is left alone for a while. The child reads the
bytes it is given, or the file of the local file store it is named; it opens no database and writes
nothing.

Run as ``python -m supportdesk.channels.email.reader``, this module is the child.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import pickle
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from supportdesk.channels.email import parsing
from supportdesk.core.storage import FileStore, LocalFileStore

_log = logging.getLogger(__name__)

# Each frame on the pipes: its length (4 bytes, network order), then a pickle of the question (the
# bytes and the limits) or of the answer.
_LENGTH = struct.Struct("!I")
# After the child failed, messages are read in this process for this long before it is started again.
RESTART_AFTER = 5.0
# How long a child that was asked to stop may take before it is killed.
STOP_WITHIN = 2.0


class ReaderGone(Exception):
    """The child stopped before it answered."""


@dataclass(eq=False)
class _Child:
    """A reading process and the questions it has not answered yet, oldest first: its answers come in
    the order of its questions, and no other process's answer is ever matched to them."""

    process: asyncio.subprocess.Process
    waiting: collections.deque[asyncio.Future[parsing.ParsedEmail | OSError]] = field(
        default_factory=collections.deque
    )
    listening: asyncio.Task[None] | None = None
    gone: bool = False


class MessageReader:
    """Reads messages in a child process when ``separate`` is true, in this one otherwise."""

    def __init__(self, *, separate: bool) -> None:
        self.separate = separate
        self._child: _Child | None = None
        self._starting = asyncio.Lock()
        self._failed_at: float | None = None

    async def read(self, raw: bytes, limits: parsing.Limits) -> parsing.ParsedEmail:
        """``raw`` read as ``parsing.parse`` reads it; never raises for a reason of the child's."""
        if self.separate:
            child = await self._running_child()
            if child is not None:
                with contextlib.suppress(ReaderGone):
                    return await self._ask(child, raw, limits)
        return await read_here(raw, limits)

    async def read_stored(self, store: FileStore, digest: str, limits: parsing.Limits) -> parsing.ParsedEmail:
        """The message kept in ``store`` under ``digest``, read; ``FileNotFoundError`` when it is not
        there. From a folder on this machine the child reads the file itself: handing the bytes to a
        thread and then down the pipe costs the worker more than reading them does."""
        if self.separate and isinstance(store, LocalFileStore):
            child = await self._running_child()
            if child is not None:
                with contextlib.suppress(ReaderGone):
                    return await self._ask(child, store.path_of(digest), limits)
        return await self.read(await asyncio.to_thread(store.get, digest), limits)

    async def aclose(self) -> None:
        """Stop the child: it answers what it was asked, and ends when its questions do."""
        child, self._child = self._child, None
        if child is None:
            return
        child.gone = True
        if child.process.stdin is not None:
            child.process.stdin.close()
        try:
            await asyncio.wait_for(child.process.wait(), STOP_WITHIN)
        except TimeoutError:
            child.process.kill()
        if child.listening is not None:
            await child.listening

    async def _running_child(self) -> _Child | None:
        child = self._child
        if child is not None and not child.gone:
            return child
        if self._failed_at is not None and time.monotonic() - self._failed_at < RESTART_AFTER:
            return None
        async with self._starting:
            if self._child is None or self._child.gone:
                await self._start()
        return self._child

    async def _start(self) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            _log.warning("inbound: no process to read mail in (%s); reading it here", error)
            self._failed_at = time.monotonic()
            return
        child = _Child(process)
        child.listening = asyncio.create_task(self._listen(child))
        self._child, self._failed_at = child, None

    async def _ask(self, child: _Child, raw: bytes | Path, limits: parsing.Limits) -> parsing.ParsedEmail:
        questions = child.process.stdin
        if questions is None or child.gone:
            raise ReaderGone
        answer: asyncio.Future[parsing.ParsedEmail | OSError] = asyncio.get_running_loop().create_future()
        question = pickle.dumps((raw, limits), protocol=pickle.HIGHEST_PROTOCOL)
        child.waiting.append(answer)
        try:
            questions.write(_LENGTH.pack(len(question)) + question)
            await questions.drain()
        except (ConnectionError, RuntimeError) as error:  # the child is gone; _listen fails the answer
            _log.debug("inbound: the reading process took no question: %s", error)
        read = await answer
        if isinstance(read, OSError):  # the file named could not be read
            raise read
        return read

    async def _listen(self, child: _Child) -> None:
        """Hand each answer of ``child`` to the question waiting for it; when the child stops, fail
        every question it did not answer (they are read in this process instead)."""
        answers = child.process.stdout
        try:
            while answers is not None:
                length = _LENGTH.unpack(await answers.readexactly(_LENGTH.size))[0]
                answer: parsing.ParsedEmail | OSError = pickle.loads(await answers.readexactly(length))  # noqa: S301  (our own child's answer)
                waiting = child.waiting.popleft()
                if not waiting.done():
                    waiting.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, pickle.UnpicklingError, IndexError) as error:
            if not child.gone:
                self._failed_at = time.monotonic()
                _log.warning("inbound: the process reading mail stopped (%s); reading it here", error)
        finally:
            stopped_by_us = child.gone
            child.gone = True
            while child.waiting:
                waiting = child.waiting.popleft()
                if not waiting.done():
                    waiting.set_exception(ReaderGone())
            if not stopped_by_us:  # it answers no more, whatever it does
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
            await child.process.wait()


async def read_here(raw: bytes, limits: parsing.Limits) -> parsing.ParsedEmail:
    """Read a message in this process; a large one in a thread, so the loop's other work is not held up."""
    if len(raw) > 256 * 1024:
        return await asyncio.to_thread(parsing.parse, raw, limits)
    return parsing.parse(raw, limits)


def serve(questions: BinaryIO, answers: BinaryIO) -> None:
    """The child: read each question from ``questions`` and write its answer to ``answers``, until the
    questions end."""
    while True:
        head = questions.read(_LENGTH.size)
        if len(head) < _LENGTH.size:
            return
        given, limits = pickle.loads(questions.read(_LENGTH.unpack(head)[0]))  # noqa: S301  (the parent's question)
        read: parsing.ParsedEmail | OSError
        try:
            # The bytes, or the file in the store's folder that holds them.
            raw = given.read_bytes() if isinstance(given, Path) else given
        except OSError as error:
            read = error
        else:
            read = parsing.parse(raw, limits)
        answer = pickle.dumps(read, protocol=pickle.HIGHEST_PROTOCOL)
        answers.write(_LENGTH.pack(len(answer)) + answer)
        answers.flush()


def main() -> None:
    # The answers get a descriptor of their own, and the standard output becomes the standard error:
    # whatever a library prints cannot end up inside an answer.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
