"""SLA request and response bodies: what they accept, how they store it, and how they show it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from supportdesk.sla.rules import SlaState, TargetStatus
from supportdesk.sla.schemas import (
    CalendarCreate,
    PolicyCreate,
    PolicyOut,
    PolicyUpdate,
    PriorityMinutes,
    WeeklyHours,
    sla_out,
)
from supportdesk.sla.service import SlaView

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def error_types(error: ValidationError) -> list[tuple[str, str]]:
    return [(".".join(str(part) for part in item["loc"]), item["type"]) for item in error.errors()]


class TestOpeningHours:
    def test_times_are_kept_in_one_spelling_and_closed_days_are_left_out(self) -> None:
        hours = WeeklyHours.model_validate(
            {
                "friday": [{"start": "9:00", "end": "13:00"}],
                "monday": [{"start": " 08:30", "end": "24:00"}],
                "sunday": [],
            }
        )
        assert hours.stored() == {"monday": [["08:30", "24:00"]], "friday": [["09:00", "13:00"]]}
        assert list(hours.stored()) == ["monday", "friday"]  # week order, whatever the request's order

    @pytest.mark.parametrize("text", ["25:00", "24:01", "9", "09:60", "9am", "", "09:00:00"])
    def test_what_is_not_a_time_of_day_is_refused(self, text: str) -> None:
        with pytest.raises(ValidationError) as raised:
            WeeklyHours.model_validate({"monday": [{"start": text, "end": "17:00"}]})
        assert error_types(raised.value)[0][0] == "monday.0.start"

    def test_an_unknown_weekday_is_refused(self) -> None:
        with pytest.raises(ValidationError) as raised:
            WeeklyHours.model_validate({"mon": [{"start": "09:00", "end": "17:00"}]})
        assert error_types(raised.value) == [("mon", "extra_forbidden")]


class TestCustomHolidays:
    def body(self, holidays: list[Any]) -> dict[str, Any]:
        return {"name": "Office", "timezone": "UTC", "weekly_hours": {}, "custom_holidays": holidays}

    def test_iso_dates_and_dates_are_taken(self) -> None:
        calendar = CalendarCreate.model_validate(self.body(["2026-12-24", date(2026, 12, 31)]))
        assert calendar.custom_holidays == [date(2026, 12, 24), date(2026, 12, 31)]

    @pytest.mark.parametrize(
        "value",
        ["2026-02-30", "20261224", "24.12.2026", 1_767_225_600, datetime(2026, 12, 24, tzinfo=UTC)],
        ids=["no-such-day", "basic-format", "german", "seconds", "datetime"],
    )
    def test_anything_but_a_calendar_date_is_refused(self, value: Any) -> None:
        with pytest.raises(ValidationError) as raised:
            CalendarCreate.model_validate(self.body([value]))
        assert error_types(raised.value) == [("custom_holidays.0", "date_format")]

    def test_the_holiday_country_is_upper_cased_but_not_the_subdivision(self) -> None:
        calendar = CalendarCreate.model_validate(
            {**self.body([]), "holiday_country": " fr ", "holiday_subdivision": "Zone A"}
        )
        assert (calendar.holiday_country, calendar.holiday_subdivision) == ("FR", "Zone A")


class TestTargets:
    def test_only_the_priorities_given_are_stored(self) -> None:
        minutes = PriorityMinutes.model_validate({"high": 90, "critical": 15, "low": None})
        assert minutes.stored() == {"high": 90, "critical": 15}

    @pytest.mark.parametrize(
        ("value", "error_type"),
        [
            (0, "greater_than_equal"),
            (525_601, "less_than_equal"),
            (True, "int_type"),
            ("30", "int_type"),
        ],
    )
    def test_minutes_are_whole_and_positive(self, value: Any, error_type: str) -> None:
        with pytest.raises(ValidationError) as raised:
            PolicyCreate.model_validate({"name": "P", "first_response_minutes": {"high": value}})
        assert error_types(raised.value) == [("first_response_minutes.high", error_type)]

    def test_a_category_is_lower_cased(self) -> None:
        assert PolicyCreate.model_validate({"name": "P", "category": "Billing"}).category == "billing"

    def test_a_patch_may_clear_the_scope_but_not_the_targets(self) -> None:
        assert PolicyUpdate.model_validate({"tier": None, "category": None, "calendar_id": None})
        with pytest.raises(ValidationError) as raised:
            PolicyUpdate.model_validate({"resolution_minutes": None})
        assert error_types(raised.value) == [("resolution_minutes", "null")]

    def test_the_view_shows_the_targets_in_force_for_every_priority(self) -> None:
        policy = PolicyOut.model_validate(
            {
                "id": 1,
                "name": "Premium",
                "tier": "premium",
                "category": None,
                "calendar_id": None,
                "first_response_minutes": {"critical": 20},
                "resolution_minutes": {"low": 600},
                "created_at": NOW,
                "updated_at": NOW,
                "version": 1,
            }
        )
        shown = policy.model_dump(mode="json")["targets"]
        assert list(shown) == ["critical", "high", "medium", "low"]
        assert shown["critical"] == {"first_response_minutes": 20, "resolution_minutes": 480}
        assert shown["low"] == {"first_response_minutes": 4320, "resolution_minutes": 600}
        assert shown["high"] == {"first_response_minutes": 240, "resolution_minutes": 1440}


def test_sla_out_shows_each_target_and_leaves_untracked_ones_empty() -> None:
    view = SlaView(
        policy_id=7,
        first_response=TargetStatus(NOW, -90, SlaState.breached),
        resolution=None,
    )
    shown = sla_out(view).model_dump(mode="json")
    assert shown == {
        "policy_id": 7,
        "first_response": {"due_at": "2026-03-02T09:00:00Z", "remaining_seconds": -90, "state": "breached"},
        "resolution": None,
    }
