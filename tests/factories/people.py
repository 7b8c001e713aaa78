"""Factories for staff users and customers."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence

import pytest

from supportdesk.core.clock import FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.people.models import Availability, Customer, Tier, User
from supportdesk.workspaces.models import Workspace

UserFactory = Callable[..., Awaitable[User]]
CustomerFactory = Callable[..., Awaitable[Customer]]
_counter = itertools.count(1)


@pytest.fixture
def user_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> UserFactory:
    """Make a staff user: ``await user_factory(role=Role.admin, workspace=other_workspace)``."""

    async def make(
        *,
        role: Role = Role.agent,
        workspace: Workspace = workspace,
        email: str | None = None,
        name: str | None = None,
        password: str | None = None,
        skills: Sequence[str] = (),
        availability: Availability = Availability.available,
        is_active: bool = True,
    ) -> User:
        number = next(_counter)
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            user = await people_service.create_user(
                session,
                clock,
                workspace_id=workspace.id,
                email=email or f"{role.value}.{number}@{workspace.slug}.example.com",
                name=name or f"{role.value.replace('_', ' ').title()} {number}",
                role=role,
                password=password,
                skills=skills,
                availability=availability,
            )
            user.is_active = is_active
        return user

    return make


@pytest.fixture
def customer_factory(database: Database, clock: FrozenClock, workspace: Workspace) -> CustomerFactory:
    """Make a customer: ``await customer_factory(tier=Tier.enterprise)``."""

    async def make(
        *,
        workspace: Workspace = workspace,
        email: str | None = None,
        name: str | None = None,
        company: str | None = "Initech",
        tier: Tier = Tier.basic,
        external_id: str | None = None,
    ) -> Customer:
        number = next(_counter)
        async with database.unit_of_work() as session:
            scope_to_workspace(session.sync_session, workspace.id)
            return await people_service.create_customer(
                session,
                clock,
                email=email or f"customer.{number}@example.com",
                name=name or f"Customer {number}",
                company=company,
                tier=tier,
                external_id=external_id,
            )

    return make
