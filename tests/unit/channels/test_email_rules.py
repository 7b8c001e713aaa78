"""Which ticket an inbound message joins, and why; which messages are never answered; whose sender is
in doubt. The rules get what the service looked up and decide, so every case is a plain call."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.channels.email.parsing import Address, Bounce, ParsedEmail
from supportdesk.channels.email.rules import (
    Authenticity,
    Automated,
    KnownTicket,
    ThreadFacts,
    ThreadRule,
    authenticity,
    automated,
    decide_thread,
    normalized_subject,
    referenced_ids,
    root_ticket,
    subject_token_number,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=7)
WORKSPACE = 3
TICKET = KnownTicket(
    id=77,
    number=12,
    subject="Printer on fire",
    customer_email="ann@example.com",
    participants=frozenset({"boss@example.com"}),
    last_activity_at=NOW - timedelta(days=1),
)


def inbound(
    *,
    sender: str = "ann@example.com",
    subject: str = "Re: [#12] Printer on fire",
    in_reply_to: tuple[str, ...] = (),
    references: tuple[str, ...] = (),
    headers: dict[str, str] | None = None,
    message_id: str | None = "<m1@mail.example.com>",
    bounce: Bounce | None = None,
) -> ParsedEmail:
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        sender=Address(sender),
        reply_to=(),
        to=(Address("help@acme.test"),),
        cc=(),
        date=None,
        text="Still burning.",
        html=None,
        reply="Still burning.",
        quoted="",
        attachments=(),
        bounce=bounce,
        headers=headers or {},
    )


def facts(
    *,
    sent_ids: dict[str, int] | None = None,
    reply_address_ticket: int | None = None,
    token_ticket: int | None = None,
    tickets: dict[int, KnownTicket] | None = None,
    recent_of_sender: list[int] | None = None,
) -> ThreadFacts:
    return ThreadFacts(
        WORKSPACE,
        sent_ids=sent_ids or {},
        reply_address_ticket=reply_address_ticket,
        tickets=tickets if tickets is not None else {TICKET.id: TICKET},
        token_ticket=token_ticket,
        recent_of_sender=recent_of_sender or [],
    )


def decide(message: ParsedEmail, known: ThreadFacts) -> tuple[ThreadRule, int | None, str]:
    reason = decide_thread(message, known, now=NOW, window=WINDOW)
    return reason.rule, reason.ticket_id, reason.evidence


# --- threading, in its order -----------------------------------------------------------------------


def test_a_reply_naming_the_tickets_root_id_joins_it_whatever_its_subject() -> None:
    message = inbound(subject="something else entirely", in_reply_to=("<ticket-77.w3@acme.test>",))

    assert decide(message, facts()) == (
        ThreadRule.our_message_id,
        77,
        "In-Reply-To names <ticket-77.w3@acme.test>, the root of ticket #12",
    )


def test_a_reply_naming_only_a_later_message_in_references_joins_that_messages_ticket() -> None:
    # Zammad misses follow-ups linked only by References; here the last reference the desk knows counts.
    message = inbound(
        subject="Fwd: notes",
        in_reply_to=("<someone-else@mail.example.com>",),
        references=("<unrelated@example.org>", "<3f9a0c1d2e4b5a6978c0d1e2.w3@acme.test>"),
    )
    known = facts(sent_ids={"<3f9a0c1d2e4b5a6978c0d1e2.w3@acme.test>": 77})

    assert decide(message, known) == (
        ThreadRule.our_message_id,
        77,
        "References names <3f9a0c1d2e4b5a6978c0d1e2.w3@acme.test>, a message the desk sent on ticket #12",
    )


def test_a_root_id_of_another_workspace_is_not_this_workspaces_ticket() -> None:
    message = inbound(subject="no token", in_reply_to=("<ticket-77.w4@acme.test>",))

    assert decide(message, facts())[0] == ThreadRule.new_ticket


def test_the_tickets_signed_reply_address_comes_next() -> None:
    message = inbound(subject="no token here")

    assert decide(message, facts(reply_address_ticket=77)) == (
        ThreadRule.reply_address,
        77,
        "sent to the reply address of ticket #12, whose signature checks out",
    )


@pytest.mark.parametrize("sender", ["ann@example.com", "BOSS@example.com"], ids=["customer", "participant"])
def test_the_subject_token_joins_the_ticket_for_its_customer_and_participants(sender: str) -> None:
    rule, ticket_id, evidence = decide(inbound(sender=sender), facts(token_ticket=77))

    assert (rule, ticket_id) == (ThreadRule.subject_token, 77)
    assert evidence == f"the subject carries [#12] and {sender.lower()} is on the ticket"


def test_a_stranger_who_writes_the_token_opens_a_ticket_of_their_own() -> None:
    # "Ticket Trick": a guessed or copied [#12] must not put a stranger's words into someone's ticket.
    message = inbound(sender="mallory@evil.test")

    assert decide(message, facts(token_ticket=77)) == (
        ThreadRule.new_ticket,
        None,
        "no rule matched; the subject's [#12] was not followed: mallory@evil.test is not on that ticket",
    )


def test_a_known_sender_with_the_same_subject_joins_their_recent_ticket() -> None:
    message = inbound(subject="AW: Printer on fire")

    rule, ticket_id, evidence = decide(message, facts(recent_of_sender=[77]))

    assert (rule, ticket_id) == (ThreadRule.same_sender_and_subject, 77)
    assert evidence.startswith("ann@example.com wrote on ticket #12 within 168 h with the same subject")


@pytest.mark.parametrize(
    ("ticket", "subject"),
    [
        pytest.param(replace(TICKET, closed=True), "Re: Printer on fire", id="closed"),
        pytest.param(
            replace(TICKET, last_activity_at=NOW - timedelta(days=8)), "Re: Printer on fire", id="stale"
        ),
        pytest.param(TICKET, "Re: Printer jammed", id="other-subject"),
        pytest.param(replace(TICKET, customer_email="someone@else.test"), "Printer on fire", id="not-theirs"),
        pytest.param(TICKET, "Re:", id="empty-subject"),
    ],
)
def test_the_heuristic_stays_away_from_tickets_it_is_not_sure_of(ticket: KnownTicket, subject: str) -> None:
    message = inbound(subject=subject)

    assert decide(message, facts(tickets={77: ticket}, recent_of_sender=[77]))[0] == ThreadRule.new_ticket


def test_a_message_that_matches_nothing_opens_a_ticket() -> None:
    assert decide(inbound(subject="Hello"), facts()) == (ThreadRule.new_ticket, None, "no rule matched")


@settings(max_examples=200, deadline=None)
@given(
    sender=st.sampled_from(["ann@example.com", "boss@example.com", "mallory@evil.test"]),
    subject=st.one_of(
        st.sampled_from(["Re: [#12] Printer on fire", "AW: printer ON fire", "[#12]", "Printer on fire"]),
        st.text(max_size=40),
    ),
    in_reply_to=st.lists(st.sampled_from(["<ticket-77.w3@acme.test>", "<x@y>", "<ticket-9.w3@acme.test>"])),
    reply_address=st.sampled_from([None, 77]),
    token=st.sampled_from([None, 77]),
)
def test_a_stranger_joins_a_ticket_only_with_an_id_or_address_the_desk_sent(
    sender: str, subject: str, in_reply_to: list[str], reply_address: int | None, token: int | None
) -> None:
    message = inbound(sender=sender, subject=subject, in_reply_to=tuple(in_reply_to))
    known = facts(reply_address_ticket=reply_address, token_ticket=token, recent_of_sender=[77])

    rule, ticket_id, evidence = decide(message, known)

    assert evidence
    assert (ticket_id is None) == (rule == ThreadRule.new_ticket)
    if sender == "mallory@evil.test":
        assert rule in (ThreadRule.our_message_id, ThreadRule.reply_address, ThreadRule.new_ticket)


# --- the pieces --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "normalized"),
    [
        ("Re: [#12] Printer on fire", "printer on fire"),
        ("AW: WG: Printer  on   FIRE", "printer on fire"),
        ("RE[2]: Fwd: printer on fire", "printer on fire"),
        ("SV: VS: Printer on fire", "printer on fire"),
        ("Réponse: Printer on fire", "réponse: printer on fire"),
    ],
)
def test_subjects_are_compared_without_reply_prefixes_token_or_case(subject: str, normalized: str) -> None:
    assert normalized_subject(subject) == normalized


def test_the_subject_token_is_read_anywhere_in_the_subject() -> None:
    assert subject_token_number("Printer [#12] on fire") == 12
    assert subject_token_number("Printer #12 on fire") is None


def test_only_this_workspaces_root_ids_name_a_ticket() -> None:
    assert root_ticket("<ticket-77.w3@acme.test>", 3) == 77
    assert root_ticket("<ticket-77.w3@acme.test>", 4) is None
    assert root_ticket("<ticket-77@acme.test>", 3) is None


def test_the_most_direct_reference_is_tried_first() -> None:
    message = inbound(in_reply_to=("<c>",), references=("<a>", "<b>", "<c>"))

    assert referenced_ids(message) == ["<c>", "<b>", "<a>"]


# --- messages never answered -------------------------------------------------------------------------

OWN_DOMAINS = frozenset({"acme.test"})
OWN_ADDRESSES = frozenset({"help@acme.test"})


@pytest.mark.parametrize(
    ("message", "kind", "evidence"),
    [
        pytest.param(
            inbound(bounce=Bounce(("gone@example.com",), "5.1.1", "user unknown")),
            Automated.bounce,
            "a delivery status report: gone@example.com could not be reached",
            id="dsn",
        ),
        pytest.param(
            inbound(sender="mailer-daemon@mx.example.com"),
            Automated.bounce,
            "sent by mailer-daemon@mx.example.com",
            id="daemon",
        ),
        pytest.param(
            inbound(message_id="<ticket-77.w3@acme.test>"),
            Automated.loop,
            "its Message-ID <ticket-77.w3@acme.test> is one the desk made",
            id="our-own-id",
        ),
        pytest.param(
            inbound(sender="help+77.5f2c9a1e@acme.test"),
            Automated.loop,
            "sent from the desk's own address help+77.5f2c9a1e@acme.test",
            id="our-own-address",
        ),
        pytest.param(
            inbound(headers={"auto-submitted": "auto-replied"}),
            Automated.auto_reply,
            "Auto-Submitted: auto-replied",
            id="rfc3834",
        ),
        pytest.param(
            inbound(headers={"x-autoreply": "yes"}),
            Automated.auto_reply,
            "x-autoreply: yes",
            id="x-autoreply",
        ),
        pytest.param(
            inbound(headers={"precedence": "auto_reply"}),
            Automated.auto_reply,
            "Precedence: auto_reply",
            id="precedence-auto",
        ),
        pytest.param(
            inbound(headers={"precedence": "bulk"}), Automated.bulk, "Precedence: bulk", id="precedence-bulk"
        ),
        pytest.param(
            inbound(headers={"list-id": "<news.example.com>"}),
            Automated.bulk,
            "sent through a mailing list",
            id="list",
        ),
    ],
)
def test_machine_mail_is_recognised_and_never_answered(
    message: ParsedEmail, kind: Automated, evidence: str
) -> None:
    reason = automated(message, own_domains=OWN_DOMAINS, own_addresses=OWN_ADDRESSES)

    assert reason is not None
    assert (reason.kind, reason.evidence) == (kind, evidence)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(inbound(), id="a-customer"),
        pytest.param(inbound(sender="colleague@acme.test"), id="a-colleague-on-the-desks-domain"),
        pytest.param(inbound(headers={"auto-submitted": "no"}), id="auto-submitted-no"),
        pytest.param(inbound(message_id="<CAF=abc@mail.gmail.com>"), id="someone-elses-id"),
    ],
)
def test_a_persons_message_is_answered(message: ParsedEmail) -> None:
    assert automated(message, own_domains=OWN_DOMAINS, own_addresses=OWN_ADDRESSES) is None


def test_a_sender_past_the_rate_limit_is_treated_as_a_machine() -> None:
    reason = automated(
        inbound(),
        own_domains=OWN_DOMAINS,
        own_addresses=OWN_ADDRESSES,
        from_sender_recently=20,
        sender_limit=20,
    )

    assert reason is not None
    assert reason.kind == Automated.rate_limited
    assert (
        automated(
            inbound(),
            own_domains=OWN_DOMAINS,
            own_addresses=OWN_ADDRESSES,
            from_sender_recently=19,
            sender_limit=20,
        )
        is None
    )


# --- authenticity ----------------------------------------------------------------------------------

TRUSTED = frozenset({"mx.acme.test"})


@pytest.mark.parametrize(
    ("header", "verdict"),
    [
        pytest.param(
            "mx.acme.test; spf=pass smtp.mailfrom=example.com; dkim=pass; dmarc=pass",
            Authenticity.passed,
            id="all-pass",
        ),
        pytest.param(
            "mx.acme.test; spf=fail smtp.mailfrom=example.com; dkim=pass; dmarc=fail",
            Authenticity.failed,
            id="dmarc-decides",
        ),
        pytest.param(
            "mx.acme.test; spf=fail smtp.mailfrom=example.com; dkim=none",
            Authenticity.failed,
            id="spf-fail-no-dkim",
        ),
        pytest.param(
            "mx.acme.test; spf=softfail; dkim=pass header.d=example.com", Authenticity.passed, id="dkim-saves"
        ),
        pytest.param("mx.acme.test; none", Authenticity.unknown, id="nothing-checked"),
        pytest.param(
            "mx.evil.test; spf=pass; dkim=pass; dmarc=pass", Authenticity.unknown, id="untrusted-server"
        ),
        pytest.param("", Authenticity.unknown, id="absent"),
    ],
)
def test_the_trusted_servers_checks_say_whether_the_sender_is_who_they_claim(
    header: str, verdict: Authenticity
) -> None:
    message = inbound(headers={"authentication-results": header} if header else {})

    assert authenticity(message, TRUSTED) == verdict
