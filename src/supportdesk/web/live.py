"""The workspace's live parts (decision 0054): one event stream per open page, and the presence a page
reports while its person views a ticket or writes a reply.

``GET /app/events`` is a Server-Sent Events stream of the caller's workspace: changes to tickets and
comments (pushed by ``tickets.events`` once they commit), the caller's own notifications, and who is
viewing or replying on which ticket. It authenticates like every page, then lets go of its database
session: a stream holds no connection, however long it stays open.

``POST /app/tickets/{id}/presence`` says that the caller views a ticket, is writing a reply on it, or
left it. It is published to the workspace's screens at once and stored nowhere: a page that stops
saying so is forgotten by the others after :data:`PRESENCE_SECONDS`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from supportdesk.auth.dependencies import Context, get_context
from supportdesk.core.errors import InvalidInput
from supportdesk.core.permissions import Action
from supportdesk.realtime.pubsub import PubSub, agent_channel, desk_channel
from supportdesk.realtime.stream import StreamTiming, event_stream
from supportdesk.tickets import service as ticket_service
from supportdesk.web.pages import WEB_PREFIX, PageRoute, checked_form, text, ticket_in_range

PRESENCE_STATES: Final = frozenset({"viewing", "replying", "left"})
# How long a page's word that its person is on a ticket holds; pages repeat it well within this time.
PRESENCE_SECONDS: Final = 45
_STREAM_HEADERS: Final = {
    "Cache-Control": "no-store",
    # nginx would otherwise buffer the stream and hold events back until its buffer fills.
    "X-Accel-Buffering": "no",
}

router = APIRouter(prefix=WEB_PREFIX, include_in_schema=False, route_class=PageRoute)
SignedIn = Annotated[Context, Depends(get_context)]


def _pubsub(request: Request) -> PubSub:
    pubsub: PubSub = request.app.state.pubsub
    return pubsub


@router.get("/events")
async def events(request: Request, context: SignedIn) -> Response:
    """The caller's workspace as it changes, as Server-Sent Events."""
    channels = (desk_channel(context.workspace_id), agent_channel(context.workspace_id, context.user.id))
    # Everything the stream needs is known now; the session's connection goes back to the pool.
    await context.session.close()
    pubsub = _pubsub(request)
    timing: StreamTiming = request.app.state.stream_timing
    reconnected = "last-event-id" in request.headers

    async def body() -> AsyncIterator[str]:
        async with pubsub.subscribe(*channels) as subscription:
            async for chunk in event_stream(subscription, timing, reconnected=reconnected):
                yield chunk

    return StreamingResponse(body(), media_type="text/event-stream", headers=_STREAM_HEADERS)


@router.post("/tickets/{ticket_id:int}/presence")
async def presence(ticket_id: int, request: Request, context: SignedIn) -> Response:
    """Tell the workspace's screens that the caller views ``ticket_id``, replies on it, or left it."""
    ticket_id = ticket_in_range(ticket_id)
    form = await checked_form(request, context.settings)
    state = text(form, "state")
    if state not in PRESENCE_STATES:
        raise InvalidInput("state", f"state must be one of: {', '.join(sorted(PRESENCE_STATES))}")
    # Only someone who may reply can be replying; anyone on the staff may view.
    context.require(Action.comment_ticket if state == "replying" else Action.view_ticket)
    # The ticket must be one of the caller's workspace: another's id is not found, and says nothing.
    ticket = await ticket_service.get_ticket(context.session, ticket_id)
    await context.session.close()
    await _pubsub(request).publish(
        desk_channel(context.workspace_id),
        {
            "type": "presence",
            "ticket_id": ticket.id,
            "user_id": context.user.id,
            "name": context.user.name,
            "state": state,
            "expires_in": PRESENCE_SECONDS,
        },
    )
    return Response(status_code=204, headers={"Cache-Control": "no-store"})
