"""Benchmark of inbound e-mail: how fast arrived messages are kept, how fast one worker parses, threads
and stores them, and whether any is lost or doubled when a worker is killed while it processes them.

Run ``.venv/bin/python bench/inbound.py --help``; docs/performance.md records the results.

For each backend the script migrates a fresh database and makes a workspace with an admin, the mailbox
help@acme.example.com (also the workspace's reply address) and a first, unmeasured round of new requests
by e-mail: the tickets that the replies of the measured rounds answer. Their ids must be known before
the messages are written, and every message's bytes are made before anything is timed.

Each measured round is ``--messages`` messages: 60 % new requests from distinct senders, 40 % replies by
a ticket's customer (most naming the ticket's root Message-ID in In-Reply-To and References and sent to
the ticket's own reply address, the rest carrying only the subject token ``[#number]``), 20 % of all
with one attachment of 30 to 200 KB, some with an HTML body, every reply with quoted history.

Parts (``--parts``):

1. **direct**: *accept*, ``intake.accept`` for every message after looking its mailbox up, as the SMTP
   listener does for each message (``--accept-concurrency`` at a time); then *process*, one worker (this
   process: ``Background.start(schedule=False)`` with the in-memory queue, as ``supportdesk worker``
   runs by default) until every message is processed.
2. **smtp**: end to end. ``supportdesk mail serve`` in a child process, a child process sending every
   message over SMTP (``--smtp-concurrency`` connections), and the worker of part 1 in this process,
   all at once: from the first message sent to the last one processed.
3. **workers**: the messages are accepted, then one ``supportdesk worker`` child process processes
   them (from its start, its start-up included); then another round by ``--workers`` of them at once,
   each on its own core: what the second core adds.
4. **kill**: the messages are accepted, ``supportdesk worker`` processes them in a child process and is
   killed with SIGKILL half-way, a second worker finishes. Every message must then have made exactly
   one ticket or one comment.

A worker reads messages in a child process of its own unless ``SUPPORTDESK_MAIL_READ_IN_OWN_PROCESS``
is ``false`` in the benchmark's environment (docs/decisions/0061), which its ``supportdesk`` processes
are given too; the child's CPU is counted in the worker's, and the direct part reports it apart. The
workers part gives two rates: from the processes' start, and from the first message processed to the
last (without their start-up).

Every round is checked message by message: processed (none quarantined or left waiting), the expected
outcome (a new ticket, or a reply on the expected ticket by the expected rule), one ticket per new
request, one comment per reply.

The acknowledgements that new tickets owe their customers are written into the outbox by processing, as
always. With ``--acks skip`` (the default) this process's worker records them as sent without sending
them, so the processing figures leave out mail sending; ``--acks maildir`` sends them into a maildir
(the whole load of a worker), ``--acks off`` turns the workspace's e-mail off (none are written). The
workers and kill parts run plain ``supportdesk worker`` processes, which write theirs into a maildir
(with ``--acks off``, none).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy.event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import (
    HOST,
    RESULTS_DIR,
    SECRET_KEY,
    bench_settings,
    children_cpu_seconds,
    drop_postgres_database,
    free_port,
    machine,
    machine_cpu_seconds,
    postgres_cpu_seconds,
    print_profile,
    process_cpu_seconds,
    recreate_postgres_database,
    spawn,
)
from bench.outbox import wait_for_port, workspace_with_admin
from supportdesk.channels.email import intake, mailboxes
from supportdesk.channels.email.models import InboundMessage, InboundOutcome, InboundSource, InboundState
from supportdesk.config import Settings
from supportdesk.core.clock import SystemClock
from supportdesk.core.storage import FileStore, build_file_store
from supportdesk.db import migrate
from supportdesk.db.engine import create_engine
from supportdesk.db.session import Database
from supportdesk.db.tenancy import scope_to_workspace
from supportdesk.jobs.background import Background
from supportdesk.jobs.channels import Delivery, Sent
from supportdesk.jobs.models import OPEN_STATES, DeliveryChannel, OutboxMessage
from supportdesk.notifications.mail import threading
from supportdesk.runtime import build_background
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.workspaces import service as workspace_service

SCRIPT: Final = Path(__file__).resolve()
DEFAULT_POSTGRES_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/supportdesk_bench_inbound"
DESK: Final = "help@acme.example.com"
MAIL_FROM: Final = "desk@acme.example.com"
REPLY_SHARE: Final = 0.4
ATTACHMENT_SHARE: Final = 0.2
# Of the replies, how many name the ticket's root Message-ID; the others carry only the subject token.
BY_ID_SHARE: Final = 0.7
ATTACHMENT_BYTES: Final = (30_000, 200_000)
TARGET_PER_SECOND: Final = 200.0
# How often the parts count what was processed: often enough that the last poll adds little to a round
# of many seconds, seldom enough that counting costs the worker it shares a process with next to nothing.
POLL_SECONDS: Final = 0.1
# The parts a round is named after, in the markers and Message-IDs of its messages.
PARTS: Final = ("direct", "smtp", "workers", "kill")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the messages ---------------------------------------------------------------------------------

FIRST_NAMES: Final = (
    "Maria",
    "Jonas",
    "Aiko",
    "Tomasz",
    "Fatima",
    "Lucas",
    "Ingrid",
    "Kwame",
    "Priya",
    "Sven",
)
LAST_NAMES: Final = (
    "Lopez",
    "Becker",
    "Tanaka",
    "Nowak",
    "Haddad",
    "Moreau",
    "Berg",
    "Mensah",
    "Iyer",
    "Holm",
)
TOPICS: Final = (
    "Cannot log in after the password reset",
    "Invoice shows the wrong VAT number",
    "Export to CSV stops after a thousand rows",
    "Two-factor codes arrive late",
    "Please cancel our order",
    "Shipping address cannot be changed",
    "The mobile app crashes on start",
    "Question about the enterprise plan",
    "Refund for a duplicate payment",
    "Webhook calls time out",
)
DETAILS: Final = (
    "It started this morning and happens for every person in our team, on every browser we tried.",
    "We followed the steps in your help centre twice, with the same result each time.",
    "Our finance department needs this sorted before the end of the month, so a quick answer helps.",
    "I attached what I could find; tell me if you need anything else from our side.",
    "Nothing changed on our side as far as I know, apart from the update you announced last week.",
)
ANSWERS: Final = (
    "Thanks for the quick answer. I tried what you suggested and it still fails the same way.",
    "That worked for most of us, but two colleagues still see the old behaviour.",
    "Here is the information you asked for. Let me know if anything is missing.",
    "Any news on this? We are still blocked.",
)


@dataclass(frozen=True, slots=True)
class Opened:
    """A ticket opened by e-mail in the first round, which replies of later rounds answer."""

    ticket_id: int
    number: int
    title: str
    customer: str
    name: str


@dataclass(frozen=True, slots=True)
class Mail:
    """One message of a round and what processing must make of it."""

    raw: bytes
    message_id: str
    sender: str
    name: str
    recipient: str
    subject: str
    marker: str
    # The ticket a reply answers, and the rule that must find it; None for a new request.
    ticket_id: int | None
    rule: str
    attachment: bool

    @property
    def reply(self) -> bool:
        return self.ticket_id is not None


@dataclass(frozen=True, slots=True)
class Desk:
    """What the messages are written against."""

    workspace_id: int
    reply_key: str


def _attach(message: EmailMessage, rng: random.Random, index: int) -> None:
    kind = rng.randrange(3)
    maintype, subtype, suffix = (
        ("application", "pdf", "pdf"),
        ("image", "png", "png"),
        ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    )[kind]
    data = rng.randbytes(rng.randint(*ATTACHMENT_BYTES))
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=f"evidence-{index}.{suffix}")


def _html(paragraphs: Sequence[str], quoted: Sequence[str] = (), quote_header: str = "") -> str:
    body = "".join(f"<p>{text}</p>" for text in paragraphs)
    if quoted:
        lines = "<br>".join(quoted)
        body += f'<div class="quote"><div>{quote_header}</div><blockquote>{lines}</blockquote></div>'
    return f"<html><body>{body}</body></html>"


def _message(sender_name: str, sender: str, recipient: str, subject: str, message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{sender_name} <{sender}>"
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    return message


def new_request(part: str, index: int, rng: random.Random, *, attachment: bool, style: str) -> Mail:
    """A customer's first message: plain text, text with an HTML alternative, or HTML only."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    marker = f"ref {part}-{index:06d}"
    sender = f"{first.lower()}.{last.lower()}.{part}{index}@customer{index % 89}.example.org"
    subject = f"{rng.choice(TOPICS)} ({marker})"
    message_id = f"<{part}.{index}.{rng.getrandbits(48):012x}@mail.customer{index % 89}.example.org>"
    paragraphs = [
        "Hello,",
        f"{subject.split(' (')[0]}. {rng.choice(DETAILS)} ({marker})",
        rng.choice(DETAILS),
        f"Best regards,\n{first} {last}",
    ]
    message = _message(f"{first} {last}", sender, DESK, subject, message_id)
    if style == "html":
        message.set_content(_html(paragraphs), subtype="html")
    else:
        message.set_content("\n\n".join(paragraphs) + f"\n\n-- \n{first} {last}\nCustomer since 2019\n")
        if style == "alternative":
            message.add_alternative(_html(paragraphs), subtype="html")
    if attachment:
        _attach(message, rng, index)
    return Mail(
        raw=message.as_bytes(policy=policy.SMTP),
        message_id=message_id,
        sender=sender,
        name=f"{first} {last}",
        recipient=DESK,
        subject=subject,
        marker=marker,
        ticket_id=None,
        rule="new-ticket",
        attachment=attachment,
    )


def reply(
    part: str,
    index: int,
    rng: random.Random,
    desk: Desk,
    ticket: Opened,
    *,
    attachment: bool,
    html: bool,
    by_id: bool,
) -> Mail:
    """The customer's answer to the acknowledgement of ``ticket``, with the quoted history; by its ids
    and to the ticket's reply address, or (``by_id`` false) a new message that carries only the token."""
    marker = f"ref {part}-{index:06d}"
    token_subject = threading.with_subject_token(ticket.title, ticket.number)
    subject = f"Re: {token_subject}"
    domain = ticket.customer.rpartition("@")[2]
    message_id = f"<{part}.{index}.{rng.getrandbits(48):012x}@mail.{domain}>"
    if by_id:
        recipient = threading.ticket_reply_address(DESK, desk.reply_key, desk.workspace_id, ticket.ticket_id)
    else:
        recipient = DESK
    message = _message(ticket.name, ticket.customer, recipient, subject, message_id)
    if by_id:
        root = threading.message_id(
            threading.root_key(desk.workspace_id, ticket.ticket_id), MAIL_FROM.partition("@")[2]
        )
        message["In-Reply-To"] = root
        message["References"] = root
    paragraphs = [f"{rng.choice(ANSWERS)} ({marker})", f"Thanks,\n{ticket.name}"]
    quote_header = f"On Mon, 7 Dec 2026 at 09:{index % 60:02d}, Acme Support <{DESK}> wrote:"
    quoted = [
        "> Hello,",
        ">",
        f"> we received your request {threading.subject_token(ticket.number)} and will answer soon.",
        "> Reply to this e-mail to add anything.",
        ">",
        "> Acme Support",
    ]
    text = "\n\n".join(paragraphs) + "\n\n" + quote_header + "\n" + "\n".join(quoted) + "\n"
    message.set_content(text)
    if html:
        message.add_alternative(_html(paragraphs, quoted, quote_header), subtype="html")
    if attachment:
        _attach(message, rng, index)
    return Mail(
        raw=message.as_bytes(policy=policy.SMTP),
        message_id=message_id,
        sender=ticket.customer,
        name=ticket.name,
        recipient=recipient,
        subject=subject,
        marker=marker,
        ticket_id=ticket.ticket_id,
        rule="our-message-id" if by_id else "subject-token",
        attachment=attachment,
    )


def plan_round(
    part: str, count: int, desk: Desk, opened: Sequence[Opened], rng: random.Random, *, warmup: bool = False
) -> list[Mail]:
    """``count`` messages in a random order: the mix the module describes, or only plain new requests
    for the first round."""
    replies = 0 if warmup else min(round(count * REPLY_SHARE), len(opened))
    kinds = [True] * replies + [False] * (count - replies)
    rng.shuffle(kinds)
    with_files = set() if warmup else set(rng.sample(range(count), round(count * ATTACHMENT_SHARE)))
    targets = iter(rng.sample(list(opened), replies))
    mails = []
    for index, is_reply in enumerate(kinds):
        attachment = index in with_files
        if is_reply:
            ticket = next(targets)
            html = rng.random() < 0.4
            mails.append(
                reply(
                    part,
                    index,
                    rng,
                    desk,
                    ticket,
                    attachment=attachment,
                    html=html,
                    by_id=rng.random() < BY_ID_SHARE,
                )
            )
        else:
            style = "plain" if warmup else rng.choices(("plain", "alternative", "html"), weights=(5, 3, 2))[0]
            mails.append(new_request(part, index, rng, attachment=attachment, style=style))
    return mails


def describe(mails: Sequence[Mail]) -> dict[str, Any]:
    sizes = sorted(len(mail.raw) for mail in mails)
    return {
        "messages": len(mails),
        "new_requests": sum(not mail.reply for mail in mails),
        "replies": sum(mail.reply for mail in mails),
        "replies_by_id": sum(mail.rule == "our-message-id" for mail in mails),
        "replies_by_token": sum(mail.rule == "subject-token" for mail in mails),
        "with_attachment": sum(mail.attachment for mail in mails),
        "bytes": sum(sizes),
        "median_bytes": sizes[len(sizes) // 2],
        "largest_bytes": sizes[-1],
    }


# --- set-up ---------------------------------------------------------------------------------------


@dataclass
class Bench:
    """One backend's database, settings and desk."""

    backend: str
    url: str
    database: Database
    settings: Settings
    store: FileStore
    desk: Desk
    work_dir: Path
    opened: list[Opened] = field(default_factory=list)


def worker_settings(url: str, work_dir: Path, backend: str, args: argparse.Namespace) -> Settings:
    """Production settings whose files, maildir and sender address belong to this run."""
    return bench_settings(url).model_copy(
        update={
            "attachment_dir": work_dir / f"files-{backend}",
            "mail_dir": work_dir / f"mail-{backend}",
            "mail_from": MAIL_FROM,
            "outbox_batch": args.batch,
        }
    )


async def make_desk(database: Database, args: argparse.Namespace) -> Desk:
    workspace_id, _admin = await workspace_with_admin(database, "acme")
    clock = SystemClock()
    async with database.unit_of_work() as session:
        scope_to_workspace(session.sync_session, workspace_id)
        await mailboxes.create_mailbox(session, clock, workspace_id=workspace_id, address=DESK, name="Help")
        workspace = await workspace_service.get_workspace(session, workspace_id)
        changes: dict[str, Any] = {"email_reply_address": DESK}
        if args.acks == "off":
            changes["email_enabled"] = False
        await workspace_service.update_settings(session, workspace, changes)
        return Desk(workspace_id, workspace.email_reply_key)


async def opened_tickets(bench: Bench, mails: Sequence[Mail]) -> list[Opened]:
    """The tickets the first round opened, for the replies of the later ones."""
    names = {mail.message_id: mail.name for mail in mails}
    async with bench.database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, bench.desk.workspace_id)
        rows = await session.execute(
            select(InboundMessage.message_id, Ticket.id, Ticket.number, Ticket.title, Ticket.customer_email)
            .join(Ticket, Ticket.id == InboundMessage.ticket_id)
            .where(InboundMessage.outcome == InboundOutcome.new_ticket)
        )
        return [
            Opened(
                int(row.id),
                int(row.number),
                str(row.title),
                str(row.customer_email),
                names[str(row.message_id)],
            )
            for row in rows.all()
            if row.message_id in names
        ]


# --- counting and checking ------------------------------------------------------------------------


async def last_inbound_id(bench: Bench) -> int:
    async with bench.database.unit_of_work(readonly=True) as session:
        return int(
            (await session.execute(select(func.coalesce(func.max(InboundMessage.id), 0)))).scalar_one()
        )


async def arrived(bench: Bench, after_id: int) -> int:
    """How many messages arrived after ``after_id``."""
    async with bench.database.unit_of_work(readonly=True) as session:
        query = select(func.count()).select_from(InboundMessage).where(InboundMessage.id > after_id)
        return int((await session.execute(query)).scalar_one())


async def processing_span(bench: Bench, after_id: int) -> float:
    """Seconds from the first to the last processing of the messages that arrived after ``after_id``
    (each message's ``processed_at``): the processes' rate once they run, without their start-up."""
    async with bench.database.unit_of_work(readonly=True) as session:
        query = select(func.min(InboundMessage.processed_at), func.max(InboundMessage.processed_at)).where(
            InboundMessage.id > after_id
        )
        first, last = (await session.execute(query)).one()
    return (last - first).total_seconds() if first is not None and last is not None else float("nan")


async def waiting(bench: Bench, after_id: int) -> int:
    """How many of the messages that arrived after ``after_id`` still wait to be processed (an index
    range, so that counting often costs the worker next to nothing)."""
    async with bench.database.unit_of_work(readonly=True) as session:
        query = (
            select(func.count())
            .select_from(InboundMessage)
            .where(
                InboundMessage.workspace_id == bench.desk.workspace_id,
                InboundMessage.state == InboundState.received,
                InboundMessage.id > after_id,
            )
        )
        return int((await session.execute(query)).scalar_one())


async def outbox_open(bench: Bench, channel: DeliveryChannel) -> dict[str, int]:
    async with bench.database.unit_of_work(readonly=True) as session:
        rows = await session.execute(
            select(OutboxMessage.state, func.count())
            .where(OutboxMessage.channel == channel, OutboxMessage.state.in_(OPEN_STATES))
            .group_by(OutboxMessage.state)
        )
        return {str(state): int(count) for state, count in rows.all()}


async def _in_chunks(session: AsyncSession, query: Any, column: Any, values: Sequence[Any]) -> list[Any]:
    """The rows of ``query`` where ``column`` is one of ``values``, asked 500 values at a time."""
    rows: list[Any] = []
    for start in range(0, len(values), 500):
        found = await session.execute(query.where(column.in_(values[start : start + 500])))
        rows.extend(found.all())
    return rows


async def check(bench: Bench, mails: Sequence[Mail]) -> dict[str, Any]:
    """What became of every message of a round; see the module's docstring."""
    by_id = {mail.message_id: mail for mail in mails}
    subjects = {mail.subject for mail in mails if not mail.reply}
    if len(subjects) != sum(not mail.reply for mail in mails):
        raise ValueError("two new requests of the round share a subject")
    targets = sorted({mail.ticket_id for mail in mails if mail.ticket_id is not None})
    async with bench.database.unit_of_work(readonly=True) as session:
        scope_to_workspace(session.sync_session, bench.desk.workspace_id)
        inbound = select(
            InboundMessage.message_id,
            InboundMessage.state,
            InboundMessage.outcome,
            InboundMessage.thread_rule,
            InboundMessage.ticket_id,
            InboundMessage.attempts,
        )
        rows = await _in_chunks(session, inbound, InboundMessage.message_id, list(by_id))
        titles = Counter(
            str(row.title)
            for row in await _in_chunks(session, select(Ticket.title), Ticket.title, sorted(subjects))
        )
        comments: dict[int, list[str]] = {}
        by_customers = select(Comment.ticket_id, Comment.content).where(
            Comment.author_customer_id.is_not(None)
        )
        for row in await _in_chunks(session, by_customers, Comment.ticket_id, targets):
            comments.setdefault(int(row.ticket_id), []).append(str(row.content))
    arrivals = Counter(str(row.message_id) for row in rows)
    processed = {str(row.message_id) for row in rows if row.state == InboundState.processed}
    result: dict[str, int] = Counter()
    for row in rows:
        mail = by_id[str(row.message_id)]
        result[f"state_{row.state}"] += 1
        if row.attempts > 1:
            result["attempted_more_than_once"] += 1
        if row.state != InboundState.processed:
            continue
        expected = InboundOutcome.reply if mail.reply else InboundOutcome.new_ticket
        if row.outcome != expected or (mail.reply and row.ticket_id != mail.ticket_id):
            result["wrong_outcome"] += 1
        elif row.thread_rule != mail.rule:
            result["wrong_rule"] += 1
    # Per message: what it must have made (its ticket, or its comment on the ticket it answers), found how
    # many times. Lost: never accepted, never processed, or nothing made; duplicated: made more than once.
    for mail in mails:
        if mail.ticket_id is None:
            what, made = "tickets", titles[mail.subject]
        else:
            what = "comments"
            made = sum(f"({mail.marker})" in content for content in comments.get(mail.ticket_id, []))
        if made == 0:
            result[f"{what}_missing"] += 1
        elif made > 1:
            result[f"{what}_extra"] += made - 1
        if arrivals[mail.message_id] == 0:
            result["not_accepted"] += 1
        if arrivals[mail.message_id] == 0 or mail.message_id not in processed or made == 0:
            result["lost"] += 1
        if arrivals[mail.message_id] > 1 or made > 1:
            result["duplicated"] += 1
    result["accepted"] = len(arrivals)
    result["accepted_twice"] = sum(count - 1 for count in arrivals.values())
    for always in ("lost", "duplicated", "wrong_outcome", "wrong_rule"):
        result[always] += 0
    return dict(sorted(result.items()))


# --- accepting and processing ---------------------------------------------------------------------


async def accept_all(bench: Bench, mails: Sequence[Mail], concurrency: int) -> dict[str, Any]:
    """Keep every message as the SMTP listener does: look its mailbox up (RCPT TO), then accept (DATA)."""
    clock = SystemClock()
    queue = iter(mails)
    failures: list[str] = []

    async def acceptor() -> None:
        for mail in queue:
            try:
                mailbox = await intake.mailbox_for(bench.database, mail.recipient)
                if mailbox is None:
                    raise RuntimeError(f"no mailbox for {mail.recipient}")
                await intake.accept(
                    bench.database,
                    clock,
                    bench.store,
                    mail.raw,
                    source=InboundSource.smtp,
                    mailboxes=[mailbox],
                    recipients=[mail.recipient],
                    envelope_sender=mail.sender,
                )
            except Exception as error:  # noqa: BLE001  (counted and reported; the round goes on)
                failures.append(f"{type(error).__name__}: {error}")

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(acceptor() for _ in range(concurrency)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    accepted = len(mails) - len(failures)
    return {
        "messages": len(mails),
        "accepted": accepted,
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "seconds": round(seconds, 3),
        "per_second": round(accepted / seconds, 1),
        "cpu_ms_per_message": round(1000 * cpu / max(accepted, 1), 3),
        "cpu_share": round(cpu / seconds, 2),
    }


async def unsent(delivery: Delivery) -> Sent:
    """The e-mail channel's stand-in with ``--acks skip``: the acknowledgement is recorded, not sent."""
    return Sent(provider="bench-not-sent")


@dataclass(frozen=True)
class Machine:
    """What the machine's CPU did from one moment on: how busy it was, and PostgreSQL's part of that, so
    that a part can say how much CPU went to neither what it measures nor the database (a run that was
    not quiet)."""

    busy: float
    total: float
    database: float
    load: float

    @classmethod
    def now(cls) -> Machine:
        busy, total = machine_cpu_seconds()
        return cls(busy, total, postgres_cpu_seconds(), os.getloadavg()[0])

    def shares(self, later: Machine, backend: str, measured_cpu: float) -> dict[str, Any]:
        """Shares of the machine's CPU (all cores) from this moment to ``later``: PostgreSQL's (on that
        backend), and everything's but PostgreSQL's and ``measured_cpu`` (the processes measured)."""
        busy, total = later.busy - self.busy, later.total - self.total
        database = later.database - self.database if backend == "postgresql" else 0.0
        if total <= 0:
            return {}
        return {
            "database_cpu_share": round(database / total, 2) if backend == "postgresql" else None,
            "others_cpu_share": round(max(0.0, busy - database - measured_cpu) / total, 2),
            "load_average_before": round(self.load, 2),
        }


@dataclass
class Worker:
    """The background work of one worker process, run in this one (see :func:`start_worker`)."""

    background: Background
    started: float
    cpu_started: float
    profiler: cProfile.Profile | None


async def start_worker(bench: Bench, args: argparse.Namespace, *, profile: bool = False) -> Worker:
    """This process's worker: the relay and the in-memory queue, as ``supportdesk worker`` runs by
    default, with ``--acks skip`` recording the acknowledgements instead of sending them."""
    background = build_background(bench.database, SystemClock(), bench.settings, file_store=bench.store)
    if args.acks == "skip":
        background.senders = {**background.senders, DeliveryChannel.email: unsent}
    profiler = cProfile.Profile(time.process_time) if profile else None
    if profiler is not None:
        profiler.enable()
    worker = Worker(background, time.perf_counter(), time.process_time(), profiler)
    await background.start(schedule=False)
    return worker


async def stop_worker(worker: Worker) -> None:
    await worker.background.stop()
    if worker.profiler is not None:
        worker.profiler.disable()


async def wait_processed(
    bench: Bench, after_id: int, expected: int, args: argparse.Namespace, *, poll: float = POLL_SECONDS
) -> float:
    """Wait until ``expected`` messages arrived after ``after_id`` and none of them waits; returns when
    (``time.perf_counter``), or raises after ``--max-seconds``."""
    deadline = time.perf_counter() + args.max_seconds
    total = 0
    while True:
        if total < expected:
            total = await arrived(bench, after_id)
        left = await waiting(bench, after_id)
        if total >= expected and left == 0:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{left} of {total} messages still waiting after {args.max_seconds:.0f} s")
        await asyncio.sleep(poll)


class Statements:
    """The SQL statements a part's worker sends, by kind: the first words of each, with the tables it
    names (the benchmark's own polling counted apart, by the ``WHERE`` it uses)."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()

    def __call__(self, conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        self.kinds[statement_kind(statement)] += 1

    def report(self, messages: int) -> dict[str, Any]:
        counted = {kind: count for kind, count in self.kinds.items() if not kind.startswith("BEGIN")}
        return {
            "per_message": round(sum(counted.values()) / messages, 2),
            "transactions_per_message": round(
                sum(count for kind, count in self.kinds.items() if kind.startswith("BEGIN")) / messages, 2
            ),
            "by_kind_per_message": {
                kind: round(count / messages, 2)
                for kind, count in sorted(counted.items(), key=lambda item: -item[1])
            },
        }


_SQL_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+\"?(\w+)", re.IGNORECASE)


def statement_kind(statement: str) -> str:
    """``SELECT tickets`` or ``INSERT comments``: the statement's verb and the tables it names."""
    verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
    tables = list(dict.fromkeys(_SQL_TABLE.findall(statement)))
    return " ".join([verb, *tables])


def callgrind_counting(*, on: bool) -> None:
    """Switch callgrind's counting of this process on or off (the process runs under
    ``valgrind --tool=callgrind --instr-atstart=no``)."""
    subprocess.run(  # noqa: S603  (valgrind's own tool, on this process)
        [
            shutil.which("callgrind_control") or "callgrind_control",
            f"--instr={'on' if on else 'off'}",
            str(os.getpid()),
        ],
        check=True,
        capture_output=True,
    )


async def drain(
    bench: Bench,
    after_id: int,
    expected: int,
    args: argparse.Namespace,
    *,
    profile: Path | None = None,
    statements: Statements | None = None,
    count_instructions: bool = False,
) -> dict[str, Any]:
    """Process what arrived after ``after_id`` with this process's worker; returns the rate and CPU.
    With ``statements``, the worker's SQL statements are counted into it (the polling's are too, a few
    a tenth of a second, and reported apart by the caller). With ``count_instructions``, callgrind
    counts this process's instructions while the worker processes (see ``--count-instructions``)."""
    acks_before = await count_channel(bench, DeliveryChannel.email)
    machine_started = Machine.now()
    if statements is not None:
        sqlalchemy.event.listen(bench.database.engine.sync_engine, "before_cursor_execute", statements)
    worker = await start_worker(bench, args, profile=profile is not None)
    if count_instructions:
        callgrind_counting(on=True)
    try:
        # Under callgrind, the benchmark's own polling would be counted with the worker: it polls seldom.
        ended = await wait_processed(
            bench, after_id, expected, args, poll=2.0 if count_instructions else POLL_SECONDS
        )
        if count_instructions:
            callgrind_counting(on=False)
        seconds = ended - worker.started
        # The process the worker reads messages in started with the first of them.
        reader_cpu = children_cpu_seconds(os.getpid())
        cpu = time.process_time() - worker.cpu_started + reader_cpu
        shares = machine_started.shares(Machine.now(), bench.backend, cpu)
    finally:
        await stop_worker(worker)
        if statements is not None:
            sqlalchemy.event.remove(bench.database.engine.sync_engine, "before_cursor_execute", statements)
    if worker.profiler is not None and profile is not None:
        worker.profiler.dump_stats(str(profile))
        with profile.with_suffix(".txt").open("w") as out:
            print_profile(profile, out)
    return {
        "messages": expected,
        "seconds": round(seconds, 3),
        "per_second": round(expected / seconds, 1),
        # How busy the worker's core was: near 1.0, the worker itself is the limit.
        "worker_cpu_share": round(cpu / seconds, 2),
        # The worker's CPU with that of the process it reads messages in, and the latter's part of it.
        "worker_cpu_ms_per_message": round(1000 * cpu / expected, 3),
        "reader_cpu_ms_per_message": round(1000 * reader_cpu / expected, 3),
        **shares,
        "acknowledgements_written": await count_channel(bench, DeliveryChannel.email) - acks_before,
        "acknowledgements_open_at_end": sum((await outbox_open(bench, DeliveryChannel.email)).values()),
    }


async def inbound_jobs_tried_again(bench: Bench, after_id: int) -> int:
    """How many processing jobs of the messages that arrived after ``after_id`` took more than one attempt:
    those a killed worker had under way, handed out again when their lease ran out."""
    async with bench.database.unit_of_work(readonly=True) as session:
        rows = await session.execute(
            select(OutboxMessage.dedupe_key, OutboxMessage.attempts).where(
                OutboxMessage.channel == DeliveryChannel.inbound
            )
        )
        return sum(
            1 for key, attempts in rows.all() if int(str(key).split(":")[1]) > after_id and attempts > 1
        )


async def count_channel(bench: Bench, channel: DeliveryChannel) -> int:
    async with bench.database.unit_of_work(readonly=True) as session:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == channel)
        return int((await session.execute(query)).scalar_one())


# --- the parts ------------------------------------------------------------------------------------


async def warm_up(bench: Bench, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """The first round: new requests whose tickets the later rounds' replies answer. Not measured."""
    count = max(1, round(args.messages * REPLY_SHARE))
    mails = plan_round("first", count, bench.desk, [], rng, warmup=True)
    after = await last_inbound_id(bench)
    accepted = await accept_all(bench, mails, args.accept_concurrency)
    processed = await drain(bench, after, count, args)
    bench.opened = await opened_tickets(bench, mails)
    if len(bench.opened) != count:
        raise RuntimeError(f"the first round opened {len(bench.opened)} tickets of {count}")
    if bench.backend == "postgresql":
        # The tables were empty when the run began. Autovacuum analyses a table once a tenth of it has
        # changed, but only every minute: the measured rounds would start with the statistics of empty
        # tables, under which every index of a table costs the same and a look-up by primary key or by
        # address may read all of a workspace's rows instead. A desk that has been up a minute has them.
        async with bench.database.engine.connect() as connection:
            await connection.execute(sqlalchemy.text("ANALYZE"))
            await connection.commit()
    return {"accepted": accepted, "processed": processed}


async def direct(bench: Bench, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    mails = plan_round("direct", args.messages, bench.desk, bench.opened, rng)
    log(f"[{bench.backend}] direct: {describe(mails)}")
    after = await last_inbound_id(bench)
    accepted = await accept_all(bench, mails, args.accept_concurrency)
    profile = None
    if args.profile:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        profile = RESULTS_DIR / f"profile-inbound-{args.stamp}-{bench.backend}.prof"
    statements = Statements() if args.statements else None
    processed = await drain(
        bench,
        after,
        accepted["accepted"],
        args,
        profile=profile,
        statements=statements,
        count_instructions=args.count_instructions,
    )
    if statements is not None:
        processed["statements"] = statements.report(accepted["accepted"])
    both = accepted["seconds"] + processed["seconds"]
    return {
        "mix": describe(mails),
        "accept": accepted,
        "process": processed,
        "one_after_the_other_per_second": round(len(mails) / both, 1),
        "check": await check(bench, mails),
        **({"profile": str(profile.relative_to(SCRIPT.parent.parent))} if profile else {}),
    }


def child_env(bench: Bench, **extra: str) -> dict[str, str]:
    """The environment of a ``supportdesk`` child process: this run's settings, nothing inherited."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SUPPORTDESK_")}
    env.update(
        {
            "SUPPORTDESK_ENV": "production",
            "SUPPORTDESK_DATABASE_URL": bench.url,
            "SUPPORTDESK_SECRET_KEY": SECRET_KEY,
            "SUPPORTDESK_AUTO_MIGRATE": "false",
            "SUPPORTDESK_LOG_LEVEL": "warning",
            "SUPPORTDESK_ATTACHMENT_DIR": str(bench.settings.attachment_dir),
            "SUPPORTDESK_MAIL_DIR": str(bench.settings.mail_dir),
            "SUPPORTDESK_MAIL_FROM": MAIL_FROM,
            "SUPPORTDESK_OUTBOX_BATCH": str(bench.settings.outbox_batch),
            "SUPPORTDESK_MAIL_READ_IN_OWN_PROCESS": str(bench.settings.mail_read_in_own_process).lower(),
            **extra,
        }
    )
    return env


def spawn_cli(bench: Bench, arguments: list[str], log_name: str, **extra: str) -> subprocess.Popen[bytes]:
    """``supportdesk <arguments>`` in a child process, in the run's folder (no .env of the checkout)."""
    log_path = bench.work_dir / log_name
    with log_path.open("wb") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "supportdesk.cli", *arguments],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(bench, **extra),
            cwd=bench.work_dir,
        )


def stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_sender(port: int, source: Path, record: Path, concurrency: int) -> None:
    """The SMTP clients' process: send every message of ``source`` to ``port`` over ``concurrency``
    connections, several messages per connection as a mail server does; write the times to ``record``."""
    import aiosmtplib

    items = json.loads(source.read_text())
    failures: list[str] = []

    async def connection(share: list[list[str]]) -> None:
        client = aiosmtplib.SMTP(hostname=HOST, port=port, timeout=120, start_tls=False)
        await client.connect()
        try:
            for sender, recipient, raw in share:
                try:
                    await client.sendmail(sender, [recipient], raw.encode("latin-1"))
                except aiosmtplib.SMTPException as error:
                    failures.append(f"{type(error).__name__}: {error}")
        finally:
            await client.quit()

    async def send_all() -> dict[str, Any]:
        started, cpu_started = time.time(), time.process_time()
        await asyncio.gather(*(connection(items[number::concurrency]) for number in range(concurrency)))
        return {
            "started": started,
            "finished": time.time(),
            "cpu_seconds": time.process_time() - cpu_started,
            "sent": len(items) - len(failures),
            "failures": failures[:5],
            "failed": len(failures),
        }

    record.write_text(json.dumps(asyncio.run(send_all())))


async def smtp(bench: Bench, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """End to end: the listener and the SMTP clients in child processes, the worker in this one."""
    mails = plan_round("smtp", args.messages, bench.desk, bench.opened, rng)
    source = bench.work_dir / f"smtp-{bench.backend}.json"
    source.write_text(
        json.dumps([[mail.sender, mail.recipient, mail.raw.decode("latin-1")] for mail in mails])
    )
    record = bench.work_dir / f"smtp-{bench.backend}.times.json"
    record.unlink(missing_ok=True)
    port = free_port()
    listener = spawn_cli(
        bench,
        ["mail", "serve", "--host", HOST, "--port", str(port), "--smtp"],
        f"listener-{bench.backend}.log",
    )
    after = await last_inbound_id(bench)
    acks_before = await count_channel(bench, DeliveryChannel.email)
    try:
        await wait_for_port(port, seconds=60)
        listener_cpu = process_cpu_seconds(listener.pid)
        worker = await start_worker(bench, args)
        try:
            sender = spawn(
                [
                    sys.executable,
                    str(SCRIPT),
                    "--smtp-send",
                    "--port",
                    str(port),
                    "--source",
                    str(source),
                    "--record",
                    str(record),
                    "--smtp-concurrency",
                    str(args.smtp_concurrency),
                ],
                bench.work_dir / f"sender-{bench.backend}.log",
            )
            cpu_started = time.process_time()
            machine_started = Machine.now()
            ended = await wait_processed(bench, after, len(mails), args)
            ended_at = time.time() - (time.perf_counter() - ended)
            worker_cpu = time.process_time() - cpu_started
            listener_cpu = process_cpu_seconds(listener.pid) - listener_cpu
            machine_ended = Machine.now()
            if sender.wait(timeout=60) != 0:
                tail = (bench.work_dir / f"sender-{bench.backend}.log").read_text()[-2000:]
                raise RuntimeError(f"the SMTP clients failed:\n{tail}")
        finally:
            await stop_worker(worker)
    finally:
        stop_child(listener)
    times = json.loads(record.read_text())
    # The clients' CPU is known only now; they were done before the worker was.
    shares = machine_started.shares(
        machine_ended, bench.backend, worker_cpu + listener_cpu + times["cpu_seconds"]
    )
    sending = times["finished"] - times["started"]
    seconds = ended_at - times["started"]
    return {
        "mix": describe(mails),
        "sent": times["sent"],
        "send_failures": times["failed"],
        "sending_seconds": round(sending, 3),
        "accepted_per_second": round(times["sent"] / sending, 1),
        "seconds": round(seconds, 3),
        "per_second": round(len(mails) / seconds, 1),
        "after_the_last_send_seconds": round(ended_at - times["finished"], 3),
        "listener_cpu_ms_per_message": round(1000 * listener_cpu / len(mails), 3),
        "worker_cpu_ms_per_message": round(1000 * worker_cpu / len(mails), 3),
        "sender_cpu_ms_per_message": round(1000 * times["cpu_seconds"] / len(mails), 3),
        **shares,
        "acknowledgements_written": await count_channel(bench, DeliveryChannel.email) - acks_before,
        "check": await check(bench, mails),
    }


async def processes(bench: Bench, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """A round processed by one ``supportdesk worker`` process, then another round by ``--workers`` of
    them at once: what a second process on the second core adds."""
    result: dict[str, Any] = {}
    for count in sorted({1, args.workers}):
        mails = plan_round(f"workers{count}", args.messages, bench.desk, bench.opened, rng)
        after = await last_inbound_id(bench)
        await accept_all(bench, mails, args.accept_concurrency)
        machine_started = Machine.now()
        started = time.perf_counter()
        workers = [
            spawn_cli(bench, ["worker"], f"workers-{count}-{number}-{bench.backend}.log")
            for number in range(count)
        ]
        try:
            await wait_processed(bench, after, len(mails), args)
            seconds = time.perf_counter() - started
            # Each process with the process it reads messages in.
            cpu = sum(
                process_cpu_seconds(worker.pid) + children_cpu_seconds(worker.pid) for worker in workers
            )
            shares = machine_started.shares(Machine.now(), bench.backend, cpu)
        finally:
            for worker in workers:
                stop_child(worker)
        result[str(count)] = {
            "processes": count,
            "messages": len(mails),
            # From starting the processes: their start-up (about a second) is counted.
            "seconds": round(seconds, 3),
            "per_second": round(len(mails) / seconds, 1),
            # From the first message processed to the last: the rate once the processes run.
            "running_per_second": round((len(mails) - 1) / await processing_span(bench, after), 1),
            "workers_cpu_ms_per_message": round(1000 * cpu / len(mails), 3),
            **shares,
            # Jobs that took a second attempt: a failure (a lock timeout, a deadlock) costs its CPU twice.
            "jobs_tried_again": await inbound_jobs_tried_again(bench, after),
            "check": await check(bench, mails),
        }
    return result


async def kill(bench: Bench, args: argparse.Namespace, rng: random.Random) -> dict[str, Any]:
    """A ``supportdesk worker`` killed with SIGKILL half-way through the round, then another one."""
    mails = plan_round("kill", args.messages, bench.desk, bench.opened, rng)
    after = await last_inbound_id(bench)
    accepted = await accept_all(bench, mails, args.accept_concurrency)
    lease = str(args.lease)
    first = spawn_cli(
        bench, ["worker"], f"worker-1-{bench.backend}.log", SUPPORTDESK_DELIVERY_LEASE_SECONDS=lease
    )
    started = time.perf_counter()
    try:
        deadline = started + args.max_seconds
        while True:
            done = len(mails) - await waiting(bench, after)
            if done >= args.kill_at * len(mails):
                break
            if first.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"the first worker stopped or stalled at {done} of {len(mails)} processed")
            await asyncio.sleep(POLL_SECONDS / 10)
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    killed_after = time.perf_counter() - started
    at_kill = {
        "processed": len(mails) - await waiting(bench, after),
        "outbox": await outbox_open(bench, DeliveryChannel.inbound),
    }
    second = spawn_cli(
        bench, ["worker"], f"worker-2-{bench.backend}.log", SUPPORTDESK_DELIVERY_LEASE_SECONDS=lease
    )
    resumed = time.perf_counter()
    try:
        await wait_processed(bench, after, len(mails), args)
        finished = time.perf_counter() - resumed
        # Messages whose processing committed before the kill, but whose outcome the first worker never
        # recorded, are handed out again when their lease ends: wait for those too, and check after.
        deadline = time.perf_counter() + args.max_seconds
        while time.perf_counter() < deadline:
            if not await outbox_open(bench, DeliveryChannel.inbound):
                break
            await asyncio.sleep(0.1)
        settled = time.perf_counter() - resumed
    finally:
        stop_child(second)
    return {
        "mix": describe(mails),
        "accepted": accepted["accepted"],
        "lease_seconds": args.lease,
        "killed_after_seconds": round(killed_after, 3),
        "at_kill": at_kill,
        "second_worker_processed_rest_seconds": round(finished, 3),
        "outbox_settled_seconds": round(settled, 3),
        "outbox_open_at_end": await outbox_open(bench, DeliveryChannel.inbound),
        "jobs_tried_again": await inbound_jobs_tried_again(bench, after),
        "check": await check(bench, mails),
    }


# --- driver ---------------------------------------------------------------------------------------


async def run_backend(backend: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    if backend == "postgresql":
        url = args.postgres_url
        await recreate_postgres_database(url)
    else:
        url = f"sqlite+aiosqlite:///{work_dir / 'bench-inbound.db'}"
    settings = worker_settings(url, work_dir, backend, args)
    database = Database(create_engine(settings))
    rng = random.Random(f"{args.seed}:{backend}")
    try:
        await migrate.upgrade(database.engine)
        async with database.engine.connect() as connection:
            version = ".".join(map(str, connection.dialect.server_version_info or ()))
        desk = await make_desk(database, args)
        bench = Bench(backend, url, database, settings, build_file_store(settings), desk, work_dir)
        log(f"[{backend}] first round: {round(args.messages * REPLY_SHARE)} new requests")
        result: dict[str, Any] = {"version": version, "first_round": await warm_up(bench, args, rng)}
        for part, measure in (("direct", direct), ("smtp", smtp), ("workers", processes), ("kill", kill)):
            if part in args.parts:
                log(f"[{backend}] {part}")
                result[part] = await measure(bench, args, rng)
                log(f"[{backend}] {part}: {json.dumps(result[part])}")
        return result
    finally:
        await database.dispose()
        if backend == "postgresql":
            await drop_postgres_database(url)


def verdict(per_second: float) -> str:
    return "met" if per_second >= TARGET_PER_SECOND else "NOT met"


def markdown(report: dict[str, Any]) -> list[str]:
    lines = [
        "| backend | measured | messages | seconds | messages/s | CPU ms per message "
        "| PostgreSQL / others' CPU | lost / duplicated / wrong |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    targets = []
    for backend in ("sqlite", "postgresql"):
        result = report.get(backend)
        if result is None:
            continue
        if "direct" in result:
            part = result["direct"]
            checked = _checked(part["check"])
            accept, process = part["accept"], part["process"]
            lines.append(
                f"| {backend} | accept (intake.accept, {report['args']['accept_concurrency']} at a time) "
                f"| {accept['accepted']} | {accept['seconds']:.2f} | {accept['per_second']:.0f} "
                f"| {accept['cpu_ms_per_message']:.2f} | | |"
            )
            lines.append(
                f"| {backend} | process (one worker, acks {report['args']['acks']}) | {process['messages']} "
                f"| {process['seconds']:.2f} | **{process['per_second']:.0f}** "
                f"| {process['worker_cpu_ms_per_message']:.2f} (worker) | {_shares(process)} | {checked} |"
            )
            targets.append(
                f"- {backend}: processing {process['per_second']:.0f} messages/s on one worker "
                f"(target >= {TARGET_PER_SECOND:.0f}/s): {verdict(process['per_second'])}"
            )
        if "smtp" in result:
            part = result["smtp"]
            lines.append(
                f"| {backend} | SMTP end to end (listener, {report['args']['smtp_concurrency']} connections, "
                f"worker at once) | {part['sent']} | {part['seconds']:.2f} | **{part['per_second']:.0f}** "
                f"| {part['worker_cpu_ms_per_message']:.2f} (worker) + "
                f"{part['listener_cpu_ms_per_message']:.2f} (listener) | {_shares(part)} "
                f"| {_checked(part['check'])} |"
            )
            lines.append(
                f"| {backend} | SMTP accept only (same run) | {part['sent']} | {part['sending_seconds']:.2f} "
                f"| {part['accepted_per_second']:.0f} | | | |"
            )
            targets.append(
                f"- {backend}: end to end through SMTP {part['per_second']:.0f} messages/s "
                f"(target >= {TARGET_PER_SECOND:.0f}/s): {verdict(part['per_second'])}"
            )
        if "workers" in result:
            for count, part in result["workers"].items():
                plural = "es" if count != "1" else ""
                acks = "off" if report["args"]["acks"] == "off" else "to a maildir"
                lines.append(
                    f"| {backend} | process ({count} `supportdesk worker` process{plural}, "
                    f"acks {acks}) | {part['messages']} | {part['seconds']:.2f} "
                    f"| **{part['per_second']:.0f}** (running: {part['running_per_second']:.0f}) "
                    f"| {part['workers_cpu_ms_per_message']:.2f} (workers) "
                    f"| {_shares(part)} | {_checked(part['check'])} |"
                )
            best = max(part["per_second"] for part in result["workers"].values())
            targets.append(
                f"- {backend}: processing {best:.0f} messages/s with {args_workers(report)} worker processes "
                f"(target >= {TARGET_PER_SECOND:.0f}/s): {verdict(best)}"
            )
        if "kill" in result:
            part = result["kill"]
            checked = part["check"]
            in_flight = part["at_kill"]["outbox"].get("sending", 0)
            lines.append(
                f"| {backend} | kill test (SIGKILL at {part['at_kill']['processed']} processed, "
                f"{in_flight} jobs started and not recorded; {part['jobs_tried_again']} tried again by the "
                f"second worker) "
                f"| {part['accepted']} | | | | | {_checked(checked)} |"
            )
            fine = checked["lost"] == 0 and checked["duplicated"] == 0
            targets.append(
                f"- {backend}: worker killed mid-batch: {checked['lost']} lost, {checked['duplicated']} "
                f"duplicated (target 0 lost): {'met' if fine else 'NOT met'}"
            )
    return [*lines, "", *targets]


def args_workers(report: dict[str, Any]) -> int:
    return int(report["args"]["workers"])


def _shares(part: dict[str, Any]) -> str:
    database = part.get("database_cpu_share")
    others = part.get("others_cpu_share")
    return f"{'-' if database is None else f'{database:.0%}'} / {'-' if others is None else f'{others:.0%}'}"


def _checked(result: dict[str, int]) -> str:
    wrong = result.get("wrong_outcome", 0) + result.get("wrong_rule", 0)
    return f"{result['lost']} / {result['duplicated']} / {wrong}"


async def main_async(args: argparse.Namespace) -> int:
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "started": args.stamp,
        "machine": machine(),
        "args": {name: value for name, value in vars(args).items() if name in PUBLIC_ARGS},
    }
    with tempfile.TemporaryDirectory(prefix="supportdesk-bench-inbound-") as directory:
        for backend in backends:
            report[backend] = await run_backend(backend, args, Path(directory))
    info = report["machine"]
    print()
    print(
        f"supportdesk {info['source']}; {info['cpu']}, {info['cores']} cores; Python {info['python']}; "
        + "".join(f"{backend} {report[backend]['version']}; " for backend in backends)
        + f"{args.messages} messages per round; total {time.perf_counter() - started:.0f} s"
    )
    print()
    print("\n".join(markdown(report)))
    if not args.no_json:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"inbound-{args.stamp}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nJSON: {path.relative_to(SCRIPT.parent.parent)}")
    return 0


PUBLIC_ARGS: Final = (
    "backend",
    "parts",
    "messages",
    "accept_concurrency",
    "smtp_concurrency",
    "acks",
    "batch",
    "workers",
    "lease",
    "kill_at",
    "seed",
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--messages", type=int, default=2000, help="messages per measured round (2000)")
    parser.add_argument("--accept-concurrency", type=int, default=8, help="messages accepted at once (8)")
    parser.add_argument(
        "--smtp-concurrency", type=int, default=8, help="SMTP connections sending at once (8)"
    )
    parser.add_argument(
        "--acks",
        choices=("skip", "maildir", "off"),
        default="skip",
        help="this process's worker records acknowledgements without sending them (skip), writes them "
        "into a maildir, or the workspace writes none (off)",
    )
    parser.add_argument("--batch", type=int, default=100, help="messages the relay claims per round (100)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the workers part (2)")
    parser.add_argument("--lease", type=float, default=10.0, help="the kill part's delivery lease (10 s)")
    parser.add_argument(
        "--kill-at", type=float, default=0.5, help="share processed when the worker is killed"
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="give up waiting after this")
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="recreated, then dropped")
    parser.add_argument(
        "--profile", action="store_true", help="profile the direct part's processing (cProfile)"
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="count the SQL statements of the direct part's processing, per message and by kind",
    )
    parser.add_argument(
        "--count-instructions",
        action="store_true",
        help="count the direct part's instructions of this process while the worker processes; run as "
        "valgrind --tool=callgrind --instr-atstart=no .venv/bin/python bench/inbound.py --parts direct ... "
        "(the reading child is not counted; callgrind prints the total)",
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/inbound-*.json")
    # The SMTP clients' child process; not for direct use.
    parser.add_argument("--smtp-send", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.messages < 10:
        parser.error("--messages must be at least 10")
    if not 0 < args.kill_at < 1:
        parser.error("--kill-at must be between 0 and 1")
    args.stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smtp_send:
        run_sender(args.port, args.source, args.record, args.smtp_concurrency)
        return 0
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
