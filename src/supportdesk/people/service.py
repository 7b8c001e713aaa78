"""Staff users and customers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from supportdesk.core.clock import Clock
from supportdesk.core.crm import crm_of
from supportdesk.core.errors import Conflict, InvalidInput, NotFound
from supportdesk.core.http import require_version
from supportdesk.core.pagination import after_cursor, decode_cursor_as, encode_cursor, split_page
from supportdesk.core.permissions import Role
from supportdesk.core.security import hash_password_in_thread
from supportdesk.db import objects
from supportdesk.jobs import outbox
from supportdesk.jobs.models import DeliveryChannel
from supportdesk.people import repository, rules
from supportdesk.people.models import (
    ApiToken,
    Availability,
    Customer,
    CustomerSnapshot,
    StaffSnapshot,
    Tier,
    TokenKind,
    User,
)

MIN_PASSWORD_LENGTH = 10

# What the object cache keeps of staff and customers, under the names their models give (db.objects).
STAFF = objects.ObjectKind("user", StaffSnapshot)
CUSTOMERS = objects.ObjectKind("customer", CustomerSnapshot)
_STAFF_COLUMNS = tuple(getattr(User, name) for name in StaffSnapshot.__dataclass_fields__)
_CUSTOMER_COLUMNS = tuple(getattr(Customer, name) for name in CustomerSnapshot.__dataclass_fields__)


class UserExists(Conflict):
    code = "user-exists"
    title = "A staff user with this e-mail address exists already"


class CustomerExists(Conflict):
    code = "customer-exists"
    title = "A customer with this e-mail address exists already"


class DuplicateExternalId(Conflict):
    code = "duplicate-external-id"
    title = "Another record has this external id"


class LastAdmin(Conflict):
    code = "last-admin"
    title = "A workspace keeps at least one active admin"


# --- staff users ---------------------------------------------------------------------------------


async def create_user(
    session: AsyncSession,
    clock: Clock,
    *,
    workspace_id: int,
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
    skills: Sequence[str] = (),
    availability: Availability = Availability.available,
) -> User:
    """Add a staff user to a workspace."""
    existing = await session.execute(
        select(User.id).where(User.workspace_id == workspace_id, User.email == email)
    )
    if existing.first() is not None:
        raise UserExists(f"{email} is already a staff user here")
    now = clock.now()
    user = User(
        workspace_id=workspace_id,
        email=email,
        name=name,
        role=role,
        is_active=True,
        skills=list(dict.fromkeys(skills)),
        availability=availability,
        password_hash=await hash_password_in_thread(password) if password else None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The staff user with ``user_id`` in the session's workspace."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    return user


async def staff_member(session: AsyncSession, user_id: int) -> StaffSnapshot | None:
    """The staff user with ``user_id`` in the session's workspace, as read for answering or checking
    (through the object cache); ``None`` when there is none. Changes go through :func:`get_user`."""

    async def load() -> StaffSnapshot | None:
        row = (await session.execute(select(*_STAFF_COLUMNS).where(User.id == user_id))).first()
        return None if row is None else StaffSnapshot(**row._mapping)

    return await objects.read_through(session, STAFF, user_id, load)


async def read_user(session: AsyncSession, user_id: int) -> StaffSnapshot:
    """:func:`staff_member`, or NotFound."""
    user = await staff_member(session, user_id)
    if user is None:
        raise NotFound("No such user")
    return user


async def find_users_by_email(session: AsyncSession, email: str) -> list[User]:
    """Staff users with this (normalised) address: one per workspace at most, all of them in an unscoped
    session (the command line), by workspace."""
    result = await session.execute(select(User).where(User.email == email).order_by(User.workspace_id))
    return list(result.scalars())


async def list_users(
    session: AsyncSession, *, role: Role | None = None, is_active: bool | None = None
) -> list[User]:
    """Staff users of the workspace, by name."""
    query = select(User).order_by(func.lower(User.name), User.id)
    if role is not None:
        query = query.where(User.role == role)
    if is_active is not None:
        query = query.where(User.is_active == is_active)
    return list((await session.execute(query)).scalars())


async def _ensure_another_admin(session: AsyncSession, user: User) -> None:
    if user.role != Role.admin or not user.is_active:
        return
    others = await session.execute(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.admin, User.is_active.is_(True), User.id != user.id)
    )
    if others.scalar_one() == 0:
        raise LastAdmin()


async def update_user(session: AsyncSession, clock: Clock, user: User, changes: dict[str, Any]) -> User:
    """Change a staff user's role, name, skills or availability."""
    if "role" in changes and changes["role"] != user.role:
        await _ensure_another_admin(session, user)
    for field, value in changes.items():
        if field == "skills":
            value = list(dict.fromkeys(value))
        setattr(user, field, value)
    user.updated_at = clock.now()
    await session.flush()
    return user


async def deactivate_user(session: AsyncSession, clock: Clock, user: User) -> User:
    """Deactivate a staff user; their tokens stop working at once."""
    if not user.is_active:
        return user
    await _ensure_another_admin(session, user)
    now = clock.now()
    user.is_active = False
    user.updated_at = now
    tokens = await session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    for token in tokens.scalars():
        token.revoked_at = now
    await session.flush()
    return user


async def activate_user(session: AsyncSession, clock: Clock, user: User) -> User:
    """Let a deactivated staff user back in; the tokens revoked at deactivation stay revoked."""
    if user.is_active:
        return user
    user.is_active = True
    user.updated_at = clock.now()
    await session.flush()
    return user


async def set_password(session: AsyncSession, clock: Clock, user: User, password: str) -> User:
    """Give a staff user a new password and end their browser sessions, which the old password may have
    opened; personal API tokens are left alone (revoke those separately)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "password", f"The password needs at least {MIN_PASSWORD_LENGTH} characters", reason="too-short"
        )
    now = clock.now()
    user.password_hash = await hash_password_in_thread(password)
    user.updated_at = now
    sessions = await session.execute(
        select(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.kind == TokenKind.session, ApiToken.revoked_at.is_(None)
        )
    )
    for token in sessions.scalars():
        token.revoked_at = now
    await session.flush()
    return user


# --- customers -----------------------------------------------------------------------------------


async def _ensure_unique_customer(
    session: AsyncSession, *, email: str | None, external_id: str | None, except_id: int | None = None
) -> None:
    if email is not None:
        query = select(Customer.id).where(Customer.email == email)
        if except_id is not None:
            query = query.where(Customer.id != except_id)
        if (await session.execute(query)).first() is not None:
            raise CustomerExists(f"{email} is already a customer here")
    if external_id is not None:
        query = select(Customer.id).where(Customer.external_id == external_id)
        if except_id is not None:
            query = query.where(Customer.id != except_id)
        if (await session.execute(query)).first() is not None:
            raise DuplicateExternalId(f"Another customer has the external id {external_id!r}")


async def create_customer(
    session: AsyncSession,
    clock: Clock,
    *,
    email: str,
    name: str | None = None,
    company: str | None = None,
    tier: Tier = Tier.free,
    external_id: str | None = None,
) -> Customer:
    """Add a customer to the session's workspace; where the process has a CRM, have the customer checked
    against it in the background (an outbox message in the same transaction)."""
    await _ensure_unique_customer(session, email=email, external_id=external_id)
    now = clock.now()
    customer = Customer(
        email=email,
        name=name,
        company=company,
        tier=tier,
        external_id=external_id,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    await session.flush()
    await _have_checked(session, clock, customer)
    return customer


async def _have_checked(session: AsyncSession, clock: Clock, customer: Customer) -> None:
    """Where the process has a CRM, have a new customer checked against it in the background."""
    crm = crm_of(session)
    if crm is not None:
        # Without a CRM nothing is written: a first contact opens a ticket, and intake's speed is worth
        # more than a row nobody would ever deliver.
        check = outbox.Outgoing(
            DeliveryChannel.crm,
            crm,
            rules.crm_dedupe_key(customer.id),
            # The address as it was, for the record; the sender asks about the customer's address as it
            # is when the message is sent.
            {"customer_id": customer.id, "email": customer.email},
        )
        await outbox.enqueue(session, clock, customer.workspace_id, [check])


async def request_crm_checks(
    session: AsyncSession, clock: Clock, crm: str, *, recheck: bool, after_id: int = 0, limit: int = 500
) -> list[int]:
    """Have customers of the session's workspace checked against ``crm`` in the background, up to
    ``limit`` of them with ids above ``after_id``, in order; returns their ids (the last is where the next
    call starts).

    Customers never checked are asked about under the same key as a new customer's check, so one whose
    check still waits in the outbox (or was created since) is not asked about twice. ``recheck`` asks
    about every customer again, checked or not, as of now: what an operator does after the CRM's data
    changed, or after a CRM was configured on a desk whose customers it already knew.
    """
    query = select(Customer.id, Customer.workspace_id, Customer.email).where(Customer.id > after_id)
    if not recheck:
        query = query.where(Customer.crm_checked_at.is_(None))
    rows = (await session.execute(query.order_by(Customer.id).limit(limit))).all()
    now = clock.now()
    by_workspace: dict[int, list[outbox.Outgoing]] = {}
    for row in rows:
        key = rules.crm_recheck_key(row.id, now) if recheck else rules.crm_dedupe_key(row.id)
        check = outbox.Outgoing(DeliveryChannel.crm, crm, key, {"customer_id": row.id, "email": row.email})
        by_workspace.setdefault(int(row.workspace_id), []).append(check)
    for workspace_id, checks in by_workspace.items():
        await outbox.enqueue(session, clock, workspace_id, checks)
    return [int(row.id) for row in rows]


async def customer_tier(session: AsyncSession, customer_id: int | None) -> Tier | None:
    """The tier of the customer with ``customer_id`` (None for no customer)."""
    if customer_id is None:
        return None
    result = await session.execute(select(Customer.tier).where(Customer.id == customer_id))
    return result.scalar_one_or_none()


async def get_customer(session: AsyncSession, customer_id: int) -> Customer:
    """The customer with ``customer_id`` in the session's workspace."""
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer")
    return customer


async def read_customer(session: AsyncSession, customer_id: int) -> CustomerSnapshot:
    """The customer with ``customer_id`` in the session's workspace, as read for answering (through the
    object cache); NotFound when there is none. Changes go through :func:`get_customer`."""

    async def load() -> CustomerSnapshot | None:
        row = (await session.execute(select(*_CUSTOMER_COLUMNS).where(Customer.id == customer_id))).first()
        return None if row is None else CustomerSnapshot(**row._mapping)

    customer = await objects.read_through(session, CUSTOMERS, customer_id, load)
    if customer is None:
        raise NotFound("No such customer")
    return customer


async def customer_addresses(session: AsyncSession, customer_ids: Iterable[int]) -> dict[int, str]:
    """The address of each of the workspace's customers among ``customer_ids``, by id; ids of customers
    that do not exist (any more, or in this workspace) are left out."""
    wanted = set(customer_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(Customer.id, Customer.email).where(Customer.id.in_(wanted)))
    return {row.id: row.email for row in rows}


async def find_customer_by_email(session: AsyncSession, email: str) -> Customer | None:
    """The workspace's customer with this (normalised) address, if any."""
    result = await session.execute(select(Customer).where(Customer.email == email))
    return result.scalar_one_or_none()


# What a caller passes as ``found`` when it has not looked the address up (see find_or_create_customer).
NOT_LOOKED_UP: Final = "not-looked-up"


async def find_or_create_customer(
    session: AsyncSession,
    clock: Clock,
    *,
    email: str,
    name: str | None = None,
    found: Customer | Literal["not-looked-up"] | None = NOT_LOOKED_UP,
) -> Customer:
    """The customer with ``email``, created on first contact. A caller that looked the address up in
    this unit of work already (:func:`find_customer_by_email`) passes what it found as ``found``."""
    customer = await find_customer_by_email(session, email) if isinstance(found, str) else found
    if customer is not None:
        return customer
    # The address was just looked up, so a row that is not written lost a race with a concurrent first
    # contact (which committed, or wrote first and then committed while this statement waited for it).
    customer = await repository.insert_first_contact(session, clock.now(), email=email, name=name)
    if customer is not None:
        await _have_checked(session, clock, customer)
    else:
        customer = await find_customer_by_email(session, email)
        if customer is None:
            raise CustomerExists(f"A customer with the address {email} was being added at the same time")
    return customer


async def update_customer(
    session: AsyncSession,
    clock: Clock,
    customer: Customer,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Customer:
    """Change a customer's details."""
    require_version(customer.version, expected_version)
    await _ensure_unique_customer(
        session,
        email=changes.get("email") if changes.get("email") != customer.email else None,
        external_id=changes.get("external_id")
        if changes.get("external_id") != customer.external_id
        else None,
        except_id=customer.id,
    )
    if changes.get("email", customer.email) != customer.email:
        # A new address has not bounced yet.
        customer.email_bounced_at = None
        customer.email_bounce_reason = None
    for field, value in changes.items():
        setattr(customer, field, value)
    customer.updated_at = clock.now()
    await session.flush()
    return customer


async def clear_bouncing(
    session: AsyncSession,
    clock: Clock,
    address: str,
    *,
    found: Customer | Literal["not-looked-up"] | None = NOT_LOOKED_UP,
) -> Customer | None:
    """Forget that mail to ``address`` bounced: its owner just wrote from it. Returns the customer with
    ``address``, if there is one (what :func:`find_or_create_customer` takes as ``found``). A caller that
    looked the address up in this unit of work already passes what it found as ``found``."""
    customer = await find_customer_by_email(session, address.lower()) if isinstance(found, str) else found
    if customer is not None and customer.email_bounced_at is not None:
        customer.email_bounced_at = None
        customer.email_bounce_reason = None
        customer.updated_at = clock.now()
        await session.flush()
    return customer


async def mark_bouncing(session: AsyncSession, clock: Clock, addresses: Iterable[str], reason: str) -> int:
    """Record that mail to ``addresses`` came back undeliverable, on the customers who have them;
    returns how many customers were marked."""
    wanted = {address.lower() for address in addresses}
    if not wanted:
        return 0
    found = await session.execute(select(Customer).where(func.lower(Customer.email).in_(sorted(wanted))))
    now = clock.now()
    marked = 0
    for customer in found.scalars():
        customer.email_bounced_at = now
        customer.email_bounce_reason = reason[:500]
        customer.updated_at = now
        marked += 1
    await session.flush()
    return marked


async def record_crm_answer(
    session: AsyncSession,
    clock: Clock,
    customer: Customer,
    details: rules.CrmDetails | None,
    *,
    checked_at: datetime,
) -> Customer:
    """Keep what the CRM said of the customer at ``checked_at`` (see :func:`rules.crm_changes`);
    ``details`` is ``None`` when the CRM does not know the customer's address. Audited like any change
    of the customer, and a new tier re-times the customer's open tickets (``sla.clocks``)."""
    for field, value in rules.crm_changes(details, checked_at).items():
        setattr(customer, field, value)
    customer.updated_at = clock.now()
    await session.flush()
    return customer


async def list_customers(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None = None,
    tier: Tier | None = None,
    company: str | None = None,
) -> tuple[list[Customer], str | None]:
    """A page of customers by e-mail address, and the next page's cursor."""
    query = select(Customer).order_by(Customer.email, Customer.id).limit(limit + 1)
    if tier is not None:
        query = query.where(Customer.tier == tier)
    if company is not None:
        query = query.where(Customer.company == company)
    if cursor is not None:
        email, row_id = decode_cursor_as(cursor, "email", str)
        query = query.where(after_cursor(Customer.email, Customer.id, email, row_id, descending=False))
    rows = list((await session.execute(query)).scalars())
    return split_page(rows, limit, lambda last: encode_cursor("email", last.email, last.id))
