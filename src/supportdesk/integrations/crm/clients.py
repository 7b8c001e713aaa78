"""The CRM adapters: a generic JSON API and HubSpot's CRM API, each over an ``httpx.AsyncClient`` of its own.

A look-up is one request, tried up to :data:`ATTEMPTS` times by stamina when the failure may pass (no
connection, a timeout, a 5xx, a 429); any other failure, a refused token above all, is raised at once,
since asking again would get the same answer.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import stamina

import supportdesk
from supportdesk.integrations.crm.contract import CrmProfile, CrmUnavailable, id_of, text_of, tier_of
from supportdesk.jobs.outcalls import certificate_authorities

__all__ = [
    "ATTEMPTS",
    "HUBSPOT_PROPERTIES",
    "HUBSPOT_URL",
    "HubSpotCrmClient",
    "JsonCrmClient",
    "hubspot_search",
]

USER_AGENT = f"supportdesk/{supportdesk.__version__}"
HUBSPOT_URL = "https://api.hubapi.com"
# HubSpot has no standard fields for these: this adapter expects three custom contact properties under
# these internal names, which the HubSpot account's admin creates (the tier holds one of our tier values).
HUBSPOT_PROPERTIES = {"tier": "support_tier", "plan": "support_plan", "account_manager": "account_manager"}
# A look-up's answer is a small JSON document; a larger body (a proxy's error page, a runaway search)
# is cut off here rather than read whole.
MAX_ANSWER = 64 * 1024

# Three tries in all, each waiting about twice as long as the one before, with jitter so that processes
# that failed together do not come back together. No overall deadline: three requests, each bounded by
# the client's timeout, already bound the whole.
ATTEMPTS = 3


class _PassingTrouble(CrmUnavailable):
    """A failure that may be gone a moment later, and so is worth another attempt."""


_retrying = stamina.AsyncRetryingCaller(
    attempts=ATTEMPTS, timeout=None, wait_initial=0.2, wait_max=2.0, wait_jitter=0.3
).on(_PassingTrouble)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes

    def excerpt(self) -> str:
        return " ".join(self.body.decode("utf-8", errors="replace").split())[:200]


class _HttpCrmClient(ABC):
    """What both adapters share: the client, retries, and the statuses every API means alike."""

    service: ClassVar[str]  # how reasons name the API

    def __init__(self, name: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def lookup(self, email: str) -> CrmProfile | None:
        return await _retrying(self._attempt, email)

    @abstractmethod
    async def _attempt(self, email: str) -> CrmProfile | None:
        """One request for ``email``, its answer read as a profile or as an error."""
        ...

    async def _exchange(self, method: str, path: str, **request: Any) -> _Answer:
        try:
            async with self._client.stream(method, path, **request) as response:
                return _Answer(response.status_code, await self._read(response))
        except httpx.TimeoutException as error:
            limit = self._client.timeout.read
            within = "" if limit is None else f" after {limit:g} s"
            raise _PassingTrouble(f"{self.service} timed out{within} ({type(error).__name__})") from error
        except httpx.TransportError as error:
            cause = str(error) or type(error).__name__
            raise _PassingTrouble(f"could not reach {self.service}: {cause}") from error
        except httpx.HTTPError as error:
            # An answer that cannot even be decoded (a broken content encoding): the next one would be
            # the same.
            raise CrmUnavailable(f"unreadable answer from {self.service}: {error}") from error

    async def _read(self, response: httpx.Response) -> bytes:
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER:
                raise CrmUnavailable(f"{self.service} answered with more than {MAX_ANSWER // 1024} KiB")
        return bytes(body)

    def _refusal(self, answer: _Answer) -> CrmUnavailable:
        """The error for a status the adapter has no meaning of its own for."""
        status = answer.status
        detail = f": {answer.excerpt()}" if answer.body else ""
        if status in (401, 403):
            # Our token is wrong, revoked or lacks a permission: a matter of configuration, which no
            # retry mends.
            return CrmUnavailable(
                f"{self.service} refused our credentials (HTTP {status}), check SUPPORTDESK_CRM_TOKEN{detail}"
            )
        if status == 429:
            return _PassingTrouble(f"{self.service} is throttling our look-ups (HTTP 429)")
        if status >= 500:
            return _PassingTrouble(f"{self.service} failed with HTTP {status}{detail}")
        return CrmUnavailable(f"{self.service} answered with an unexpected HTTP {status}{detail}")

    def _json_object(self, answer: _Answer) -> dict[str, Any]:
        try:
            value = json.loads(answer.body)
        except ValueError:
            detail = f": {answer.excerpt()}" if answer.body else ""
            raise CrmUnavailable(
                f"{self.service} answered HTTP {answer.status} with something that is not JSON{detail}"
            ) from None
        if not isinstance(value, dict):
            raise CrmUnavailable(f"{self.service} answered with JSON that is not an object")
        return value


class JsonCrmClient(_HttpCrmClient):
    """A CRM behind a plain JSON API: ``GET {base_url}/customers?email=<address>`` with a bearer token,
    answered by ``{"tier", "plan", "account_manager", "id"}`` or by 404 for an address it does not know."""

    service = "the CRM"

    def __init__(self, base_url: str, token: str, *, timeout: float = 5, name: str = "json") -> None:
        super().__init__(name, _http_client(base_url, token, timeout))

    async def _attempt(self, email: str) -> CrmProfile | None:
        answer = await self._exchange("GET", "/customers", params={"email": email})
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._refusal(answer)
        customer = self._json_object(answer)
        return CrmProfile(
            tier=tier_of(customer.get("tier")),
            plan=text_of(customer.get("plan")),
            account_manager=text_of(customer.get("account_manager")),
            crm_id=id_of(customer.get("id")),
        )


class HubSpotCrmClient(_HttpCrmClient):
    """HubSpot's CRM API: a search of contacts whose ``email`` equals the address, with a private app's
    access token. The tier, plan and account manager are read from the contact properties named in
    :data:`HUBSPOT_PROPERTIES`; no contact found means HubSpot does not know the address."""

    service = "HubSpot"

    def __init__(
        self, token: str, base_url: str = HUBSPOT_URL, *, timeout: float = 5, name: str = "hubspot"
    ) -> None:
        super().__init__(name, _http_client(base_url, token, timeout))

    async def _attempt(self, email: str) -> CrmProfile | None:
        answer = await self._exchange("POST", "/crm/v3/objects/contacts/search", json=hubspot_search(email))
        if answer.status != 200:
            raise self._refusal(answer)
        results = self._json_object(answer).get("results")
        if not isinstance(results, list) or not all(isinstance(result, dict) for result in results):
            raise CrmUnavailable("HubSpot answered a contact search without a list of results")
        if not results:
            return None
        contact = results[0]
        properties = contact.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        return CrmProfile(
            tier=tier_of(properties.get(HUBSPOT_PROPERTIES["tier"])),
            plan=text_of(properties.get(HUBSPOT_PROPERTIES["plan"])),
            account_manager=text_of(properties.get(HUBSPOT_PROPERTIES["account_manager"])),
            crm_id=id_of(contact.get("id")),
        )


def _http_client(base_url: str, token: str, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout,
        headers={"authorization": f"Bearer {token}", "accept": "application/json", "user-agent": USER_AGENT},
        # A redirect would carry the token to wherever it points; an API that moved is a setting to change.
        follow_redirects=False,
        verify=certificate_authorities(trust_env=True),
    )


def hubspot_search(email: str) -> dict[str, Any]:
    """The body of HubSpot's contact search for one address, asking only for the properties we read."""
    return {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
        "properties": list(HUBSPOT_PROPERTIES.values()),
        "limit": 1,
    }
