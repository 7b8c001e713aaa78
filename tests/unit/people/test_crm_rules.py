"""How the CRM's answer changes a customer: a known customer takes the CRM's plan, account manager and
id, and its tier when it gives one; an address the CRM does not know changes nothing but the time of the
check; text too long for the columns is cut, and an id too long is not kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportdesk.integrations.crm import CrmProfile
from supportdesk.people.models import Tier
from supportdesk.people.rules import CRM_TEXT_LENGTH, crm_changes, crm_dedupe_key

pytestmark = pytest.mark.unit

CHECKED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_known_customer_takes_everything_the_crm_gives() -> None:
    profile = CrmProfile(tier=Tier.enterprise, plan="Gold", account_manager="Lee Park", crm_id="c-17")

    assert crm_changes(profile, CHECKED) == {
        "crm_checked_at": CHECKED,
        "crm_plan": "Gold",
        "crm_account_manager": "Lee Park",
        "crm_id": "c-17",
        "tier": Tier.enterprise,
    }


def test_without_a_tier_from_the_crm_the_stored_tier_stays_and_empty_fields_are_emptied() -> None:
    profile = CrmProfile(tier=None, plan=None, account_manager=None, crm_id="c-17")

    changes = crm_changes(profile, CHECKED)

    assert "tier" not in changes
    assert (changes["crm_plan"], changes["crm_account_manager"]) == (None, None)


def test_an_address_the_crm_does_not_know_records_only_when_it_was_asked() -> None:
    assert crm_changes(None, CHECKED) == {"crm_checked_at": CHECKED}


@given(st.text(min_size=1, max_size=3 * CRM_TEXT_LENGTH))
def test_text_always_fits_its_column_and_an_id_is_kept_whole_or_not_at_all(text: str) -> None:
    changes = crm_changes(CrmProfile(tier=None, plan=text, account_manager=text, crm_id=text), CHECKED)

    for key in ("crm_plan", "crm_account_manager"):
        assert len(changes[key]) <= CRM_TEXT_LENGTH
        assert text.startswith(changes[key].removesuffix("…"))
    assert changes["crm_id"] == (text if len(text) <= CRM_TEXT_LENGTH else None)


def test_one_check_per_customer() -> None:
    assert crm_dedupe_key(42) == "crm:customer:42:created"
    assert crm_dedupe_key(42) != crm_dedupe_key(43)
