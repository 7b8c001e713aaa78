"""How often the portal's public doors may be used: the request form per client address, and sign-in
links per e-mail address and per client address. The counters share the login throttle's storage
(memory, or Redis for every process), so a deployment configures rate limits once.

An e-mail address is counted whether or not it belongs to a customer: a refusal says nothing about
which addresses the desk knows."""

from __future__ import annotations

from limits import RateLimitItem
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter

from supportdesk.auth.throttle import account_key, named_limit, refuse
from supportdesk.config import Settings


class PortalThrottle:
    """The portal's limits of one application (``app.state.portal_throttle``)."""

    def __init__(self, settings: Settings, storage: Storage) -> None:
        self._limiter = FixedWindowRateLimiter(storage)
        self._requests = named_limit(settings.portal_requests_per_address, "portal-request-address")
        self._sign_in_email = named_limit(settings.portal_sign_in_per_email, "portal-sign-in-email")
        self._sign_in_address = named_limit(settings.portal_sign_in_per_address, "portal-sign-in-address")

    async def request(self, workspace: str, client: str) -> None:
        """Count a request sent through ``workspace``'s form from ``client``; raise
        :class:`TooManyRequests` when that client has sent its share."""
        if not await self._limiter.hit(self._requests, workspace, client):
            await self._refuse(self._requests, workspace, client)

    async def sign_in(self, workspace: str, email: str, client: str) -> None:
        """Count a request for a sign-in link; raise :class:`TooManyRequests` when the client or the
        address has had its share. The client is counted first, so one client cannot use up the budget
        of every address it names."""
        if not await self._limiter.hit(self._sign_in_address, workspace, client):
            await self._refuse(self._sign_in_address, workspace, client)
        if not await self._limiter.hit(self._sign_in_email, workspace, account_key(email)):
            await self._refuse(self._sign_in_email, workspace, account_key(email))

    async def _refuse(self, item: RateLimitItem, *identifiers: str) -> None:
        await refuse(self._limiter, item, *identifiers, what="requests")
