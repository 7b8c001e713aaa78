"""Login throttling: how many password attempts a client address, and how many failures an account, may have.

Three fixed-window limits, all configurable (see the README's configuration table):

- every attempt from one client address (``login_attempts_per_address``), counted before the password is
  checked, so one address can neither guess across many accounts nor keep the hashing threads busy;
- failed attempts on one account from one client address (``login_failures_per_account``);
- failed attempts on one account from all addresses together (``login_failures_per_account_total``).

Only failures count against an account, and mainly per address: someone who types wrong passwords for
another person's address blocks themselves, not the owner, who still logs in from their own address.
The looser total limit bounds guessing spread over many addresses; reaching it takes a distributed
attack, and even then the account is refused only until its window ends. A successful login clears the
failures of that account from that address.

An account is named by its e-mail address whether or not it exists, so a refusal tells nothing about
which addresses are staff. The counters live in memory (one set per process) unless
``rate_limit_storage_url`` names a Redis server, which every process then shares.
"""

from __future__ import annotations

import math
import time
from typing import Protocol

from limits import RateLimitItem
from limits import parse as parse_rate_limit
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from supportdesk.config import Settings
from supportdesk.core.errors import TooManyRequests

KEY_PREFIX = "supportdesk"


class _Closable(Protocol):
    async def aclose(self) -> None: ...


def storage_for(settings: Settings, *, key_prefix: str = KEY_PREFIX) -> Storage:
    """The counters' storage: memory by default, Redis when ``rate_limit_storage_url`` names it."""
    url = settings.rate_limit_storage_url
    if url is None or url.startswith("memory://"):
        return MemoryStorage()
    # redis-py's asyncio client (rather than the library's default, coredis), wrapping its errors in
    # limits' StorageError so that an unreachable Redis is answered as an outage.
    return RedisStorage(f"async+{url}", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True)


class LoginThrottle:
    """The login limits of one application; owned by the app (``app.state.login_throttle``)."""

    def __init__(self, settings: Settings, storage: Storage | None = None) -> None:
        self.storage = storage if storage is not None else storage_for(settings)
        self._limiter = FixedWindowRateLimiter(self.storage)
        self._per_address = named_limit(settings.login_attempts_per_address, "login-address")
        self._per_account = named_limit(settings.login_failures_per_account, "login-account-address")
        self._per_account_total = named_limit(settings.login_failures_per_account_total, "login-account")

    async def attempt(self, email: str, address: str) -> None:
        """Count an attempt from ``address``; raise :class:`TooManyRequests` if it may not be made now.

        Called before the password is checked, so a refused attempt costs no hashing.
        """
        account = account_key(email)
        if not await self._limiter.hit(self._per_address, address):
            await self._refuse(self._per_address, address)
        if not await self._limiter.test(self._per_account, account, address):
            await self._refuse(self._per_account, account, address)
        if not await self._limiter.test(self._per_account_total, account):
            await self._refuse(self._per_account_total, account)

    async def failed(self, email: str, address: str) -> None:
        """Count a failed attempt against the account."""
        account = account_key(email)
        await self._limiter.hit(self._per_account, account, address)
        await self._limiter.hit(self._per_account_total, account)

    async def succeeded(self, email: str, address: str) -> None:
        """Forget the account's failures from this address: its owner has just proved who they are."""
        await self._limiter.clear(self._per_account, account_key(email), address)

    async def reset(self) -> None:
        """Forget every counter (tests call this; in production the windows simply run out)."""
        await self.storage.reset()

    async def aclose(self) -> None:
        """Close the storage's connections, if it has any."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        if client is not None:
            closable: _Closable = client
            await closable.aclose()

    async def _refuse(self, item: RateLimitItem, *identifiers: str) -> None:
        await refuse(self._limiter, item, *identifiers, what="login attempts")


def named_limit(limit: str, namespace: str) -> RateLimitItem:
    """A limit written ``<count>/<period>`` with a namespace of its own, so two limits of the same size
    never share a counter."""
    item = parse_rate_limit(limit)
    return type(item)(item.amount, item.multiples, namespace=namespace)


async def refuse(limiter: FixedWindowRateLimiter, item: RateLimitItem, *identifiers: str, what: str) -> None:
    """Raise :class:`TooManyRequests` for ``item``'s window, saying when to try again."""
    # The storage counts windows in its own time (the system's, or the Redis server's), so the wait is
    # measured against the same time base, not against the application's clock.
    reset_at = (await limiter.get_window_stats(item, *identifiers)).reset_time
    retry_after = max(1, math.ceil(reset_at - time.time()))
    raise TooManyRequests(f"Too many {what}; try again in {retry_after} seconds", retry_after=retry_after)


def account_key(email: str) -> str:
    """An address as the counters know it. The look-up compares addresses exactly; the counters fold
    case, so that spelling an address differently does not buy a fresh budget."""
    return email.strip().lower()
