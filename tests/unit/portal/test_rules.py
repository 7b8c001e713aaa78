"""The portal's pure rules: secrets and their stored form, when a link signs someone in, what a
customer may do in each status, and how the forms read what was typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from supportdesk.core.schemas import RequestModel
from supportdesk.portal import forms, rules
from supportdesk.portal.rules import LinkState, Purpose
from supportdesk.tickets.models import TicketStatus

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
KEY = "k" * 40
SECRETS = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=20, max_size=60
)


def test_a_new_secret_is_fresh_plausible_and_long() -> None:
    made = {rules.new_secret() for _ in range(50)}
    assert len(made) == 50
    assert all(rules.plausible_secret(secret) and len(secret) >= 43 for secret in made)


@given(secret=SECRETS)
def test_the_stored_form_never_shows_the_secret_and_depends_on_purpose_and_key(secret: str) -> None:
    link = rules.stored_hash(secret, KEY, Purpose.link)
    assert secret not in link
    assert len(link) == 64
    assert link == rules.stored_hash(secret, KEY, Purpose.link)
    assert link != rules.stored_hash(secret, KEY, Purpose.session)
    assert link != rules.stored_hash(secret, "other-" + KEY, Purpose.link)


@given(first=SECRETS, second=SECRETS)
def test_two_secrets_are_stored_apart(first: str, second: str) -> None:
    if first != second:
        assert rules.stored_hash(first, KEY, Purpose.link) != rules.stored_hash(second, KEY, Purpose.link)


@pytest.mark.parametrize(
    ("value", "plausible"),
    [
        pytest.param("a" * 43, True, id="a-made-secret"),
        pytest.param("short", False, id="too-short"),
        pytest.param("a" * 101, False, id="too-long"),
        pytest.param("a" * 30 + "/..", False, id="path-characters"),
        pytest.param("a" * 30 + "\x00", False, id="nul"),
        pytest.param("", False, id="empty"),
    ],
)
def test_only_what_could_be_a_secret_is_looked_up(value: str, plausible: bool) -> None:
    assert rules.plausible_secret(value) is plausible


@pytest.mark.parametrize(
    ("value", "plausible"),
    [
        pytest.param("acme", True, id="letters"),
        pytest.param("acme-eu_2", True, id="hyphen-underscore-digits"),
        pytest.param("-acme", False, id="leading-hyphen"),
        pytest.param("a" * 65, False, id="too-long"),
        pytest.param("ac me", False, id="space"),
        pytest.param("acme\x00", False, id="nul"),
        pytest.param("", False, id="empty"),
    ],
)
def test_only_what_could_be_a_slug_names_a_workspace(value: str, plausible: bool) -> None:
    assert rules.plausible_slug(value) is plausible


@pytest.mark.parametrize(
    ("expires_in", "used", "state"),
    [
        pytest.param(timedelta(minutes=15), False, LinkState.usable, id="fresh"),
        pytest.param(timedelta(seconds=1), False, LinkState.usable, id="last-second"),
        pytest.param(timedelta(0), False, LinkState.expired, id="at-expiry"),
        pytest.param(timedelta(minutes=-1), False, LinkState.expired, id="expired"),
        pytest.param(timedelta(minutes=10), True, LinkState.used, id="used"),
        pytest.param(timedelta(minutes=-10), True, LinkState.used, id="used-and-expired"),
        pytest.param(None, False, LinkState.unknown, id="nobody-made-it"),
    ],
)
def test_when_a_link_signs_someone_in(expires_in: timedelta | None, used: bool, state: LinkState) -> None:
    expires_at = NOW + expires_in if expires_in is not None else None
    assert rules.link_state(expires_at, NOW if used else None, NOW) == state


@given(minutes=st.integers(min_value=0, max_value=60 * 24))
def test_a_link_works_for_exactly_fifteen_minutes(minutes: int) -> None:
    expires_at = rules.link_expires_at(NOW)
    later = NOW + timedelta(minutes=minutes)
    assert (rules.link_state(expires_at, None, later) == LinkState.usable) is (minutes < rules.LINK_MINUTES)


@pytest.mark.parametrize("status", list(TicketStatus), ids=lambda status: status.value)
def test_what_a_customer_may_do_in_each_status(status: TicketStatus) -> None:
    settled = status in (TicketStatus.resolved, TicketStatus.closed)
    assert rules.can_reply(status) is (status != TicketStatus.closed)
    assert rules.can_mark_solved(status) is not settled
    assert rules.can_rate(status) is settled
    assert rules.customer_status(status)


def test_the_customer_reads_the_status_in_their_words() -> None:
    assert rules.customer_status(TicketStatus.pending) == "Waiting for your reply"
    assert rules.customer_status(TicketStatus.resolved) == "Solved"


REQUEST = {"name": None, "email": "maria@example.com", "subject": "Invoice", "message": "Please help."}


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        pytest.param({}, [], id="complete"),
        pytest.param({"email": "maria"}, ["email"], id="broken-address"),
        pytest.param({"email": "maria@example.test"}, ["email"], id="reserved-domain"),
        pytest.param({"subject": " \t"}, ["subject"], id="blank-subject"),
        pytest.param({"subject": "s" * 301}, ["subject"], id="long-subject"),
        pytest.param({"message": ""}, ["message"], id="empty-message"),
        pytest.param({"message": "a\ud800"}, ["message"], id="unpaired-surrogate"),
        pytest.param({"name": "n" * 201, "subject": ""}, ["name", "subject"], id="two-at-once"),
    ],
)
def test_the_request_form_refuses_field_by_field(changes: dict[str, object], refused: list[str]) -> None:
    assert sorted(_refused_fields(forms.RequestForm, REQUEST | changes)) == sorted(refused)


def _refused_fields(form: type[RequestModel], fields: dict[str, object]) -> list[str]:
    try:
        form.model_validate(fields)
    except ValidationError as error:
        return list(forms.field_errors(error))
    return []


def test_the_request_form_trims_the_subject_and_keeps_the_message_as_written() -> None:
    read = forms.RequestForm.model_validate(REQUEST | {"subject": "  Invoice  ", "message": "Line 1\nLine 2"})
    assert read.subject == "Invoice"
    assert read.message == "Line 1\nLine 2"


@pytest.mark.parametrize(
    ("fields", "valid"),
    [
        pytest.param({"rating": "good"}, True, id="good"),
        pytest.param({"rating": "bad", "comment": "Slow"}, True, id="bad-with-comment"),
        pytest.param({"rating": "meh"}, False, id="unknown-rating"),
        pytest.param({"rating": "good", "comment": "c" * 2001}, False, id="long-comment"),
        pytest.param({}, False, id="no-rating"),
    ],
)
def test_the_rating_form(fields: dict[str, str], valid: bool) -> None:
    assert (_refused_fields(forms.RatingForm, dict(fields)) == []) is valid
