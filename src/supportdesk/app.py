"""The application factory: wiring only, no logic."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from supportdesk import __version__
from supportdesk.auth.router import router as auth_router
from supportdesk.auth.throttle import LoginThrottle
from supportdesk.auth.token_cache import AuthChangeListener, TokenCache
from supportdesk.automation.router import macros_router, triggers_router
from supportdesk.channels.email.router import (
    HOOK_PATHS,
    hook_router,
    inbound_router,
    mailboxes_router,
    ticket_emails_router,
)
from supportdesk.config import Settings, get_settings
from supportdesk.core.clock import Clock, SystemClock
from supportdesk.core.problems import PROBLEM_RESPONSES, install_problem_handlers
from supportdesk.core.storage import build_file_store
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.objects import build_object_cache
from supportdesk.db.session import Database
from supportdesk.integrations.crm import build_crm_lookup
from supportdesk.jobs.router import router as deliveries_router
from supportdesk.notifications.mail.router import router as email_templates_router
from supportdesk.notifications.router import router as notifications_router
from supportdesk.ops.docs import install_docs
from supportdesk.ops.metrics import Metrics, MetricsMiddleware
from supportdesk.ops.middleware import RequestSizeLimitMiddleware, SecurityHeadersMiddleware
from supportdesk.ops.router import router as ops_router
from supportdesk.people.router import customers, me, users
from supportdesk.portal.pages import PORTAL_PREFIX
from supportdesk.portal.pages import UPLOAD_PATHS as PORTAL_UPLOAD_PATHS
from supportdesk.portal.router import install_portal
from supportdesk.portal.throttle import PortalThrottle
from supportdesk.realtime.pubsub import build_pubsub
from supportdesk.sla.router import router as sla_router
from supportdesk.tickets.router import UPLOAD_PATHS, attachments_router
from supportdesk.tickets.router import router as tickets_router
from supportdesk.web.pages import UPLOAD_PATHS as PAGE_UPLOAD_PATHS
from supportdesk.web.pages import WEB_PREFIX
from supportdesk.web.router import install_web
from supportdesk.webhooks.router import router as webhooks_router
from supportdesk.workspaces.router import router as workspace_router

API_PREFIX = "/api/v1"
_log = logging.getLogger("supportdesk")


# Every versioned endpoint's router; each is mounted directly under API_PREFIX (one routing level,
# not a router of routers, which costs a match per level on every request). A request is matched against
# the routers in this order, so the busiest come first; no two share a path.
API_ROUTERS: tuple[APIRouter, ...] = (
    tickets_router,
    attachments_router,
    customers,
    notifications_router,
    me,
    auth_router,
    users,
    workspace_router,
    sla_router,
    triggers_router,
    macros_router,
    webhooks_router,
    deliveries_router,
    email_templates_router,
    mailboxes_router,
    inbound_router,
    ticket_emails_router,
    hook_router,
)


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    token_cache: TokenCache | None = None,
) -> FastAPI:
    """Build the application. Tests pass their own database, clock and token cache."""
    settings = settings or get_settings()
    owns_database = database is None
    database = database or Database(create_engine(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if owns_database and settings.migrate_at_startup:
            _log.info("migrating the database to the newest schema")
            await migrate.upgrade(database.engine)
        # Other processes' revocations reach this one's token cache (PostgreSQL; a no-op elsewhere).
        listener = AuthChangeListener(database.engine, app.state.token_cache)
        if owns_database:
            listener.start()
        # The embedded default runs background work in the server: the outbox relay, the scheduled jobs
        # and, on the in-memory queue, the tasks themselves. With several servers (or workers) each
        # message and each tick is still handled once, since both are claimed in the database.
        background = None
        if owns_database and settings.background == "embedded":
            # Imported here: the task queue library and its HTTP client take a quarter of a second to
            # import, which every process that builds an app without running one (tests, the CLI's
            # own commands, schema export) would pay for nothing.
            from supportdesk.runtime import build_background

            background = build_background(
                database, app.state.clock, settings, crm_lookup=app.state.crm, file_store=app.state.file_store
            )
            await background.start(consume=not background.embedded)
        if owns_database:
            # What is alive now (modules, mappers, schemas: some 150,000 objects) lives as long as the
            # process. Frozen, it is left out of the cyclic collector's full passes, which otherwise
            # walk all of it (about 80 ms) every few hundred list requests.
            gc.freeze()
        yield
        if background is not None:
            await background.stop()
        await listener.stop()
        await app.state.login_throttle.aclose()
        await database.pushes.drain()
        if app.state.object_cache is not None:
            await app.state.object_cache.aclose()
        await app.state.pubsub.aclose()
        if app.state.crm is not None:
            await app.state.crm.aclose()
        if owns_database:
            await database.dispose()

    app = FastAPI(
        title="supportdesk",
        version=__version__,
        summary="A self-hosted customer-support platform.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, from the app's own assets instead of a CDN
        redoc_url=None,
    )
    bind_state(app, settings, database, clock or SystemClock(), token_cache=token_cache)
    # The first added is the innermost: the size limit's 413 is counted by the metrics, and every answer,
    # that 413 included, passes the security headers last.
    app.add_middleware(
        RequestSizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        # An upload (the API's, or a page's form with files) may carry as many files of the largest size
        # as a comment may have, and its form.
        upload_max_bytes=settings.attachment_max_bytes * settings.attachment_max_count + 1024 * 1024,
        upload_paths=re.compile(
            "|".join(
                paths.pattern for paths in (UPLOAD_PATHS, HOOK_PATHS, PAGE_UPLOAD_PATHS, PORTAL_UPLOAD_PATHS)
            )
        ),
    )
    app.add_middleware(MetricsMiddleware)
    # The browser's pages (the workspace under WEB_PREFIX, the portal under PORTAL_PREFIX) get a
    # Content-Security-Policy and the other page headers.
    app.add_middleware(SecurityHeadersMiddleware, page_prefix=(WEB_PREFIX, PORTAL_PREFIX))
    install_problem_handlers(app)
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=PROBLEM_RESPONSES)
    app.include_router(ops_router)
    install_docs(app)
    # The agent workspace's pages and their static files; `/` leads to them.
    install_web(app)
    # The customer portal's pages, in the same templates environment.
    install_portal(app)
    return app


def bind_state(
    app: FastAPI,
    settings: Settings,
    database: Database,
    clock: Clock,
    *,
    token_cache: TokenCache | None = None,
) -> None:
    """Give ``app`` the settings, database and clock it works with, and fresh state of its own: metrics,
    checked tokens, login counters and the object cache.

    Everything a request reads about its surroundings comes from here (``app.state``), so an app built
    once can serve another database and clock: a test suite wires one app per configuration and binds
    each test's own to it, instead of paying for FastAPI's resolution of every route's parameters (a
    few milliseconds per route, on an app's first requests) in every test. The request size limit is
    wiring, not state: settings with another limit need an app of their own.
    """
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock
    app.state.metrics = Metrics()
    # The app owns its token cache: two apps in one process (tests, tools) never share checked tokens.
    app.state.token_cache = token_cache if token_cache is not None else TokenCache()
    app.state.login_throttle = LoginThrottle(settings)
    # The portal's limits count in the same storage, so a deployment configures that once.
    app.state.portal_throttle = PortalThrottle(settings, app.state.login_throttle.storage)
    # The CRM's answers about customers, with its cache and breaker; None when no CRM is configured.
    app.state.crm = build_crm_lookup(settings, clock, registry=app.state.metrics.registry)
    if app.state.crm is not None:
        # New customers are checked against it in the background (the CRM sender of runtime.py).
        database.crm.turn_on(app.state.crm.client.name)
    # Tickets, customers and staff read by id (db.objects), kept by the app and plugged into the
    # database, whose sessions read through it and forget what they change; None when it is off.
    app.state.object_cache = build_object_cache(settings, registry=app.state.metrics.registry)
    database.objects.cache = app.state.object_cache
    # Pushes to open screens: what this database's units of work commit is published here.
    # Where attachment files are kept (a folder of the server's, by default).
    app.state.file_store = build_file_store(settings)
    app.state.pubsub = build_pubsub(settings)
    database.pushes.publisher = app.state.pubsub.publish_many
