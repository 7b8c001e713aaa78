"""A factory for arrived e-mails, stored as the intake keeps them (their bytes are never read)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from supportdesk.channels.email.models import InboundMessage, InboundSource
from supportdesk.core.clock import FrozenClock
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.workspaces.models import Workspace

InboundMessageFactory = Callable[..., Awaitable[InboundMessage]]


@pytest.fixture
def inbound_message_factory(
    database: Database, clock: FrozenClock, workspace: Workspace
) -> InboundMessageFactory:
    """Keep a message in ``workspace`` (the test's by default) as it arrived over SMTP, with any other
    column a test names (``state``, ``subject``, ``mailbox_id``, ...)."""

    async def make(*, workspace: Workspace = workspace, **columns: Any) -> InboundMessage:
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            message = InboundMessage(
                workspace_id=workspace.id,
                **{
                    "source": InboundSource.smtp,
                    "raw_sha256": "0" * 64,
                    "raw_size": 5,
                    "received_at": clock.now(),
                    **columns,
                },
            )
            session.add(message)
            await session.flush()
            return message

    return make
