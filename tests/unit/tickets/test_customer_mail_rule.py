"""Which change of status the customer hears of by e-mail."""

from __future__ import annotations

import pytest

from supportdesk.notifications.mail.models import EmailKind
from supportdesk.tickets.events import customer_mail_for
from supportdesk.tickets.models import TicketStatus as S

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(
            S.in_progress, S.resolved, EmailKind.satisfaction_request, id="resolved-asks-for-satisfaction"
        ),
        pytest.param(S.open, S.resolved, EmailKind.satisfaction_request, id="resolved-straight-away"),
        pytest.param(S.assigned, S.pending, EmailKind.status_changed, id="waiting-for-the-customer"),
        pytest.param(S.in_progress, S.closed, EmailKind.status_changed, id="closed-unannounced"),
        pytest.param(S.resolved, S.closed, None, id="closed-after-resolution-is-bookkeeping"),
        pytest.param(S.open, S.assigned, None, id="assigned-is-the-desks-business"),
        pytest.param(S.assigned, S.in_progress, None, id="in-progress-is-the-desks-business"),
        pytest.param(S.resolved, S.open, None, id="reopened-mostly-by-the-customer"),
        pytest.param(S.pending, S.pending, None, id="unchanged"),
    ],
)
def test_the_customer_hears_of_what_concerns_them(before: S, after: S, expected: EmailKind | None) -> None:
    assert customer_mail_for(before, after) == expected


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(S.in_progress, S.resolved, None, id="solved-in-the-portal-asks-nothing-again"),
        pytest.param(S.open, S.resolved, None, id="solved-before-anyone-answered"),
        pytest.param(S.assigned, S.pending, EmailKind.status_changed, id="other-changes-still-announced"),
    ],
)
def test_a_resolution_the_customer_made_sends_no_survey(
    before: S, after: S, expected: EmailKind | None
) -> None:
    assert customer_mail_for(before, after, by_customer=True) == expected
