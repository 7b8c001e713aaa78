"""Webhooks posted to a real receiver on this machine, which checks each signature as a customer's would."""

from __future__ import annotations

import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

import supportdesk
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent, retry_after
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.webhooks.sending import Endpoint, WebhookClient, post_event
from supportdesk.webhooks.signing import generate_secret
from supportdesk.webhooks.targets import (
    Address,
    Resolver,
    TargetPolicy,
    is_forbidden,
    system_resolver,
)
from tests.fixtures.receiver import Receiver, listening
from tests.fixtures.tls import self_signed_certificate
from tests.integration.deploy.processes import free_port

LOOPBACK_ALLOWED = TargetPolicy(["127.0.0.1"])
NO_EXCEPTIONS = TargetPolicy([])
PAYLOAD = {
    "type": "ticket.created",
    "timestamp": "2026-03-02T09:00:00Z",
    "data": {"id": 42, "subject": "Café"},
}
# Generous enough for loopback on a busy machine; only the timeout test waits on purpose.
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the name ``localhost`` only, and its key."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"), "localhost", ["localhost"])


@pytest.fixture
async def tls_receiver(certificate: tuple[Path, Path]) -> AsyncIterator[Receiver]:
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(*certificate)
    async with listening(Receiver(scheme="https"), tls) as started:
        yield started


def delivery(*, attempt: int = 1, dedupe_key: str = "ticket.created:42") -> Delivery:
    return Delivery(
        message_id=1,
        workspace_id=7,
        channel=DeliveryChannel.webhook,
        target="3",
        dedupe_key=dedupe_key,
        payload=PAYLOAD,
        attempt=attempt,
        created_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )


def now() -> datetime:
    # The receiver checks the signed time against its own clock, so the real time is sent.
    return datetime.now(UTC)


async def send(
    url: str,
    secrets: Sequence[str],
    *,
    policy: TargetPolicy = LOOPBACK_ALLOWED,
    client_timeout: float = TIMEOUT,
    message: Delivery | None = None,
    resolver: Resolver = system_resolver,
    trusting: Path | None = None,
) -> Sent:
    # Trusting the test's own certificate authority when asked, as an installation with its own would.
    tls = None if trusting is None else ssl.create_default_context(cafile=trusting)
    client = WebhookClient(policy, timeout=client_timeout, resolver=resolver, ssl_context=tls)
    try:
        return await post_event(client, Endpoint(url, tuple(secrets)), message or delivery(), now=now())
    finally:
        await client.aclose()


async def test_a_signed_event_is_accepted_by_a_receiver_that_verifies_it(receiver: Receiver) -> None:
    secret = generate_secret()
    receiver.known_secrets = [secret]

    sent = await send(receiver.url("/accept"), [secret])

    assert sent == Sent(provider="webhook", provider_message_id=sent.provider_message_id, status_code=204)
    assert receiver.verified == [PAYLOAD]
    [request] = receiver.requests
    assert request.body == json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False).encode()
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"supportdesk-webhooks/{supportdesk.__version__}"
    assert request.headers["webhook-id"] == sent.provider_message_id


async def test_every_attempt_carries_the_same_message_id_so_receivers_can_drop_repeats(
    receiver: Receiver,
) -> None:
    secret = generate_secret()
    receiver.known_secrets = [secret]

    await send(receiver.url("/accept"), [secret], message=delivery(attempt=1))
    await send(receiver.url("/accept"), [secret], message=delivery(attempt=2))
    await send(receiver.url("/accept"), [secret], message=delivery(dedupe_key="ticket.created:43"))

    first, retry, other = (request.headers["webhook-id"] for request in receiver.requests)
    assert first == retry
    assert other != first
    assert first.startswith("msg_")


@pytest.mark.parametrize(
    "receiver_knows", ["retiring", "new"], ids=["receiver-has-old-secret", "receiver-has-new"]
)
async def test_while_a_secret_is_rotated_receivers_with_either_secret_accept(
    receiver: Receiver, receiver_knows: str
) -> None:
    secrets = {"new": generate_secret(), "retiring": generate_secret()}
    receiver.known_secrets = [secrets[receiver_knows]]

    sent = await send(receiver.url("/accept"), [secrets["new"], secrets["retiring"]])

    assert sent.status_code == 204
    assert receiver.verified == [PAYLOAD]


async def test_a_receiver_with_another_secret_refuses_and_the_message_is_retried_later(
    receiver: Receiver,
) -> None:
    receiver.known_secrets = [generate_secret()]

    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/accept"), [generate_secret()])

    assert failed.value.status_code == 401
    assert not failed.value.permanent
    assert receiver.verified == []


async def test_an_endpoint_that_is_gone_fails_for_good_and_asks_to_be_switched_off(
    receiver: Receiver,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/gone"), [generate_secret()])

    assert failed.value.permanent
    assert failed.value.gone
    assert failed.value.status_code == 410
    assert failed.value.reason == f"HTTP 410 from {receiver.url('/gone')}: this endpoint was removed"


async def test_a_busy_receiver_is_retried_when_it_asks(receiver: Receiver) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/busy"), [generate_secret()])

    assert not failed.value.permanent
    assert failed.value.status_code == 503
    assert failed.value.retry_after == timedelta(seconds=120)
    assert failed.value.provider == "webhook"


async def test_a_server_error_is_retried_and_its_long_page_is_cut_to_one_short_line(
    receiver: Receiver,
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/broken?token=s3cret"), [generate_secret()])

    reason = failed.value.reason
    assert not failed.value.permanent
    assert failed.value.status_code == 500
    assert failed.value.retry_after is None
    assert reason.startswith(f"HTTP 500 from {receiver.url('/broken')}: <html> <body> Internal error")
    assert "\n" not in reason
    assert len(reason) < 300
    assert "s3cret" not in reason


async def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    secret = generate_secret()
    receiver.known_secrets = [secret]

    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/moved"), [secret])

    assert failed.value.status_code == 302
    assert not failed.value.permanent
    assert [request.path for request in receiver.requests] == ["/moved"]


async def test_a_receiver_that_does_not_answer_in_time_is_retried(receiver: Receiver) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/slow"), [generate_secret()], client_timeout=0.05)

    assert not failed.value.permanent
    assert failed.value.reason == f"timed out after 0.05 s waiting for {receiver.url('/slow')} to answer"


async def test_a_refused_connection_is_retried() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks"

    with pytest.raises(DeliveryFailed) as failed:
        await send(url, [generate_secret()])

    assert not failed.value.permanent
    assert failed.value.status_code is None
    assert failed.value.reason.startswith(f"could not connect to {url}")


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("127.0.0.1", id="address"),
        pytest.param("localhost", id="name-resolving-to-loopback"),
        pytest.param("2130706433", id="loopback-written-as-one-number"),
    ],
)
async def test_the_local_machine_is_refused_for_good_unless_allowed(receiver: Receiver, host: str) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send(receiver.url("/accept", host=host), [generate_secret()], policy=NO_EXCEPTIONS)

    assert failed.value.permanent
    assert "is not a public address and is not allowed by configuration" in failed.value.reason
    assert receiver.requests == []


async def test_a_name_resolving_to_the_local_machine_is_reached_when_the_policy_lists_it(
    receiver: Receiver,
) -> None:
    secret = generate_secret()
    receiver.known_secrets = [secret]

    sent = await send(receiver.url("/accept", host="localhost"), [secret], policy=TargetPolicy(["localhost"]))

    assert sent.status_code == 204
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


class RebindingResolver:
    """A hostile DNS: a public address for the first lookup, the local machine for every later one."""

    def __init__(self) -> None:
        self.lookups = 0

    async def __call__(self, host: str, port: int) -> list[Address]:
        self.lookups += 1
        return [ipaddress.ip_address("93.184.215.14" if self.lookups == 1 else "127.0.0.1")]


async def test_a_name_that_turns_internal_after_being_checked_is_refused_when_connecting(
    receiver: Receiver,
) -> None:
    resolver = RebindingResolver()
    url = receiver.url("/accept", host="hooks.attacker.example")
    # What an earlier check of the name (when the URL was saved, say) was told.
    [first_answer] = await resolver("hooks.attacker.example", receiver.port)
    assert not is_forbidden(first_answer)

    with pytest.raises(DeliveryFailed) as failed:
        await send(url, [generate_secret()], policy=NO_EXCEPTIONS, resolver=resolver)

    assert failed.value.permanent
    assert "hooks.attacker.example (127.0.0.1) is not a public address" in failed.value.reason
    assert receiver.requests == []


async def test_the_connection_goes_to_the_address_checked_without_a_second_lookup(receiver: Receiver) -> None:
    # The second answer would be refused, so delivery succeeds only if the name is looked up once.
    class OnceLoopbackThenPrivate:
        lookups = 0

        async def __call__(self, host: str, port: int) -> list[Address]:
            self.lookups += 1
            return [ipaddress.ip_address("127.0.0.1" if self.lookups == 1 else "10.9.9.9")]

    resolver = OnceLoopbackThenPrivate()
    secret = generate_secret()
    receiver.known_secrets = [secret]

    sent = await send(receiver.url("/accept", host="hooks.example"), [secret], resolver=resolver)

    assert sent.status_code == 204
    assert resolver.lookups == 1


async def test_when_one_checked_address_refuses_the_next_one_is_tried(receiver: Receiver) -> None:
    # The receiver listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection.
    async def first_unreachable(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]

    secret = generate_secret()
    receiver.known_secrets = [secret]

    sent = await send(
        receiver.url("/accept", host="hooks.example"),
        [secret],
        policy=TargetPolicy(["127.0.0.0/8"]),
        resolver=first_unreachable,
    )

    assert sent.status_code == 204
    assert receiver.verified == [PAYLOAD]


def resolving_to_loopback(*names: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[Address]:
        assert host in names, f"unexpected lookup of {host}"
        return [ipaddress.ip_address("127.0.0.1")]

    return resolve


async def test_tls_is_checked_against_the_url_host_name_though_the_socket_goes_to_the_checked_address(
    tls_receiver: Receiver, certificate: tuple[Path, Path]
) -> None:
    secret = generate_secret()
    tls_receiver.known_secrets = [secret]

    sent = await send(
        tls_receiver.url("/accept", host="localhost"),
        [secret],
        resolver=resolving_to_loopback("localhost"),
        trusting=certificate[0],
    )

    assert sent.status_code == 204
    assert tls_receiver.verified == [PAYLOAD]


async def test_a_certificate_for_another_name_is_refused_and_retried_later(
    tls_receiver: Receiver, certificate: tuple[Path, Path]
) -> None:
    with pytest.raises(DeliveryFailed) as failed:
        await send(
            tls_receiver.url("/accept", host="hooks.example"),
            [generate_secret()],
            resolver=resolving_to_loopback("hooks.example"),
            trusting=certificate[0],
        )

    assert not failed.value.permanent
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason
    assert tls_receiver.requests == []


SENT_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        pytest.param("120", timedelta(seconds=120), id="seconds"),
        pytest.param(" 0 ", timedelta(0), id="zero-with-spaces"),
        pytest.param(
            format_datetime(SENT_AT + timedelta(minutes=5), usegmt=True), timedelta(minutes=5), id="date"
        ),
        pytest.param("Mon, 02 Mar 2026 08:00:00 GMT", timedelta(0), id="date-in-the-past-means-now"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("-5", None, id="negative"),
        pytest.param("1.5", None, id="fraction"),
        pytest.param("9" * 40, None, id="absurdly-large"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_the_receivers_retry_after_is_read_relative_to_the_send_time(
    header: str | None, wait: timedelta | None
) -> None:
    assert retry_after(header, SENT_AT) == wait
