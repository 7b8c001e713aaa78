"""Which ticket an inbound message belongs to and why, and which messages must never be answered.
Pure functions: the service looks up what they need first (:class:`ThreadFacts`), they decide.

Threading tries, in order, and records the first rule that matched with its evidence:

1. **Our own Message-ID** in In-Reply-To or References: the message answers one the desk sent. A
   ticket's root id (``<ticket-77.w3@domain>``) names its ticket; the id of any later message the desk
   sent is looked up by the service.
2. **The ticket's reply address** (``help+77.5f2c9a1e@domain``), whose signature proves the sender had a
   message from the desk, or the **subject token** (``[#12]``). A token is short and guessable, so it
   counts only for the ticket's customer or a participant: anyone else who writes ``[#12]`` opens a
   ticket of their own instead of writing into someone else's ("Ticket Trick").
3. **The same known sender and the same subject**, on a ticket of theirs that was active within the
   window and is not closed: the reply of a mail program that kept none of the ids.
4. Otherwise a **new ticket**.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from supportdesk.channels.email.parsing import ParsedEmail

# Reply and forward prefixes of the common mail programs, in the languages they are seen in.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r|i|enc|odp|res)\s*(?:\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\[#(\d{1,12})\]")
_ROOT_ID = re.compile(r"^<ticket-(\d{1,18})\.w(\d{1,18})@[^<>@\s]+>$", re.IGNORECASE)
# The ids the desk makes (notifications.mail.threading): a ticket's root, or a message's digest.
_OUR_ID = re.compile(r"^<(?:ticket-\d{1,18}|[0-9a-f]{24})\.w\d{1,18}@([^<>@\s]+)>$", re.IGNORECASE)
# Auto-Submitted values other than "no" (RFC 3834), and Precedence values of machine-made mail.
_MACHINE_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply", "auto-reply"})
_MAILER_DAEMONS = ("mailer-daemon@", "postmaster@")


class ThreadRule(StrEnum):
    our_message_id = "our-message-id"
    reply_address = "reply-address"
    subject_token = "subject-token"  # noqa: S105  (a rule's name, not a secret)
    same_sender_and_subject = "same-sender-and-subject"
    new_ticket = "new-ticket"


@dataclass(frozen=True, slots=True)
class ThreadReason:
    """Where a message went, by which rule, and the evidence an agent can check."""

    rule: ThreadRule
    ticket_id: int | None
    evidence: str


@dataclass(frozen=True, slots=True)
class KnownTicket:
    """What the rules need to know about one candidate ticket."""

    id: int
    number: int
    subject: str
    customer_email: str | None
    participants: frozenset[str] = frozenset()
    closed: bool = False
    last_activity_at: datetime | None = None

    def knows(self, address: str) -> bool:
        """Whether ``address`` is the ticket's customer or one of its participants."""
        address = address.lower()
        return address == (self.customer_email or "").lower() or address in self.participants


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    """What the service looked up for one message, in the message's workspace."""

    workspace_id: int
    # Message-IDs the desk sent (other than ticket roots, which name their ticket themselves), found
    # among the message's In-Reply-To and References, and the ticket each was about.
    sent_ids: Mapping[str, int] = field(default_factory=dict)
    # The ticket a signed per-ticket reply address among the recipients names, if any.
    reply_address_ticket: int | None = None
    # Candidate tickets by id: those the ids, the address and the token name, and the sender's recent
    # ones for the heuristic.
    tickets: Mapping[int, KnownTicket] = field(default_factory=dict)
    # The ticket with the subject token's number, if one exists.
    token_ticket: int | None = None
    # The sender's tickets active within the window, newest first.
    recent_of_sender: Sequence[int] = ()


def subject_token_number(subject: str) -> int | None:
    """The ticket number of the ``[#12]`` token in ``subject``, if there is one."""
    found = _TOKEN.search(subject)
    return int(found.group(1)) if found else None


def normalized_subject(subject: str) -> str:
    """A subject as the heuristic compares it: no reply or forward prefixes, no token, one case."""
    without_token = _TOKEN.sub(" ", subject)
    return " ".join(_PREFIX.sub("", without_token).split()).casefold()


def root_ticket(message_id: str, workspace_id: int) -> int | None:
    """The ticket whose root Message-ID ``message_id`` is, in ``workspace_id``; ``None`` otherwise."""
    found = _ROOT_ID.match(message_id.strip())
    if found is None or int(found.group(2)) != workspace_id:
        return None
    return int(found.group(1))


def referenced_ids(message: ParsedEmail) -> list[str]:
    """The ids a message answers, the most direct first: In-Reply-To, then References from the last."""
    ordered = [*message.in_reply_to, *reversed(message.references)]
    return list(dict.fromkeys(ordered))


def decide_thread(
    message: ParsedEmail, facts: ThreadFacts, *, now: datetime, window: timedelta
) -> ThreadReason:
    """The ticket ``message`` belongs to, and why (see the module's docstring for the order)."""
    sender = message.sender.email.lower() if message.sender else ""
    for message_id in referenced_ids(message):
        ticket_id = root_ticket(message_id, facts.workspace_id)
        what = "the root of"
        if ticket_id is None:
            ticket_id = facts.sent_ids.get(message_id)
            what = "a message the desk sent on"
        if ticket_id is not None and ticket_id in facts.tickets:
            header = "In-Reply-To" if message_id in message.in_reply_to else "References"
            number = facts.tickets[ticket_id].number
            return ThreadReason(
                ThreadRule.our_message_id, ticket_id, f"{header} names {message_id}, {what} ticket #{number}"
            )
    if facts.reply_address_ticket is not None and facts.reply_address_ticket in facts.tickets:
        ticket = facts.tickets[facts.reply_address_ticket]
        return ThreadReason(
            ThreadRule.reply_address,
            ticket.id,
            f"sent to the reply address of ticket #{ticket.number}, whose signature checks out",
        )
    token = subject_token_number(message.subject)
    ignored = ""
    token_ticket = facts.tickets.get(facts.token_ticket) if facts.token_ticket is not None else None
    if token is not None and token_ticket is not None:
        ticket = token_ticket
        if ticket.knows(sender):
            return ThreadReason(
                ThreadRule.subject_token,
                ticket.id,
                f"the subject carries [#{token}] and {sender} is on the ticket",
            )
        ignored = (
            f"; the subject's [#{token}] was not followed: {sender or 'the sender'} is not on that ticket"
        )
    wanted = normalized_subject(message.subject)
    for ticket_id in facts.recent_of_sender:
        candidate = facts.tickets.get(ticket_id)
        if candidate is None or candidate.closed or not candidate.knows(sender) or not wanted:
            continue
        last = candidate.last_activity_at
        if last is not None and now - last <= window and normalized_subject(candidate.subject) == wanted:
            hours = window.total_seconds() / 3600
            return ThreadReason(
                ThreadRule.same_sender_and_subject,
                candidate.id,
                f"{sender} wrote on ticket #{candidate.number} within {hours:g} h with the same subject "
                f"and the message names no id the desk knows{ignored}",
            )
    return ThreadReason(ThreadRule.new_ticket, None, f"no rule matched{ignored}")


# --- messages that are never answered --------------------------------------------------------------


class Automated(StrEnum):
    """Why a message is recorded but never answered."""

    bounce = "bounce"
    auto_reply = "auto-reply"
    bulk = "bulk"
    loop = "loop"
    rate_limited = "rate-limited"


@dataclass(frozen=True, slots=True)
class AutomatedReason:
    kind: Automated
    evidence: str


def automated(
    message: ParsedEmail,
    *,
    own_domains: frozenset[str],
    own_addresses: frozenset[str],
    from_sender_recently: int = 0,
    sender_limit: int = 20,
) -> AutomatedReason | None:
    """Why ``message`` must not be answered, or ``None`` for a person's message.

    ``own_domains`` are the domains of the Message-IDs the desk makes, and ``own_addresses`` the
    addresses it sends from and takes replies at: a message whose own id the desk made, or that comes
    from one of those addresses, is the desk's mail come back (a loop). Colleagues who share the desk's
    domain are people like any others. ``from_sender_recently`` is how many messages the sender sent
    within the service's rate window; past ``sender_limit`` the sender is a machine that answers every
    message, whatever its headers say.
    """
    headers = message.headers
    sender = message.sender.email.lower() if message.sender else ""
    if message.bounce is not None and message.bounce.failed_recipients:
        failed = ", ".join(message.bounce.failed_recipients)
        return AutomatedReason(Automated.bounce, f"a delivery status report: {failed} could not be reached")
    if sender.startswith(_MAILER_DAEMONS):
        return AutomatedReason(Automated.bounce, f"sent by {sender}")
    own_id = message.message_id or ""
    made_here = _OUR_ID.match(own_id)
    if made_here is not None and made_here.group(1).lower() in own_domains:
        return AutomatedReason(Automated.loop, f"its Message-ID {own_id} is one the desk made")
    local, _, domain = sender.partition("@")
    if sender in own_addresses or f"{local.split('+', 1)[0]}@{domain}" in own_addresses:
        return AutomatedReason(Automated.loop, f"sent from the desk's own address {sender}")
    submitted = headers.get("auto-submitted", "").split(";", 1)[0].strip().lower()
    if submitted and submitted != "no":
        return AutomatedReason(Automated.auto_reply, f"Auto-Submitted: {submitted}")
    for name in ("x-autoreply", "x-autorespond"):
        if headers.get(name):
            return AutomatedReason(Automated.auto_reply, f"{name}: {headers[name]}")
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in _MACHINE_PRECEDENCE:
        kind = Automated.auto_reply if "auto" in precedence else Automated.bulk
        return AutomatedReason(kind, f"Precedence: {precedence}")
    if headers.get("list-id") or headers.get("list-unsubscribe"):
        return AutomatedReason(Automated.bulk, "sent through a mailing list")
    if from_sender_recently >= sender_limit:
        return AutomatedReason(
            Automated.rate_limited, f"{sender} sent {from_sender_recently} messages within the rate window"
        )
    return None


class Authenticity(StrEnum):
    """What the receiving server's checks said of the sender's domain."""

    passed = "pass"
    failed = "fail"
    unknown = "unknown"


_RESULT = re.compile(r"\b(spf|dkim|dmarc)\s*=\s*([a-z]+)", re.IGNORECASE)


def authenticity(message: ParsedEmail, trusted_servers: frozenset[str]) -> Authenticity:
    """The sender's authenticity by the Authentication-Results of a server the desk trusts.

    Only a header whose authserv-id (its first word) names a trusted server counts: anyone can write
    the header into a message, so one added before the desk's own server saw the message proves
    nothing. DMARC decides when present; without it, a failed SPF with no passing DKIM is a failure.
    """
    value = message.headers.get("authentication-results", "")
    server = value.split(";", 1)[0].strip().lower()
    if not value or server not in trusted_servers:
        return Authenticity.unknown
    results = {method.lower(): outcome.lower() for method, outcome in _RESULT.findall(value)}
    if "dmarc" in results:
        return Authenticity.passed if results["dmarc"] == "pass" else Authenticity.failed
    if results.get("dkim") == "pass" or results.get("spf") == "pass":
        return Authenticity.passed
    if results.get("spf") in ("fail", "softfail"):
        return Authenticity.failed
    return Authenticity.unknown
