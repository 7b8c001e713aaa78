"""CRM look-ups against the CRMs' APIs at the HTTP boundary (respx): what each adapter sends and how it
reads the answer, which failures are tried again, the circuit breaker, and the cache, in memory and on a
real Redis server that two look-ups share as two processes would.

stamina's test mode takes the waits out of the retries; the breaker's notion of time (``time.time``) is
moved with time-machine, and the cache's freshness follows the test's frozen clock.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import stamina
from cashews import Cache
from cashews.exceptions import CacheBackendInteractionError
from prometheus_client import CollectorRegistry
from purgatory import AsyncCircuitBreakerFactory
from pydantic import SecretStr
from time_machine import TimeMachineFixture

from supportdesk.core.clock import FrozenClock
from supportdesk.integrations.crm import (
    ATTEMPTS,
    HUBSPOT_URL,
    STALE_SECONDS,
    CrmClient,
    CrmLookup,
    CrmProfile,
    CrmUnavailable,
    HubSpotCrmClient,
    JsonCrmClient,
    build_crm_client,
    build_crm_lookup,
    crm_cache,
)
from supportdesk.people.models import Tier
from tests.fixtures.clock import FROZEN_AT
from tests.fixtures.database import make_settings
from tests.fixtures.services import service_missing

JSON_URL = "https://crm.example.test/api"
JSON_CUSTOMERS = f"{JSON_URL}/customers"
HUBSPOT_SEARCH = f"{HUBSPOT_URL}/crm/v3/objects/contacts/search"
TOKEN = "crm-token-not-real"
KIM = "kim@acme.example"
KIM_PROFILE = CrmProfile(tier=Tier.premium, plan="Gold", account_manager="Ana Ortiz", crm_id="c-17")
REDIS_URL = os.environ.get("SUPPORTDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class Api:
    """One CRM's API as the tests drive it: where a look-up goes, and how the CRM words a customer."""

    method: str
    url: str
    client: Callable[[], CrmClient]
    found: Callable[..., dict[str, Any]]

    def route(self, router: respx.MockRouter) -> respx.Route:
        return router.route(method=self.method, url=self.url)


def _json_customer(**fields: Any) -> dict[str, Any]:
    return {"tier": "premium", "plan": "Gold", "account_manager": "Ana Ortiz", "id": "c-17", **fields}


def _hubspot_contact(**fields: Any) -> dict[str, Any]:
    properties = {"support_tier": "premium", "support_plan": "Gold", "account_manager": "Ana Ortiz"}
    names = {"tier": "support_tier", "plan": "support_plan", "account_manager": "account_manager"}
    properties.update({names[name]: value for name, value in fields.items() if name != "id"})
    return {"total": 1, "results": [{"id": fields.get("id", "c-17"), "properties": properties}]}


JSON_API = Api("GET", JSON_CUSTOMERS, lambda: JsonCrmClient(JSON_URL, TOKEN, timeout=1), _json_customer)
HUBSPOT_API = Api("POST", HUBSPOT_SEARCH, lambda: HubSpotCrmClient(TOKEN, timeout=1), _hubspot_contact)
BOTH_APIS = [pytest.param(JSON_API, id="json"), pytest.param(HUBSPOT_API, id="hubspot")]

LookupFactory = Callable[..., CrmLookup]


@pytest.fixture(autouse=True)
def no_waiting_between_attempts() -> Iterator[None]:
    """No backoff between attempts. ``cap`` keeps the adapters' own number of attempts (the smaller of
    theirs and this one), which the tests count."""
    with stamina.set_testing(True, attempts=ATTEMPTS + 10, cap=True):
        yield


@pytest.fixture
def crm() -> Iterator[respx.MockRouter]:
    """The CRMs' side of HTTP; a request that no route matches fails the test."""
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture(params=BOTH_APIS)
def api(request: pytest.FixtureRequest) -> Api:
    value: Api = request.param
    return value


@pytest.fixture
async def client(api: Api) -> AsyncIterator[CrmClient]:
    client = api.client()
    yield client
    await client.aclose()


@pytest.fixture
async def lookups(clock: FrozenClock) -> AsyncIterator[LookupFactory]:
    """Make a look-up on the JSON API, with a breaker and an in-memory cache of its own."""
    made: list[CrmLookup] = []

    def make(
        *, threshold: int = 5, ttl: float = 30, fresh_seconds: float = 3600, cache: Cache | None = None
    ) -> CrmLookup:
        lookup = CrmLookup(
            JSON_API.client(),
            AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=ttl),
            cache or crm_cache("mem://"),
            clock=clock,
            fresh_seconds=fresh_seconds,
        )
        made.append(lookup)
        return lookup

    yield make
    for lookup in made:
        await lookup.aclose()


def counted(lookup: CrmLookup, counter: str) -> float:
    """The value of the counter ``supportdesk_crm_<counter>_total`` in the look-up's registry."""
    return lookup.registry.get_sample_value(f"supportdesk_crm_{counter}_total") or 0.0


class TestJsonAdapter:
    async def test_asks_for_the_address_with_the_token_and_reads_the_customer(
        self, crm: respx.MockRouter
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer(id=4711))
        client = JsonCrmClient(f"{JSON_URL}/", TOKEN, timeout=1)

        profile = await client.lookup("kim+billing@acme.example")
        await client.aclose()

        request = route.calls.last.request
        assert request.method == "GET"
        assert request.url.path == "/api/customers"
        assert request.url.params["email"] == "kim+billing@acme.example"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["user-agent"].startswith("supportdesk/")
        assert profile == CrmProfile(Tier.premium, plan="Gold", account_manager="Ana Ortiz", crm_id="4711")

    async def test_a_404_is_an_address_the_crm_does_not_know(self, crm: respx.MockRouter) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(404, json={"error": "no such customer"})
        client = JsonCrmClient(JSON_URL, TOKEN, timeout=1)

        assert await client.lookup(KIM) is None
        await client.aclose()
        assert route.call_count == 1

    @pytest.mark.parametrize(
        "customer",
        [
            pytest.param({"tier": "basic"}, id="left-out"),
            pytest.param(
                {"tier": "basic", "plan": 7, "account_manager": [], "id": True}, id="of-another-type"
            ),
        ],
    )
    async def test_fields_left_out_or_of_another_type_are_none(
        self, crm: respx.MockRouter, customer: dict[str, Any]
    ) -> None:
        crm.get(JSON_CUSTOMERS).respond(200, json=customer)
        client = JsonCrmClient(JSON_URL, TOKEN, timeout=1)

        assert await client.lookup(KIM) == CrmProfile(Tier.basic, None, None, None)
        await client.aclose()


class TestHubSpotAdapter:
    async def test_searches_contacts_by_email_asking_for_the_support_properties(
        self, crm: respx.MockRouter
    ) -> None:
        route = crm.post(HUBSPOT_SEARCH).respond(200, json=_hubspot_contact(id="501"))
        client = HubSpotCrmClient(TOKEN, timeout=1)

        profile = await client.lookup(KIM)
        await client.aclose()

        request = route.calls.last.request
        assert request.url == HUBSPOT_SEARCH
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["content-type"] == "application/json"
        assert httpx.Response(200, content=request.content).json() == {
            "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": KIM}]}],
            "properties": ["support_tier", "support_plan", "account_manager"],
            "limit": 1,
        }
        assert profile == CrmProfile(Tier.premium, plan="Gold", account_manager="Ana Ortiz", crm_id="501")

    async def test_no_contact_found_is_an_address_hubspot_does_not_know(self, crm: respx.MockRouter) -> None:
        crm.post(HUBSPOT_SEARCH).respond(200, json={"total": 0, "results": []})
        client = HubSpotCrmClient(TOKEN, timeout=1)

        assert await client.lookup(KIM) is None
        await client.aclose()

    @pytest.mark.parametrize(
        "contact",
        [
            # HubSpot sends a property that was never given a value as null or "".
            pytest.param({"id": "502", "properties": {"support_tier": None, "support_plan": ""}}, id="empty"),
            pytest.param({"id": "502"}, id="no-properties"),
        ],
    )
    async def test_properties_never_set_are_none(
        self, crm: respx.MockRouter, contact: dict[str, Any]
    ) -> None:
        crm.post(HUBSPOT_SEARCH).respond(200, json={"results": [contact]})
        client = HubSpotCrmClient(TOKEN, timeout=1)

        assert await client.lookup(KIM) == CrmProfile(None, None, None, "502")
        await client.aclose()

    async def test_an_answer_without_results_is_not_the_expected_json(self, crm: respx.MockRouter) -> None:
        crm.post(HUBSPOT_SEARCH).respond(200, json={"status": "ok"})
        client = HubSpotCrmClient(TOKEN, timeout=1)

        with pytest.raises(CrmUnavailable, match="without a list of results"):
            await client.lookup(KIM)
        await client.aclose()


class TestBothAdapters:
    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("platinum", id="a-tier-we-do-not-offer"),
            pytest.param("", id="empty"),
            pytest.param(None, id="null"),
            pytest.param(3, id="a-number"),
        ],
    )
    async def test_an_unknown_tier_value_is_no_tier(
        self, crm: respx.MockRouter, api: Api, client: CrmClient, value: object
    ) -> None:
        api.route(crm).respond(200, json=api.found(tier=value))

        profile = await client.lookup(KIM)

        assert profile is not None
        assert profile.tier is None
        assert (profile.plan, profile.account_manager) == ("Gold", "Ana Ortiz")

    async def test_a_tier_is_read_whatever_its_case(
        self, crm: respx.MockRouter, api: Api, client: CrmClient
    ) -> None:
        api.route(crm).respond(200, json=api.found(tier=" Enterprise"))

        profile = await client.lookup(KIM)

        assert profile is not None
        assert profile.tier is Tier.enterprise

    @pytest.mark.parametrize(
        ("answer", "wording"),
        [
            pytest.param(httpx.Response(200, text="<html>Maintenance</html>"), "not JSON", id="an-html-page"),
            pytest.param(httpx.Response(200, text='{"tier": "pre'), "not JSON", id="cut-short"),
            pytest.param(httpx.Response(200, json=["premium"]), "not an object", id="a-json-list"),
            pytest.param(httpx.Response(200, text="x" * 70_000), "more than 64 KiB", id="too-large"),
            pytest.param(
                httpx.Response(
                    200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip")
                ),
                "unreadable answer",
                id="broken-compression",
            ),
        ],
    )
    async def test_an_answer_that_is_not_the_expected_json_is_unavailable_at_once(
        self, crm: respx.MockRouter, api: Api, client: CrmClient, answer: httpx.Response, wording: str
    ) -> None:
        route = api.route(crm).mock(return_value=answer)

        with pytest.raises(CrmUnavailable, match=wording):
            await client.lookup(KIM)
        assert route.call_count == 1

    @pytest.mark.parametrize(
        ("failure", "wording"),
        [
            pytest.param(httpx.ConnectError("connection refused"), "could not reach", id="refused"),
            pytest.param(httpx.ConnectTimeout("slow"), "timed out after 1 s", id="connect-timeout"),
            pytest.param(httpx.ReadTimeout("slow"), "timed out after 1 s", id="read-timeout"),
            pytest.param(httpx.Response(500, text="internal error"), "HTTP 500: internal error", id="500"),
            pytest.param(httpx.Response(503), "HTTP 503", id="503"),
            pytest.param(httpx.Response(429), "throttling", id="429"),
        ],
    )
    async def test_passing_trouble_is_tried_three_times_in_all(
        self,
        crm: respx.MockRouter,
        api: Api,
        client: CrmClient,
        failure: Exception | httpx.Response,
        wording: str,
    ) -> None:
        route = api.route(crm).mock(side_effect=[failure] * ATTEMPTS)

        with pytest.raises(CrmUnavailable, match=wording) as raised:
            await client.lookup(KIM)

        assert route.call_count == ATTEMPTS == 3
        assert "\n" not in str(raised.value)

    async def test_throttling_then_an_answer_is_the_answer(
        self, crm: respx.MockRouter, api: Api, client: CrmClient
    ) -> None:
        route = api.route(crm).mock(side_effect=[httpx.Response(429), httpx.Response(200, json=api.found())])

        assert await client.lookup(KIM) == KIM_PROFILE
        assert route.call_count == 2

    @pytest.mark.parametrize("status", [pytest.param(401, id="401"), pytest.param(403, id="403")])
    async def test_refused_credentials_are_unavailable_after_one_call(
        self, crm: respx.MockRouter, api: Api, client: CrmClient, status: int
    ) -> None:
        route = api.route(crm).respond(status, json={"message": "token expired"})

        with pytest.raises(CrmUnavailable) as raised:
            await client.lookup(KIM)

        assert route.call_count == 1
        assert f"refused our credentials (HTTP {status})" in raised.value.reason
        assert "SUPPORTDESK_CRM_TOKEN" in raised.value.reason
        assert TOKEN not in raised.value.reason

    @pytest.mark.parametrize(
        "status", [pytest.param(400, id="400"), pytest.param(422, id="422"), pytest.param(302, id="redirect")]
    )
    async def test_other_refusals_are_not_tried_again(
        self, crm: respx.MockRouter, api: Api, client: CrmClient, status: int
    ) -> None:
        route = api.route(crm).respond(status, headers={"location": "https://elsewhere.example/"})

        with pytest.raises(CrmUnavailable, match=f"unexpected HTTP {status}"):
            await client.lookup(KIM)
        assert route.call_count == 1

    async def test_two_failures_then_an_answer_is_a_fresh_answer_after_three_calls(
        self, crm: respx.MockRouter, api: Api, clock: FrozenClock
    ) -> None:
        route = api.route(crm).mock(
            side_effect=[httpx.Response(503), httpx.Response(502), httpx.Response(200, json=api.found())]
        )
        lookup = CrmLookup(api.client(), AsyncCircuitBreakerFactory(), crm_cache("mem://"), clock=clock)

        answer = await lookup.profile(KIM)
        await lookup.aclose()

        assert (answer.source, answer.profile, answer.checked_at) == ("fresh", KIM_PROFILE, clock.now())
        assert route.call_count == 3
        assert (counted(lookup, "calls"), counted(lookup, "failures")) == (1, 0)


class TestCircuitBreaker:
    async def test_it_opens_after_the_threshold_and_then_the_crm_is_not_called(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(503)
        lookup = lookups(threshold=2)

        first = await lookup.profile(KIM)
        second = await lookup.profile("lee@acme.example")
        calls_before = route.call_count
        refused = await lookup.profile("max@acme.example")

        assert (first.source, second.source) == ("unavailable", "unavailable")
        assert calls_before == 2 * ATTEMPTS
        assert route.call_count == calls_before
        assert refused.source == "unavailable"
        assert refused.reason == "the CRM is not being asked for 30 s after 2 failed look-ups in a row"
        assert counted(lookup, "calls") == 2
        assert counted(lookup, "failures") == 2
        assert counted(lookup, "breaker_rejections") == 1

    async def test_it_closes_again_after_its_ttl(
        self, crm: respx.MockRouter, lookups: LookupFactory, time_machine: TimeMachineFixture
    ) -> None:
        time_machine.move_to(FROZEN_AT, tick=False)
        route = crm.get(JSON_CUSTOMERS).mock(
            side_effect=[httpx.Response(503)] * ATTEMPTS + [httpx.Response(200, json=_json_customer())] * 2
        )
        lookup = lookups(threshold=1, ttl=30)

        assert (await lookup.profile(KIM)).source == "unavailable"
        time_machine.shift(29)
        still_open = await lookup.profile(KIM)
        calls_while_open = route.call_count
        time_machine.shift(2)
        after_ttl = await lookup.profile(KIM)
        # Closed again, not merely half-open: the next look-up goes through as well.
        following = await lookup.profile("lee@acme.example")

        assert (still_open.source, calls_while_open) == ("unavailable", ATTEMPTS)
        assert (after_ttl.source, after_ttl.profile) == ("fresh", KIM_PROFILE)
        assert following.source == "fresh"
        assert route.call_count == ATTEMPTS + 2

    async def test_an_unknown_address_is_not_a_failure(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(404)
        lookup = lookups(threshold=1)

        answers = [await lookup.profile(f"nobody-{number}@acme.example") for number in range(3)]

        assert [(answer.source, answer.profile) for answer in answers] == [("fresh", None)] * 3
        assert route.call_count == 3
        assert counted(lookup, "failures") == 0

    async def test_refused_credentials_count_once_per_lookup(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(401)
        lookup = lookups(threshold=2)

        answers = [await lookup.profile(KIM) for _ in range(3)]

        assert route.call_count == 2
        assert [answer.source for answer in answers] == ["unavailable"] * 3
        assert answers[2].reason is not None
        assert "failed look-ups in a row" in answers[2].reason


class TestCache:
    async def test_a_second_lookup_is_answered_from_the_cache(
        self, crm: respx.MockRouter, lookups: LookupFactory, clock: FrozenClock
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        lookup = lookups()
        asked_at = clock.now()

        first = await lookup.profile(KIM)
        clock.advance(timedelta(minutes=10))
        second = await lookup.profile(KIM)

        assert (first.source, first.profile, first.checked_at) == ("fresh", KIM_PROFILE, asked_at)
        assert (second.source, second.profile, second.checked_at) == ("cached", KIM_PROFILE, asked_at)
        assert second.reason is None
        assert route.call_count == 1
        assert (counted(lookup, "cache_hits"), counted(lookup, "cache_misses")) == (1, 1)
        assert counted(lookup, "calls") == 1

    async def test_an_unknown_address_is_remembered_too(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(404)
        lookup = lookups()

        first = await lookup.profile(KIM)
        second = await lookup.profile(KIM)

        assert (first.source, first.profile) == ("fresh", None)
        assert (second.source, second.profile) == ("cached", None)
        assert route.call_count == 1

    async def test_after_its_ttl_an_answer_is_fetched_again(
        self, crm: respx.MockRouter, lookups: LookupFactory, clock: FrozenClock
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).mock(
            side_effect=[
                httpx.Response(200, json=_json_customer()),
                httpx.Response(200, json=_json_customer(tier="enterprise")),
            ]
        )
        lookup = lookups(fresh_seconds=600)

        await lookup.profile(KIM)
        clock.advance(timedelta(seconds=599))
        last_cached = await lookup.profile(KIM)
        clock.advance(timedelta(seconds=1))
        refetched = await lookup.profile(KIM)
        again = await lookup.profile(KIM)

        assert last_cached.source == "cached"
        assert (refetched.source, refetched.checked_at) == ("fresh", clock.now())
        assert refetched.profile is not None
        assert refetched.profile.tier is Tier.enterprise
        assert (again.source, again.profile) == ("cached", refetched.profile)
        assert route.call_count == 2

    async def test_while_the_crm_is_down_the_last_answer_is_served_stale(
        self, crm: respx.MockRouter, lookups: LookupFactory, clock: FrozenClock
    ) -> None:
        crm.get(JSON_CUSTOMERS).mock(
            side_effect=[httpx.Response(200, json=_json_customer())] + [httpx.Response(503)] * (2 * ATTEMPTS)
        )
        lookup = lookups(fresh_seconds=3600)
        asked_at = clock.now()
        await lookup.profile(KIM)

        clock.advance(timedelta(hours=2))
        stale = await lookup.profile(KIM)
        clock.advance(timedelta(seconds=STALE_SECONDS) - timedelta(hours=2))
        forgotten = await lookup.profile(KIM)

        assert (stale.source, stale.profile, stale.checked_at) == ("stale", KIM_PROFILE, asked_at)
        assert stale.reason == "the CRM failed with HTTP 503"
        # Kept for seven days from when the CRM gave it, and no longer.
        assert (forgotten.source, forgotten.profile, forgotten.checked_at) == ("unavailable", None, None)

    async def test_down_with_nothing_known_is_unavailable(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        crm.get(JSON_CUSTOMERS).mock(side_effect=httpx.ConnectError("connection refused"))
        lookup = lookups()

        answer = await lookup.profile(KIM)

        assert (answer.source, answer.profile, answer.checked_at) == ("unavailable", None, None)
        assert answer.reason == "could not reach the CRM: connection refused"
        assert (counted(lookup, "cache_misses"), counted(lookup, "failures")) == (1, 1)

    async def test_addresses_are_compared_without_regard_to_case(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        lookup = lookups()

        first = await lookup.profile("Kim@ACME.example")
        second = await lookup.profile(" kim@acme.EXAMPLE ")

        assert (first.source, second.source) == ("fresh", "cached")
        assert route.call_count == 1
        assert route.calls.last.request.url.params["email"] == KIM

    async def test_two_lookups_do_not_share_entries(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        one, other = lookups(), lookups()

        assert (await one.profile(KIM)).source == "fresh"
        assert (await other.profile(KIM)).source == "fresh"
        assert route.call_count == 2

    @pytest.mark.parametrize(
        "entry",
        [
            pytest.param({"checked_at": "yesterday", "profile": None}, id="not-a-time"),
            pytest.param({"checked_at": 1772442000, "profile": None}, id="a-number-for-a-time"),
            pytest.param({"checked_at": FROZEN_AT.isoformat(), "profile": "premium"}, id="not-a-profile"),
            pytest.param("premium", id="not-an-object"),
        ],
    )
    async def test_an_entry_in_another_form_is_taken_for_missing(
        self, crm: respx.MockRouter, lookups: LookupFactory, entry: object
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        cache = crm_cache("mem://")
        await cache.set(f"supportdesk:crm:json:{KIM}", entry)
        lookup = lookups(cache=cache)

        answer = await lookup.profile(KIM)

        assert (answer.source, answer.profile) == ("fresh", KIM_PROFILE)
        assert route.call_count == 1

    async def test_an_entry_that_cannot_be_decoded_is_taken_for_missing(
        self, crm: respx.MockRouter, lookups: LookupFactory
    ) -> None:
        crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        cache = crm_cache("mem://")
        await cache.set_raw(f"supportdesk:crm:json:{KIM}", b"\x80\x04 a pickle, say")
        lookup = lookups(cache=cache)

        assert (await lookup.profile(KIM)).source == "fresh"
        assert (await lookup.profile(KIM)).source == "cached"

    @pytest.mark.parametrize(
        "url",
        [
            pytest.param("redis://127.0.0.1:1/0", id="cashews-keeps-quiet"),
            pytest.param("redis://127.0.0.1:1/0?suppress=false", id="cashews-raises"),
        ],
    )
    async def test_an_unreachable_cache_costs_only_the_caching(
        self, crm: respx.MockRouter, lookups: LookupFactory, url: str
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        lookup = lookups(cache=crm_cache(url))

        answers = [await lookup.profile(KIM) for _ in range(2)]

        assert [(answer.source, answer.profile) for answer in answers] == [("fresh", KIM_PROFILE)] * 2
        assert route.call_count == 2

    async def test_the_fresh_time_may_not_outlast_the_stale_window(self) -> None:
        client = JSON_API.client()

        with pytest.raises(ValueError, match="fresh_seconds <= stale_seconds"):
            CrmLookup(client, AsyncCircuitBreakerFactory(), Cache(), fresh_seconds=60, stale_seconds=30)
        await client.aclose()

    async def test_a_blank_address_is_a_mistake_of_the_caller(self, lookups: LookupFactory) -> None:
        with pytest.raises(ValueError, match="address"):
            await lookups().profile("  ")


class TestSharedOnRedis:
    @pytest.fixture
    async def redis(self) -> AsyncIterator[Cache]:
        """A third view of the test Redis server, to look at and clean up what the look-ups stored;
        skipped without a server, except in CI, which must have one."""
        cache = crm_cache(REDIS_URL)
        try:
            await cache.ping()
        except CacheBackendInteractionError:
            await cache.close()
            service_missing(f"Redis is not reachable at {REDIS_URL}")
        yield cache
        await cache.close()

    @pytest.fixture
    async def redis_prefix(self, redis: Cache) -> AsyncIterator[str]:
        """A queue name of this test's own, which starts every key; the keys are deleted afterwards."""
        name = f"supportdesk-test-{uuid.uuid4().hex}"
        yield name
        await redis.delete_match(f"{name}:*")

    async def test_a_second_process_reads_the_answer_the_first_cached(
        self, crm: respx.MockRouter, clock: FrozenClock, redis: Cache, redis_prefix: str
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(200, json=_json_customer())
        settings = make_settings(
            crm_kind="json",
            crm_url=JSON_URL,
            crm_token=TOKEN,
            crm_cache_url=REDIS_URL,
            queue_name=redis_prefix,
        )
        first, second = build_crm_lookup(settings, clock), build_crm_lookup(settings, clock)
        assert first is not None
        assert second is not None

        fetched = await first.profile(KIM)
        shared = await second.profile(KIM.upper())
        stored = [key async for key in redis.scan(f"{redis_prefix}:*")]
        await first.aclose()
        await second.aclose()

        assert (fetched.source, shared.source) == ("fresh", "cached")
        assert (shared.profile, shared.checked_at) == (KIM_PROFILE, fetched.checked_at)
        assert route.call_count == 1
        assert stored == [f"{redis_prefix}:crm:json:{KIM}"]


class TestBuiltFromSettings:
    def test_no_crm_is_no_lookup(self, clock: FrozenClock) -> None:
        assert build_crm_lookup(make_settings(), clock) is None

    async def test_a_json_crm_uses_its_url_token_and_breaker_settings(
        self, crm: respx.MockRouter, clock: FrozenClock
    ) -> None:
        route = crm.get(JSON_CUSTOMERS).respond(503)
        registry = CollectorRegistry()
        settings = make_settings(crm_kind="json", crm_url=JSON_URL, crm_token=TOKEN, crm_breaker_threshold=1)
        lookup = build_crm_lookup(settings, clock, registry=registry)
        assert lookup is not None

        await lookup.profile(KIM)
        refused = await lookup.profile(KIM)
        await lookup.aclose()

        assert isinstance(lookup.client, JsonCrmClient)
        assert repr(lookup) == f"CrmLookup(client=JsonCrmClient(name='json', base_url='{JSON_URL}/'))"
        assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
        assert route.call_count == ATTEMPTS
        assert refused.reason == "the CRM is not being asked for 30 s after 1 failed look-ups in a row"
        assert registry.get_sample_value("supportdesk_crm_breaker_rejections_total") == 1

    async def test_hubspot_goes_to_hubspots_api_unless_told_otherwise(
        self, crm: respx.MockRouter, clock: FrozenClock
    ) -> None:
        default = crm.post(HUBSPOT_SEARCH).respond(200, json={"results": []})
        proxied = crm.post("https://hubspot-proxy.example.test/crm/v3/objects/contacts/search").respond(
            200, json={"results": []}
        )

        for url in (None, "https://hubspot-proxy.example.test"):
            client = build_crm_client(make_settings(crm_kind="hubspot", crm_token=TOKEN, crm_url=url))
            assert isinstance(client, HubSpotCrmClient)
            assert await client.lookup(KIM) is None
            await client.aclose()

        assert (default.call_count, proxied.call_count) == (1, 1)

    @pytest.mark.parametrize(
        ("copied", "missing"),
        [
            pytest.param({"crm_kind": "json"}, "SUPPORTDESK_CRM_TOKEN", id="no-token"),
            pytest.param(
                {"crm_kind": "json", "crm_token": SecretStr(TOKEN)}, "SUPPORTDESK_CRM_URL", id="no-url"
            ),
        ],
    )
    def test_settings_copied_without_what_the_crm_needs_are_refused(
        self, copied: dict[str, object], missing: str
    ) -> None:
        # A copy made with model_copy skips the settings' own checks.
        settings = make_settings().model_copy(update=copied)

        with pytest.raises(ValueError, match=missing):
            build_crm_client(settings)
