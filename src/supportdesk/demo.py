"""Demo data: a workspace that looks lived in, built through the same services the API uses."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.console import Console
from rich.progress import Progress
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.audit.recorder import SYSTEM, act_as
from supportdesk.auth import service as auth_service
from supportdesk.automation import macros, triggers
from supportdesk.automation.schemas import MacroCreate, TriggerCreate
from supportdesk.config import Settings
from supportdesk.core.clock import Clock, FrozenClock
from supportdesk.core.permissions import Role
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.people import service as people_service
from supportdesk.people.models import Availability, Tier, User
from supportdesk.sla import config_service as sla_config
from supportdesk.sla.schemas import CalendarCreate
from supportdesk.tickets import flows as ticket_flows
from supportdesk.tickets import service as ticket_service
from supportdesk.tickets.models import Channel, Priority, TicketStatus
from supportdesk.workspaces import service as workspace_service
from supportdesk.workspaces.models import AssignmentStrategy

DEMO_PASSWORD = "demo-password"  # noqa: S105  (demo data only; refused in production)

_STAFF = (
    ("Ada Admin", Role.admin, ()),
    ("Sam Senior", Role.senior_agent, ("technical", "authentication")),
    ("Alex Agent", Role.agent, ("billing", "account")),
    ("Robin Agent", Role.agent, ("technical",)),
    ("Kim Agent", Role.agent, ("general", "billing")),
    ("Vic Viewer", Role.viewer, ()),
)
_FIRST = ("Maria", "Jon", "Aiko", "Lena", "Omar", "Priya", "Tom", "Zoe", "Ivan", "Chen", "Nia", "Paul")
_LAST = ("Lopez", "Smith", "Tanaka", "Berg", "Haddad", "Patel", "Novak", "Okafor", "Ivanova", "Wu")
_COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", None)
_SUBJECTS = {
    "technical": ("App crashes on start", "Export times out", "Webhook not firing", "Sync is slow"),
    "billing": ("Charged twice", "Invoice missing VAT id", "Refund request", "Change of plan"),
    "account": ("Close my account", "Change account owner", "Update company name"),
    "authentication": ("Cannot log in", "2FA codes rejected", "Password reset mail never arrives"),
    "general": ("Feature question", "Feedback on the new UI", "Where is the API documentation?"),
}
_REPLIES = (
    "Thanks for reaching out, we are looking into it.",
    "Could you send us a screenshot of the error?",
    "This should be fixed now; please try again.",
    "I have forwarded this to our engineers.",
)


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    workspace: str
    admin_email: str
    admin_password: str
    admin_token: str


_STATUS_PATHS: dict[TicketStatus, tuple[TicketStatus, ...]] = {
    TicketStatus.open: (),
    TicketStatus.assigned: (),
    TicketStatus.in_progress: (TicketStatus.in_progress,),
    TicketStatus.pending: (TicketStatus.in_progress, TicketStatus.pending),
    TicketStatus.resolved: (TicketStatus.in_progress, TicketStatus.resolved),
    TicketStatus.closed: (TicketStatus.in_progress, TicketStatus.resolved, TicketStatus.closed),
}


async def seed_demo(
    database: Database,
    settings: Settings,
    clock: Clock,
    *,
    workspace_slug: str = "demo",
    ticket_count: int = 500,
    customer_count: int = 50,
    skip_if_exists: bool = False,
    seed: int = 7,
    console: Console | None = None,
) -> DemoCredentials | None:
    """Create the demo workspace; ``None`` when it exists and ``skip_if_exists`` is set."""
    rng = random.Random(seed)  # noqa: S311  (demo data, not security)
    now = clock.now()
    async with database.unit_of_work() as session:
        existing = await workspace_service.get_workspace_by_slug(session, workspace_slug)
        if existing is not None and skip_if_exists:
            return None
        workspace = existing or await workspace_service.create_workspace(
            session, clock, slug=workspace_slug, name="Demo Support"
        )
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        existing_staff = {user.email: user for user in await people_service.list_users(session)}
        staff: list[User] = []
        for name, role, skills in _STAFF:
            email = f"{name.split()[0].lower()}@{workspace_slug}.example.com"
            staff.append(
                existing_staff[email]
                if email in existing_staff
                else await people_service.create_user(
                    session,
                    clock,
                    workspace_id=workspace.id,
                    email=email,
                    name=name,
                    role=role,
                    password=DEMO_PASSWORD,
                    skills=skills,
                    availability=Availability.available,
                )
            )
        admin = staff[0]
        token = await auth_service.create_personal_token(session, settings, clock, user=admin, name="demo")
        if existing is None:
            await _demo_workflows(session, clock, workspace.id)
    agents = [user for user in staff if user.role in {Role.agent, Role.senior_agent}]
    customer_emails: list[str] = []
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace.id)
        act_as(session.sync_session, SYSTEM, clock)
        for index in range(customer_count):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            email = f"{first.lower()}.{last.lower()}.{index}@customers.example.com"
            if await people_service.find_customer_by_email(session, email) is None:
                await people_service.create_customer(
                    session,
                    clock,
                    email=email,
                    name=f"{first} {last}",
                    company=rng.choice(_COMPANIES),
                    tier=rng.choice(list(Tier)),
                )
            customer_emails.append(email)

    progress = Progress(console=console, transient=False, disable=console is None)
    with progress:
        task = progress.add_task("tickets", total=ticket_count)
        batch = 50
        for start in range(0, ticket_count, batch):
            async with database.unit_of_work() as session:
                scope_to_workspace(session.sync_session, workspace.id)
                for _ in range(min(batch, ticket_count - start)):
                    await _demo_ticket(session, rng, now, workspace.id, agents, customer_emails)
                    progress.advance(task)
    return DemoCredentials(
        workspace=workspace_slug,
        admin_email=admin.email,
        admin_password=DEMO_PASSWORD,
        admin_token=token.secret,
    )


async def _demo_workflows(session: AsyncSession, clock: Clock, workspace_id: int) -> None:
    """Office hours, SLA policies for the paying tiers, a trigger, a macro, and automatic assignment."""
    office = CalendarCreate.model_validate(
        {
            "name": "Office hours",
            "timezone": "Europe/Berlin",
            "weekly_hours": {
                day: [{"start": "08:00", "end": "18:00"}]
                for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
            },
            "holiday_country": "DE",
        }
    )
    calendar = await sla_config.create_calendar(
        session,
        clock,
        workspace_id=workspace_id,
        name=office.name,
        timezone=office.timezone,
        weekly_hours=office.weekly_hours.stored(),
        holiday_country=office.holiday_country,
    )
    await sla_config.create_policy(
        session,
        clock,
        workspace_id=workspace_id,
        name="Enterprise",
        tier=Tier.enterprise,
        first_response_minutes={"critical": 30, "high": 60, "medium": 240, "low": 480},
        resolution_minutes={"critical": 240, "high": 480},
    )
    await sla_config.create_policy(
        session,
        clock,
        workspace_id=workspace_id,
        name="Premium, office hours",
        tier=Tier.premium,
        calendar_id=calendar.id,
        first_response_minutes={"critical": 60, "high": 120},
    )
    refunds = TriggerCreate.model_validate(
        {
            "name": "Refunds go to billing",
            "event": "created",
            "conditions": [{"field": "text", "operator": "contains", "value": "refund"}],
            "actions": [
                {"type": "set_category", "value": "billing"},
                {"type": "add_tags", "tags": ["refund"]},
            ],
        }
    )
    await triggers.create_trigger(
        session,
        clock,
        workspace_id=workspace_id,
        name=refunds.name,
        event=refunds.event,
        conditions=refunds.conditions,
        actions=refunds.actions,
    )
    screenshot = MacroCreate.model_validate(
        {
            "name": "Ask for a screenshot",
            "actions": [{"type": "set_status", "value": "pending"}],
            "reply": "Hello {{ customer.name }}, could you send us a screenshot of the error? "
            "— {{ agent.name }}, ticket #{{ ticket.number }}",
        }
    )
    await macros.create_macro(
        session,
        clock,
        workspace_id=workspace_id,
        name=screenshot.name,
        actions=screenshot.actions,
        reply=screenshot.reply,
    )
    workspace = await workspace_service.get_workspace(session, workspace_id)
    await workspace_service.update_settings(
        session, workspace, {"auto_assign": True, "assignment_strategy": AssignmentStrategy.by_skill}
    )


async def _demo_ticket(
    session: AsyncSession,
    rng: random.Random,
    now: datetime,
    workspace_id: int,
    agents: list[User],
    customer_emails: list[str],
) -> None:
    age = timedelta(minutes=rng.randint(5, 60 * 24 * 60))
    moment = FrozenClock(now - age)
    act_as(session.sync_session, SYSTEM, moment)
    category = rng.choice(list(_SUBJECTS))
    priority = rng.choices(list(Priority), weights=(3, 5, 2, 1))[0]
    target = rng.choices(list(TicketStatus), weights=(3, 2, 2, 1, 3, 4))[0]
    agent = rng.choice(agents) if target is not TicketStatus.open else None
    ticket = await ticket_flows.open_ticket(
        session,
        moment,
        workspace_id=workspace_id,
        title=rng.choice(_SUBJECTS[category]),
        description="Reported through the demo data generator.",
        priority=priority,
        category=category,
        tags=rng.sample(["vip", "mobile", "web", "api", "regression", "enterprise"], k=rng.randint(0, 2)),
        customer_email=rng.choice(customer_emails),
        assigned_agent_id=agent.id if agent else None,
        channel=rng.choice(list(Channel)),
        auto_assign=False,  # history keeps its spread of statuses; new tickets are assigned automatically
    )
    for status in _STATUS_PATHS[target]:
        step = timedelta(minutes=rng.randint(1, max(2, int(age.total_seconds() // 60 // 4))))
        moment.advance(step)
        if status is TicketStatus.in_progress and agent is not None:
            await ticket_service.add_comment(
                session, moment, ticket, actor=agent, content=rng.choice(_REPLIES)
            )
        await ticket_service.update_ticket(
            session, moment, ticket, {"status": status}, actor=agent or agents[0]
        )
