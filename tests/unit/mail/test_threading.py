"""The headers that keep a ticket's e-mails together: ids, Outlook's Thread-Index, the subject token and
the signed per-ticket reply address."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportdesk.notifications.mail import threading

pytestmark = pytest.mark.unit

STARTED = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def decoded(value: str) -> bytes:
    return base64.b64decode(value)


def test_the_first_message_of_a_conversation_gets_outlooks_header_block() -> None:
    index = decoded(threading.thread_index(threading.root_key(3, 77), STARTED, STARTED))
    assert len(index) == 22
    assert index[0] == 0x01, "the high byte of a FILETIME in this century"


@pytest.mark.parametrize(
    "later",
    [
        pytest.param(timedelta(seconds=1), id="a-second"),
        pytest.param(timedelta(hours=5), id="hours"),
        pytest.param(timedelta(days=400), id="more-than-a-year"),
    ],
)
def test_a_later_message_adds_one_child_block_to_the_same_header(later: timedelta) -> None:
    root = threading.root_key(3, 77)
    first = decoded(threading.thread_index(root, STARTED, STARTED))
    reply = decoded(threading.thread_index(root, STARTED, STARTED + later))
    assert len(reply) == 27
    assert reply[:22] == first, "Outlook groups messages by the header block"


def test_child_blocks_order_as_their_messages_were_sent() -> None:
    root = threading.root_key(3, 77)
    blocks = [
        decoded(threading.thread_index(root, STARTED, STARTED + timedelta(minutes=minutes)))[22:]
        for minutes in (1, 30, 600)
    ]
    assert blocks == sorted(blocks)


def test_every_ticket_is_a_conversation_of_its_own() -> None:
    one = decoded(threading.thread_index(threading.root_key(3, 77), STARTED, STARTED))
    other = decoded(threading.thread_index(threading.root_key(3, 78), STARTED, STARTED))
    assert one != other


def test_a_message_keeps_its_id_across_attempts_and_differs_from_every_other() -> None:
    assert threading.message_key(3, "mail:agent_reply:comment:9") == threading.message_key(
        3, "mail:agent_reply:comment:9"
    )
    assert threading.message_key(3, "mail:agent_reply:comment:9") != threading.message_key(
        3, "mail:agent_reply:comment:10"
    )
    assert threading.message_id("ticket-77.w3", "acme.test") == "<ticket-77.w3@acme.test>"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        pytest.param("Printer on fire", "[#12] Printer on fire", id="added-in-front"),
        pytest.param("Re: [#12] Printer on fire", "Re: [#12] Printer on fire", id="kept-where-it-is"),
        pytest.param("Line one\nline two", "[#12] Line one line two", id="folded-to-one-line"),
        pytest.param("[#1] Other ticket", "[#12] [#1] Other ticket", id="another-tickets-token-is-not-ours"),
    ],
)
def test_the_subject_always_carries_the_ticket_token(subject: str, expected: str) -> None:
    assert threading.with_subject_token(subject, 12) == expected


@given(workspace_id=st.integers(1, 10**12), ticket_id=st.integers(1, 10**15))
def test_a_per_ticket_reply_address_leads_back_to_its_ticket(workspace_id: int, ticket_id: int) -> None:
    address = threading.ticket_reply_address("help@acme.test", KEY, workspace_id, ticket_id)
    assert address.startswith("help+")
    assert address.endswith("@acme.test")
    assert threading.ticket_of_reply_address(address, KEY, workspace_id) == ticket_id
    assert threading.ticket_of_reply_address(address.upper(), KEY, workspace_id) == ticket_id


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("help@acme.test", id="no-ticket-part"),
        pytest.param("help+78.{signature}@acme.test", id="another-ticket-with-this-signature"),
        pytest.param("help+77.00000000@acme.test", id="a-guessed-signature"),
        pytest.param("help+77@acme.test", id="no-signature"),
    ],
)
def test_a_reply_address_that_was_not_ours_names_no_ticket(address: str) -> None:
    ours = threading.ticket_reply_address("help@acme.test", KEY, 3, 77)
    signature = ours.split(".", 1)[1].split("@")[0]
    assert threading.ticket_of_reply_address(address.format(signature=signature), KEY, 3) is None


def test_another_workspaces_key_does_not_open_the_ticket() -> None:
    address = threading.ticket_reply_address("help@acme.test", KEY, 3, 77)
    assert threading.ticket_of_reply_address(address, "another-workspaces-key", 3) is None
    assert threading.ticket_of_reply_address(address, KEY, 4) is None
