"""The e-mail channel's sender: completes a message from its outbox row and sends it through the chain of
providers its workspace chose."""

from __future__ import annotations

from collections.abc import Mapping

from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent
from supportdesk.notifications.mail.compose import Draft, complete
from supportdesk.notifications.mail.providers import MailProvider, chain_of, close_providers


class MailSender:
    """Sends e-mail outbox messages through the server's providers (``providers`` by name)."""

    def __init__(self, providers: Mapping[str, MailProvider], *, default_from: str) -> None:
        self._providers = providers
        self._default_from = default_from

    async def __call__(self, delivery: Delivery) -> Sent:
        draft = Draft.from_payload(delivery.payload)
        email = complete(draft, self._default_from)
        try:
            chain = chain_of(self._providers, draft.providers)
        except KeyError as missing:
            # The workspace names a provider this server does not configure (any more): an operator
            # can add it back, so the message waits for its retries rather than dying at once.
            raise DeliveryFailed(f"no mail provider named {missing} is configured") from None
        return await chain.send_email_with_fallback(email)

    async def aclose(self) -> None:
        await close_providers(self._providers)
