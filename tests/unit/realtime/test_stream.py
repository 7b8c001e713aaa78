"""Server-Sent Events as a browser's EventSource reads them: named events with ids and one line of
JSON each, comments that keep an idle connection open, a resync for a browser that reconnects, and an
end after the stream's lifetime so the browser reconnects and is authenticated again."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportdesk.realtime.pubsub import MemoryPubSub
from supportdesk.realtime.stream import StreamTiming, event_stream, event_text

pytestmark = pytest.mark.unit


def _fields(event: str) -> list[tuple[str, str]]:
    assert event.endswith("\n\n")
    return [tuple(line.split(": ", 1)) for line in event[:-2].split("\n")]  # type: ignore[misc]


def test_an_event_is_named_by_its_type_and_carries_the_message_as_json() -> None:
    event = event_text("a1-3", {"type": "ticket", "event": "created", "ticket_id": 7})

    assert _fields(event) == [
        ("id", "a1-3"),
        ("event", "ticket"),
        ("data", '{"type":"ticket","event":"created","ticket_id":7}'),
    ]


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("", id="empty"),
        pytest.param("Ticket", id="capitals"),
        pytest.param("ticket\nevent: presence", id="line-break"),
        pytest.param(7, id="not-text"),
    ],
)
def test_a_type_that_is_no_plain_name_arrives_as_a_plain_message(kind: object) -> None:
    event = event_text("a1-1", {"type": kind})

    assert ("event", "message") in _fields(event)


@given(st.dictionaries(st.text(), st.text() | st.integers() | st.none(), max_size=5))
def test_no_message_can_end_its_event_early_or_add_fields(message: dict[str, object]) -> None:
    event = event_text("a1-1", {"type": "ticket", **message})

    names = [name for name, _ in _fields(event)]
    assert names == ["id", "event", "data"]
    assert json.loads(_fields(event)[2][1]) == {"type": "ticket", **message}


async def _collect(pubsub: MemoryPubSub, timing: StreamTiming, *, reconnected: bool = False) -> list[str]:
    chunks = []
    async with pubsub.subscribe("ws:1:desk") as subscription:
        stream = event_stream(subscription, timing, reconnected=reconnected)
        chunks.append(await anext(stream))
        await pubsub.publish("ws:1:desk", {"type": "ticket", "ticket_id": 1})
        await pubsub.publish("ws:2:desk", {"type": "ticket", "ticket_id": 2})
        await pubsub.publish("ws:1:desk", {"type": "presence", "ticket_id": 1})
        async for chunk in stream:
            chunks.append(chunk)
    return chunks


async def test_a_stream_sends_what_its_channels_hear_in_order_then_ends() -> None:
    timing = StreamTiming(heartbeat=0.05, lifetime=0.3, retry_ms=1500)
    loop = asyncio.get_running_loop()
    started = loop.time()

    chunks = await _collect(MemoryPubSub(), timing)

    assert 0.3 <= loop.time() - started < 2.0
    assert chunks[0] == "retry: 1500\n\n"
    events = [chunk for chunk in chunks if not chunk.startswith(":")]
    assert [json.loads(_fields(event)[2][1])["ticket_id"] for event in events[1:]] == [1, 1]
    assert [_fields(event)[1][1] for event in events[1:]] == ["ticket", "presence"]
    ids = [_fields(event)[0][1] for event in events[1:]]
    assert len(set(ids)) == 2
    assert ids[0].split("-")[0] == ids[1].split("-")[0]
    assert ": still here\n\n" in chunks


async def test_a_browser_that_reconnects_is_told_first_to_read_again() -> None:
    timing = StreamTiming(heartbeat=0.05, lifetime=0.1)

    chunks = await _collect(MemoryPubSub(), timing, reconnected=True)

    first_event = next(chunk for chunk in chunks[1:] if not chunk.startswith(":"))
    assert _fields(first_event)[1:] == [("event", "resync"), ("data", '{"type":"resync"}')]
