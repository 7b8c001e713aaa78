"""What a process runs in the background, wired once for the server and ``supportdesk worker``: the
sender of each delivery channel and the scheduled jobs, on one :class:`Background`. Like the app and
the CLI it wires, it sits above everything it puts together (the inbound channel's use case among them)."""

from __future__ import annotations

from datetime import timedelta

from taskiq import AsyncBroker

from supportdesk.automation import tasks
from supportdesk.automation.tasks import AcrossWorkspaces
from supportdesk.channels.email.flows import process_inbound
from supportdesk.channels.email.processing import InboundProcessor
from supportdesk.channels.email.reader import MessageReader
from supportdesk.channels.email.service import inbound_rules
from supportdesk.config import Settings
from supportdesk.core.clock import Clock
from supportdesk.core.storage import FileStore, build_file_store
from supportdesk.db.objects import build_object_cache
from supportdesk.db.session import Database
from supportdesk.integrations.crm import CrmLookup, build_crm_lookup
from supportdesk.integrations.crm.enrichment import CrmSender
from supportdesk.jobs.background import Background
from supportdesk.jobs.channels import Sender
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.jobs.scheduler import ScheduledJob
from supportdesk.notifications.mail.delivery import MailSender
from supportdesk.notifications.mail.providers import build_providers
from supportdesk.portal import tasks as portal_tasks
from supportdesk.realtime.pubsub import build_pubsub
from supportdesk.webhooks.delivery import WebhookSender
from supportdesk.webhooks.sending import WebhookClient
from supportdesk.webhooks.targets import TargetPolicy


def default_jobs(settings: Settings) -> list[ScheduledJob]:
    """The jobs to schedule; each domain's time-based jobs are registered here.

    They run at ``settings.scheduler_tick_seconds`` (the portal's housekeeping, which nobody waits
    for, hourly): each handles everything due at its tick, so a missed tick only delays. Every process
    must register the same names, since claims are made per name.
    """
    every = timedelta(seconds=settings.scheduler_tick_seconds)
    return [
        ScheduledJob("sla.notify_breaches", every, AcrossWorkspaces("announced", tasks.notify_sla_breaches)),
        ScheduledJob("sla.escalate", every, AcrossWorkspaces("escalated", tasks.escalate_overdue_tickets)),
        ScheduledJob("tickets.auto_close", every, AcrossWorkspaces("closed", tasks.auto_close_resolved)),
        ScheduledJob("tickets.remind_pending", every, AcrossWorkspaces("reminded", tasks.remind_pending)),
        ScheduledJob(
            "portal.purge_expired",
            portal_tasks.PURGE_EVERY,
            AcrossWorkspaces("purged", portal_tasks.purge_expired),
        ),
    ]


def build_background(
    database: Database,
    clock: Clock,
    settings: Settings,
    *,
    broker: AsyncBroker | None = None,
    crm_lookup: CrmLookup | None = None,
    file_store: FileStore | None = None,
) -> Background:
    """The background work of one process, not started yet. A server passes its app's ``crm_lookup``,
    which it closes itself: one cache, breaker and set of counters per process."""
    policy = TargetPolicy.from_setting(settings.webhook_allowed_targets)
    client = WebhookClient(
        policy, timeout=settings.webhook_timeout_seconds, max_connections=settings.worker_concurrency
    )
    webhooks = WebhookSender(database, clock, client)
    mail = MailSender(build_providers(settings, clock=clock), default_from=settings.mail_from)
    # Arrived mail is processed with the server's file store (a worker builds its own from the settings).
    store = file_store if file_store is not None else build_file_store(settings)
    reader = MessageReader(separate=settings.mail_read_in_own_process)
    inbound = InboundProcessor(database, clock, store, inbound_rules(settings), process_inbound, reader)
    senders: dict[DeliveryChannel, Sender] = {
        DeliveryChannel.webhook: webhooks,
        DeliveryChannel.email: mail,
        DeliveryChannel.inbound: inbound,
    }
    closers = [webhooks.aclose, mail.aclose, reader.aclose]
    # A worker process builds a look-up of its own (sharing answers with the servers' through
    # SUPPORTDESK_CRM_CACHE_URL when that names a Redis) and closes it when it stops.
    lookup = crm_lookup if crm_lookup is not None else build_crm_lookup(settings, clock)
    if lookup is not None:
        crm = CrmSender(database, clock, lookup)
        senders[DeliveryChannel.crm] = crm
        if crm_lookup is None:
            closers.append(crm.aclose)
        # Customers created in this process (a worker's own units of work) are checked as the app's are.
        database.crm.turn_on(crm.crm)
    background = Background(
        database, clock, settings, senders=senders, jobs=default_jobs(settings), broker=broker
    )
    background.on_stop.extend(closers)
    if database.pushes.publisher is None:
        # A worker process: what its jobs notify (breaches, escalations) is pushed from here.
        pubsub = build_pubsub(settings)
        database.pushes.publisher = pubsub.publish_many

        async def close_pushes() -> None:
            await database.pushes.drain()
            await pubsub.aclose()

        background.on_stop.append(close_pushes)
    if database.objects.cache is None:
        # A worker process: what its jobs change (escalations, auto-closes, CRM answers) is forgotten in
        # the servers' cache when they share one through Redis. (A memory cache here nobody would read.)
        shared = build_object_cache(settings, shared_only=True)
        if shared is not None:
            database.objects.cache = shared
            background.on_stop.append(shared.aclose)
    return background
