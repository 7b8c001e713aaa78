"""The webhook channel's sender: finds the subscription a message is for, signs and posts it."""

from __future__ import annotations

from collections.abc import Sequence

from supportdesk.core.clock import Clock
from supportdesk.db.session import Database
from supportdesk.jobs.channels import Delivery, DeliveryFailed, Sent
from supportdesk.webhooks import service
from supportdesk.webhooks.sending import Endpoint, WebhookClient, post_event


class WebhookSender:
    """Sends webhook outbox messages through one HTTP client that refuses unsafe addresses."""

    def __init__(self, database: Database, clock: Clock, client: WebhookClient) -> None:
        self._database = database
        self._clock = clock
        self._client = client
        # Destinations read for a batch (prepare), by message id; each is taken by its own attempt.
        self._prepared: dict[int, service.Destination | None] = {}

    async def prepare(self, deliveries: Sequence[Delivery]) -> None:
        """Read the subscriptions of a batch of messages in one query instead of one per message."""
        keys = {(delivery.workspace_id, int(delivery.target)) for delivery in deliveries}
        found = await service.destinations(self._database, keys, self._clock.now())
        for delivery in deliveries:
            self._prepared[delivery.message_id] = found.get((delivery.workspace_id, int(delivery.target)))

    async def __call__(self, delivery: Delivery) -> Sent:
        now = self._clock.now()
        subscription_id = int(delivery.target)
        if delivery.message_id in self._prepared:
            destination = self._prepared.pop(delivery.message_id)
        else:
            destination = await service.destination(
                self._database, delivery.workspace_id, subscription_id, now
            )
        if destination is None:
            raise DeliveryFailed("the subscription was deleted or switched off", permanent=True)
        endpoint = Endpoint(url=destination.url, secrets=destination.secrets)
        try:
            return await post_event(self._client, endpoint, delivery, now=now)
        except DeliveryFailed as failed:
            if failed.gone:
                # The receiver said the endpoint is gone for good: stop announcing to it.
                await service.switch_off(
                    self._database,
                    self._clock,
                    delivery.workspace_id,
                    subscription_id,
                    f"the endpoint answered HTTP {failed.status_code or 410} Gone",
                )
            raise

    async def aclose(self) -> None:
        await self._client.aclose()
