"""CrmLookup, the one object callers ask: a CRM client behind a cache and a circuit breaker.

An answer is served from the cache while it is fresh (``SUPPORTDESK_CRM_CACHE_SECONDS``). After that the
CRM is asked again, unless its circuit breaker is open: a run of failed look-ups (purgatory's threshold)
leaves the CRM alone for a while (its TTL), so that a CRM that is down soon stops costing time. Whenever the
CRM cannot answer, the last answer it gave is served as ``stale`` for up to :data:`STALE_SECONDS`; with
nothing known the answer is ``unavailable``. Either way :meth:`CrmLookup.profile` returns, never raises.

Each cache entry holds the answer with the time it was fetched, and is kept for the stale window: the
backend (memory or Redis) forgets it after that, and the injected clock decides whether it is still fresh,
the way cashews' own soft TTL keeps one entry with two deadlines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cashews import Cache
from cashews.exceptions import CacheBackendInteractionError
from prometheus_client import CollectorRegistry, Counter
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

from supportdesk.config import Settings
from supportdesk.core.clock import Clock, SystemClock, ensure_utc
from supportdesk.core.kv import cache_at
from supportdesk.integrations.crm.clients import HUBSPOT_URL, HubSpotCrmClient, JsonCrmClient
from supportdesk.integrations.crm.contract import (
    CrmClient,
    CrmProfile,
    CrmUnavailable,
    id_of,
    text_of,
    tier_of,
)

__all__ = [
    "STALE_SECONDS",
    "CrmAnswer",
    "CrmLookup",
    "CrmSource",
    "build_crm_client",
    "build_crm_lookup",
    "crm_cache",
]

_log = logging.getLogger("supportdesk.crm")

CrmSource = Literal["fresh", "cached", "stale", "unavailable"]

# How long the last answer about an address is kept to be served while the CRM is down.
STALE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CrmAnswer:
    """What :meth:`CrmLookup.profile` found out about an address.

    ``source`` says where the answer comes from: ``fresh`` from the CRM just now, ``cached`` from an
    earlier look-up that is still fresh, ``stale`` from an older one because the CRM cannot answer, and
    ``unavailable`` when the CRM cannot answer and nothing is known. ``profile`` is ``None`` when the
    CRM does not know the address (or nothing is known). ``checked_at`` is when the CRM gave the answer;
    ``reason`` says why the CRM could not answer (``stale`` and ``unavailable`` only).
    """

    profile: CrmProfile | None
    source: CrmSource
    checked_at: datetime | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Known:
    """An answer the CRM gave, as the cache keeps it."""

    profile: CrmProfile | None
    checked_at: datetime

    def record(self) -> dict[str, Any]:
        profile = self.profile
        return {
            "checked_at": self.checked_at.isoformat(),
            "profile": None
            if profile is None
            else {
                "tier": None if profile.tier is None else profile.tier.value,
                "plan": profile.plan,
                "account_manager": profile.account_manager,
                "crm_id": profile.crm_id,
            },
        }

    @classmethod
    def from_record(cls, value: object) -> _Known | None:
        """The answer a cache entry holds; ``None`` for an entry in any other form (written by another
        version, say), which is then treated as missing."""
        if not isinstance(value, dict) or not isinstance(value.get("checked_at"), str):
            return None
        try:
            checked_at = ensure_utc(datetime.fromisoformat(value["checked_at"]))
        except ValueError:
            return None
        profile = value.get("profile")
        if profile is None:
            return cls(None, checked_at)
        if not isinstance(profile, dict):
            return None
        return cls(
            CrmProfile(
                tier=tier_of(profile.get("tier")),
                plan=text_of(profile.get("plan")),
                account_manager=text_of(profile.get("account_manager")),
                crm_id=id_of(profile.get("crm_id")),
            ),
            checked_at,
        )


class CrmLookup:
    """Customers' CRM profiles by e-mail address, cached, behind a circuit breaker; never raises for the
    CRM's trouble.

    It takes over ``client`` and ``cache``: :meth:`aclose` closes both. ``cache`` must be a cache of its
    own (see :func:`crm_cache`), not cashews' module-wide one. Addresses are compared without regard to
    case, and the CRM is asked with the address in lower case. The counters are Prometheus counters in
    ``registry`` (a registry of their own when none is given, as with the app's metrics).
    """

    def __init__(
        self,
        client: CrmClient,
        breakers: AsyncCircuitBreakerFactory,
        cache: Cache,
        *,
        clock: Clock | None = None,
        fresh_seconds: float = 3600,
        stale_seconds: float = STALE_SECONDS,
        key_prefix: str = "supportdesk:crm:",
        registry: CollectorRegistry | None = None,
    ) -> None:
        if not 0 <= fresh_seconds <= stale_seconds or stale_seconds <= 0:
            raise ValueError("need 0 <= fresh_seconds <= stale_seconds and stale_seconds > 0")
        self.client = client
        self._breakers = breakers
        self._cache = cache
        self._clock = clock or SystemClock()
        self._fresh = timedelta(seconds=fresh_seconds)
        self._stale = timedelta(seconds=stale_seconds)
        # The CRM's name is part of the key, so that answers from one CRM are never served for another
        # after the setting changes.
        self._key_prefix = f"{key_prefix}{client.name}:"
        self._circuit = f"crm:{client.name}"
        self.registry = registry if registry is not None else CollectorRegistry()
        self.cache_hits = Counter(
            "supportdesk_crm_cache_hits",
            "CRM look-ups answered from the cache while the answer was fresh",
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "supportdesk_crm_cache_misses",
            "CRM look-ups that found no fresh answer in the cache",
            registry=self.registry,
        )
        self.crm_calls = Counter(
            "supportdesk_crm_calls",
            "Look-ups sent to the CRM (each of up to three HTTP requests)",
            registry=self.registry,
        )
        self.crm_failures = Counter(
            "supportdesk_crm_failures",
            "Look-ups sent to the CRM that got no answer, retries included",
            registry=self.registry,
        )
        self.breaker_rejections = Counter(
            "supportdesk_crm_breaker_rejections",
            "Look-ups not sent to the CRM because its circuit breaker was open",
            registry=self.registry,
        )

    def __repr__(self) -> str:
        return f"CrmLookup(client={self.client!r})"

    async def profile(self, email: str) -> CrmAnswer:
        """What the CRM knows of ``email``, from the cache when fresh, else from the CRM, else stale.

        Only a blank address raises (``ValueError``): that is the caller's mistake, not the CRM's.
        """
        address = email.strip().lower()
        if not address:
            raise ValueError("an e-mail address is needed")
        key = self._key_prefix + address
        known = await self._recall(key)
        now = self._clock.now()
        if known is not None and now - known.checked_at < self._fresh:
            self.cache_hits.inc()
            return CrmAnswer(known.profile, "cached", known.checked_at)
        self.cache_misses.inc()
        try:
            profile = await self._ask(address)
        except CrmUnavailable as error:
            if known is not None and now - known.checked_at < self._stale:
                return CrmAnswer(known.profile, "stale", known.checked_at, error.reason)
            return CrmAnswer(None, "unavailable", None, error.reason)
        fetched = _Known(profile, self._clock.now())
        await self._remember(key, fetched)
        return CrmAnswer(fetched.profile, "fresh", fetched.checked_at)

    async def aclose(self) -> None:
        """Close the client and the cache."""
        try:
            await self.client.aclose()
        finally:
            await self._cache.close()

    async def _ask(self, address: str) -> CrmProfile | None:
        # Each look-up is one success or one failure to the breaker, whatever retries it took; an address
        # the CRM does not know is an answer like any other. A look-up its caller cancels (a deadline of
        # the caller's own) counts as a failure too: the CRM was too slow for it.
        breaker = await self._breakers.get_breaker(self._circuit)
        try:
            async with breaker:
                self.crm_calls.inc()
                return await self.client.lookup(address)
        except OpenedState:
            self.breaker_rejections.inc()
            raise CrmUnavailable(
                f"the CRM is not being asked for {breaker.context.ttl:g} s after "
                f"{breaker.context.threshold} failed look-ups in a row"
            ) from None
        except CrmUnavailable as error:
            self.crm_failures.inc()
            _log.warning("CRM look-up failed (%s): %s", self.client.name, error.reason)
            raise

    async def _recall(self, key: str) -> _Known | None:
        # The cache only saves calls to the CRM: when it cannot be read, the CRM is asked instead.
        try:
            value = await self._cache.get(key)
        except (CacheBackendInteractionError, ValueError):
            _log.warning("the CRM cache could not be read; asking the CRM", exc_info=True)
            return None
        return _Known.from_record(value)

    async def _remember(self, key: str, known: _Known) -> None:
        try:
            await self._cache.set(key, known.record(), expire=self._stale)
        except CacheBackendInteractionError:
            _log.warning("the CRM cache could not be written", exc_info=True)


def crm_cache(url: str) -> Cache:
    """A cache of its own at ``url``: ``mem://`` (this process only) or ``redis://`` (every process that
    names the same server), set up as every cache of ours is (:mod:`supportdesk.core.kv`)."""
    return cache_at("crm", url)


def build_crm_client(settings: Settings) -> CrmClient | None:
    """The CRM client the settings describe; ``None`` with ``SUPPORTDESK_CRM_KIND=none``."""
    if settings.crm_kind == "none":
        return None
    # Settings are validated when read, but a copy made with ``model_copy`` is not.
    token = settings.crm_token.get_secret_value() if settings.crm_token is not None else None
    if token is None:
        raise ValueError(f"SUPPORTDESK_CRM_KIND={settings.crm_kind} needs SUPPORTDESK_CRM_TOKEN")
    if settings.crm_kind == "hubspot":
        return HubSpotCrmClient(token, settings.crm_url or HUBSPOT_URL, timeout=settings.crm_timeout_seconds)
    if settings.crm_url is None:
        raise ValueError("SUPPORTDESK_CRM_KIND=json needs SUPPORTDESK_CRM_URL")
    return JsonCrmClient(settings.crm_url, token, timeout=settings.crm_timeout_seconds)


def build_crm_lookup(
    settings: Settings, clock: Clock, *, registry: CollectorRegistry | None = None
) -> CrmLookup | None:
    """The look-up the settings describe, its cache and breaker included; ``None`` without a CRM.

    Cache keys start with ``SUPPORTDESK_QUEUE_NAME``, as pub/sub channels do, so that installations
    sharing a Redis server never read each other's answers.
    """
    client = build_crm_client(settings)
    if client is None:
        return None
    breakers = AsyncCircuitBreakerFactory(
        default_threshold=settings.crm_breaker_threshold, default_ttl=settings.crm_breaker_seconds
    )
    return CrmLookup(
        client,
        breakers,
        crm_cache(settings.crm_cache_url),
        clock=clock,
        fresh_seconds=settings.crm_cache_seconds,
        key_prefix=f"{settings.queue_name}:crm:",
        registry=registry,
    )
