"""Pushes: live messages to people's open screens, sent once the change they tell of has committed.

A service says what to push while it works (:func:`push_after_commit`); the message leaves only when
the unit of work commits, and a rollback drops it, so nobody is told of a change that did not happen.
Where it goes is the app's business: the :class:`PushOutlet` a database carries (every session made by
it finds it in ``session.info``) hands the pushes to whatever publisher the app plugged in, in memory
or Redis (``realtime/``). A push is a courtesy on top of what is stored (the notification in the inbox):
one lost to a crash is read from the inbox on the next look.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_log = logging.getLogger("supportdesk.pushes")

OUTLET_KEY = "push_outlet"
_PENDING = "pushes_pending"


@dataclass(frozen=True, slots=True)
class Push:
    """One message for one channel (``ws:3:user:12``: one staff member's screens)."""

    channel: str
    message: Mapping[str, Any]


Publisher = Callable[[Sequence[Push]], Coroutine[Any, Any, None]]


class PushOutlet:
    """Where a database's committed pushes go: nowhere until an app plugs its publisher in."""

    def __init__(self) -> None:
        self.publisher: Publisher | None = None
        # Publishing runs beside the request that committed; its tasks are kept until they finish.
        self._sending: set[asyncio.Task[None]] = set()

    def send(self, pushes: Sequence[Push]) -> None:
        publisher = self.publisher
        if publisher is None or not pushes:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous tool's session: there is no screen to tell
            return
        task = loop.create_task(publisher(pushes))
        self._sending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.warning("pushes could not be published: %s", task.exception())

    async def drain(self) -> None:
        """Wait for the pushes being published (tests, and a process that is stopping)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


def push_after_commit(session: AsyncSession | Session, pushes: Sequence[Push]) -> None:
    """Send ``pushes`` when ``session``'s transaction commits; a rollback drops them."""
    info = session.info
    pending: list[Push] = info.setdefault(_PENDING, [])
    pending.extend(pushes)


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    # A savepoint's release fires this too (finding or creating a customer uses one), while the change
    # is still uncommitted; its pushes wait for the transaction's own commit.
    if session.in_nested_transaction():
        return
    pending: list[Push] | None = session.info.pop(_PENDING, None)
    outlet = session.info.get(OUTLET_KEY)
    if pending and isinstance(outlet, PushOutlet):
        outlet.send(pending)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    # A savepoint rolled back undoes only what was done inside it; the pushes of the transaction around
    # it still go out if it commits.
    if session.in_nested_transaction():
        return
    session.info.pop(_PENDING, None)
