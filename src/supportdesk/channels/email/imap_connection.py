"""One connection to an IMAP server for the mailbox poller (``imap``): it logs in, selects the mailbox's
folder, lists and fetches messages, and waits on IDLE, and it puts what went wrong in words an admin can
act on.

The connection only reads. It opens the folder with SELECT but fetches with ``BODY.PEEK[]``, so no
message is marked seen, moved, flagged or deleted: people who share the mailbox see it as they left it.

The IMAP client, IMAPClient, blocks. Each connection therefore has a thread of its own that makes every
call on it, one after the other, while the event loop waits for the answers; a poller that is stopped
does not wait for that thread, but shuts the connection's socket down so that whatever the thread is
doing ends at once, and the thread then closes the connection and ends. All of this is apart from the
poller's bookkeeping of what has been read, which knows nothing of threads, sockets or the client.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import imaplib
import os
import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from supportdesk.channels.email import mailboxes
from supportdesk.channels.email.models import ImapSecurity

T = TypeVar("T")

# How long the connection's thread waits on IDLE before it looks whether the poller is stopping.
_IDLE_CHECK_SECONDS = 1.0

_FAILED = re.compile(r"^\w+ failed: ")
_BYTES_REPR = re.compile(r"""^b(['"]).*\1$""", re.DOTALL)


class ImapError(Exception):
    """What went wrong with a server, in words an admin can act on."""


def quoted(text: str) -> str:
    """A quoted string of IMAP (the schemas refuse line breaks, which no quoted string can hold)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _words(error: BaseException) -> str:
    """The server's words in an error of imaplib or IMAPClient, for an error message."""
    found: object = error.args[0] if error.args else str(error)
    if isinstance(found, str) and _BYTES_REPR.match(found):
        # IMAPClient turns a refused login into the text of imaplib's error, which holds bytes.
        with contextlib.suppress(ValueError, SyntaxError):
            found = ast.literal_eval(found)
    text = found.decode("utf-8", "replace") if isinstance(found, bytes | bytearray) else str(found)
    return " ".join(_FAILED.sub("", text).split())[:500]


@contextlib.contextmanager
def _refused(what: str) -> Iterator[None]:
    """A command the server answered with NO or BAD, as an :class:`ImapError` starting with ``what``; a
    broken connection stays what it is."""
    try:
        yield
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as error:
        raise ImapError(f"{what}: {_words(error)}") from None


def _announces_mail(responses: list[Any]) -> bool:
    """Whether untagged responses seen during IDLE include ``n EXISTS``."""
    return any(isinstance(item, tuple) and len(item) >= 2 and item[1] == b"EXISTS" for item in responses)


def _answer(answer: asyncio.Future[T], result: T) -> None:
    if not answer.cancelled():  # whoever asked may have been cancelled and gone
        answer.set_result(result)


def _fail(answer: asyncio.Future[T], error: BaseException) -> None:
    if not answer.cancelled():
        answer.set_exception(error)


class _Worker:
    """A thread of its own for one connection, which makes the calls handed to it one after the other.

    It is a daemon: a process that is stopping does not wait for a connection still being opened."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="supportdesk-imap", daemon=True).start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def call(self, function: Callable[[], T]) -> asyncio.Future[T]:
        """``function()`` in the thread, after the calls handed over before; its answer on the loop."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                result = function()
            except BaseException as error:  # noqa: BLE001  (handed to whoever waits for the answer)
                hand_over = functools.partial(_fail, answer, error)
            else:
                hand_over = functools.partial(_answer, answer, result)
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(hand_over)

        self._jobs.put(job)
        return answer

    def finish(self, function: Callable[[], None]) -> None:
        """``function()`` in the thread after the calls handed over before, and then the thread ends."""
        self._jobs.put(function)
        self._jobs.put(None)


class ImapConnection:
    """One logged-in connection to a server, with the mailbox's folder selected, through IMAPClient.

    Every call on the client is made in the connection's own thread (:class:`_Worker`); the coroutines
    here wait for it. A cancelled call drops the connection (:meth:`abort`)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._worker = _Worker()
        self._client: Any = None
        # Set when the connection is dropped; the thread looks at it while it waits on IDLE.
        self._stop = threading.Event()
        self._closed = False
        # A second descriptor for the connection's socket, with which the loop shuts the socket down
        # while the thread may be using it, and the thread looks whether the server closed it.
        self._side: socket.socket | None = None
        self._side_lock = threading.Lock()
        self.uidvalidity = 0
        self.can_idle = False

    @classmethod
    async def open(cls, account: mailboxes.ImapAccount, reply_seconds: float) -> ImapConnection:
        """Connect, protect the connection as the mailbox says, log in and select the folder."""
        # The API takes the settings one by one, so a mailbox may lack part of them for a while.
        if not account.username or not account.password:
            raise ImapError("the mailbox has no IMAP username or password; set both")
        connection = cls(reply_seconds)
        try:
            await connection._call(functools.partial(connection._start, account))
        except BaseException:
            connection.abort()
            raise
        return connection

    async def _call(self, function: Callable[[], T]) -> T:
        if self._closed:
            raise ImapError("the connection to the server was closed")
        try:
            return await self._worker.call(function)
        except asyncio.CancelledError:
            self.abort()
            raise

    # --- in the connection's thread ----------------------------------------------------------------

    def _start(self, account: mailboxes.ImapAccount) -> None:
        context = ssl.create_default_context() if account.security != ImapSecurity.none else None
        client = IMAPClient(
            account.host,
            account.port,
            use_uid=True,
            ssl=account.security == ImapSecurity.tls,
            ssl_context=context,
            timeout=self._timeout,
        )
        self._client = client
        with self._side_lock:
            self._side = socket.socket(fileno=_duplicate(client.socket()))
        if self._stop.is_set():
            raise ImapError("the connection to the server was closed")
        if account.security == ImapSecurity.starttls:
            # IMAPClient asks for the capabilities again once TLS is on (an attacker could have
            # written the ones offered before).
            if not client.has_capability("STARTTLS"):
                raise ImapError("the server does not offer STARTTLS; choose tls or none")
            with _refused("the server refused STARTTLS"):
                client.starttls(context)
        # imaplib quotes the password itself, but sends the user name as it is given.
        try:
            client.login(quoted(account.username), account.password)
        except LoginError as error:
            raise ImapError(f"the server refused the login of {account.username}: {_words(error)}") from None
        except UnicodeEncodeError:
            raise ImapError("the IMAP username and password can hold ASCII characters only") from None
        with _refused(f"the server cannot open the folder {account.folder}"):
            selected = client.select_folder(account.folder)
        self.uidvalidity = int(selected.get(b"UIDVALIDITY") or 0)
        if not self.uidvalidity:
            raise ImapError(f"the server gave no UIDVALIDITY for the folder {account.folder}")
        self.can_idle = bool(client.has_capability("IDLE"))

    def _search(self, uid: int) -> list[int]:
        with _refused("the server refused to list the folder"):
            found = self._client.search(["UID", f"{uid + 1}:*"])
        # "n:*" always names the newest message, even when its UID is below n.
        return sorted(number for number in set(found) if number > uid)

    def _fetch(self, uid: int) -> bytes | None:
        with _refused(f"the server refused to hand over message {uid}"):
            answer = self._client.fetch([uid], ["BODY.PEEK[]"])
        if uid not in answer:
            return None
        body = answer[uid].get(b"BODY[]")
        if not isinstance(body, bytes):
            raise ImapError(f"the server's answer for message {uid} could not be read")
        return body

    def _idle(self, seconds: float) -> bool:
        client = self._client
        client.idle()
        deadline = time.monotonic() + seconds
        announced = False
        while not announced:
            left = deadline - time.monotonic()
            if self._stop.is_set():
                raise ImapError("the connection to the server was closed")
            if left <= 0:
                break
            responses = client.idle_check(timeout=min(left, _IDLE_CHECK_SECONDS))
            # idle_check answers nothing, rather than failing, when the server closed the connection.
            if not responses and self._server_closed():
                raise ImapError("the server closed the connection")
            announced = _announces_mail(responses)
        _text, responses = client.idle_done()
        return announced or _announces_mail(responses)

    def _server_closed(self) -> bool:
        """Whether the server ended the connection: looked at below TLS, without reading anything."""
        side = self._side
        if side is None:
            return True
        try:
            return side.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _logout(self) -> None:
        self._client.logout()

    def _release(self) -> None:
        """Close the connection, whatever state it is in (the last call of the thread)."""
        with self._side_lock:
            side, self._side = self._side, None
        if side is not None:
            side.close()
        if self._client is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self._client.shutdown()

    # --- on the loop --------------------------------------------------------------------------------

    async def uids_after(self, uid: int) -> list[int]:
        """The UIDs in the folder above ``uid``, in order."""
        return await self._call(functools.partial(self._search, uid))

    async def fetch(self, uid: int) -> bytes | None:
        """The message with ``uid`` as the server keeps it, without marking it seen; None when it was
        deleted since it was listed."""
        return await self._call(functools.partial(self._fetch, uid))

    async def wait_for_mail(self, seconds: float) -> bool:
        """IDLE until the server announces a new message (True) or ``seconds`` pass (False)."""
        try:
            return await self._call(functools.partial(self._idle, seconds))
        except BaseException:
            self.abort()
            raise

    async def close(self) -> None:
        """Log out politely, and close the connection whatever the server says."""
        try:
            if not self._closed:
                await self._call(self._logout)
        except (OSError, imaplib.IMAP4.error, ImapError):
            pass
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the connection at once: the socket is shut down, so that a call under way in the
        connection's thread ends, and the thread then closes the connection and ends."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        with self._side_lock:
            if self._side is not None:
                with contextlib.suppress(OSError):
                    self._side.shutdown(socket.SHUT_RDWR)
        self._worker.finish(self._release)


def _duplicate(connected: socket.socket) -> int:
    """A second file descriptor for ``connected`` (which may be a TLS socket, whose ``dup`` refuses)."""
    return os.dup(connected.fileno())


def describe(error: BaseException, account: mailboxes.ImapAccount, timeout: float) -> str:
    """An error while reading a mailbox, as one line for admins."""
    where = f"{account.host}:{account.port}"
    if isinstance(error, ImapError):
        return str(error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the certificate of {where} is not trusted: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed: {error.reason or error}"
    if isinstance(error, TimeoutError):
        return f"{where} did not answer within {timeout:g} seconds"
    if isinstance(error, OSError):
        return f"cannot connect to {where}: {error.strerror or error}"
    if isinstance(error, imaplib.IMAP4.abort):
        return f"the connection to {where} broke: {_words(error)}"
    if isinstance(error, imaplib.IMAP4.error):
        return f"{where} answered in a way the desk cannot follow: {_words(error)}"
    return f"{type(error).__name__}: {error}"
