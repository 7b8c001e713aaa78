"""The error hierarchy: every error a client can see has one HTTP status and one stable code."""

from __future__ import annotations

import pytest

from supportdesk.core.errors import (
    Conflict,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidCredentials,
    InvalidInput,
    NotASession,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    SupportdeskError,
    TooManyRequests,
)

# The documented contract: clients branch on these codes, so they never change silently.
EXPECTED: list[tuple[type[SupportdeskError], int, str]] = [
    (SupportdeskError, 400, "bad-request"),
    (NotAuthenticated, 401, "not-authenticated"),
    (InvalidCredentials, 401, "invalid-credentials"),
    (PermissionDenied, 403, "permission-denied"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "conflict"),
    (PreconditionFailed, 412, "precondition-failed"),
    (InvalidInput, 422, "invalid-input"),
    (IdempotencyKeyReused, 422, "idempotency-key-reused"),
    (IdempotencyKeyInFlight, 409, "idempotency-key-in-flight"),
    (NotASession, 400, "not-a-session"),
    (TooManyRequests, 429, "too-many-requests"),
]


def _all_error_classes(root: type[SupportdeskError]) -> set[type[SupportdeskError]]:
    found = {root}
    for subclass in root.__subclasses__():
        found |= _all_error_classes(subclass)
    return found


class TestStatusAndCode:
    @pytest.mark.parametrize(
        ("error_class", "status", "code"),
        [pytest.param(cls, status, code, id=f"{code}-is-{status}") for cls, status, code in EXPECTED],
    )
    def test_each_error_has_its_status_and_code(
        self, error_class: type[SupportdeskError], status: int, code: str
    ) -> None:
        assert error_class.status_code == status
        assert error_class.code == code

    @pytest.mark.parametrize("error_class", [cls for cls, _, _ in EXPECTED], ids=lambda cls: cls.code)
    def test_the_api_error_handler_catches_it(self, error_class: type[SupportdeskError]) -> None:
        assert issubclass(error_class, SupportdeskError)
        assert issubclass(error_class, Exception)

    def test_codes_are_distinct(self) -> None:
        codes = [code for _, _, code in EXPECTED]
        assert len(codes) == len(set(codes))

    def test_every_error_class_in_the_core_module_is_in_the_table(self) -> None:
        core_classes = {
            cls
            for cls in _all_error_classes(SupportdeskError)
            if cls.__module__ == SupportdeskError.__module__
        }
        assert core_classes == {cls for cls, _, _ in EXPECTED}


class TestDetail:
    @pytest.mark.parametrize(
        "error_class", [cls for cls, _, _ in EXPECTED if cls is not InvalidInput], ids=lambda cls: cls.code
    )
    def test_without_a_detail_the_title_is_shown(self, error_class: type[SupportdeskError]) -> None:
        error = error_class()
        assert error.detail == error_class.title
        assert str(error) == error_class.title

    def test_a_given_detail_is_shown(self) -> None:
        error = NotFound("Ticket 42 does not exist")
        assert error.detail == "Ticket 42 does not exist"
        assert str(error) == "Ticket 42 does not exist"

    def test_too_many_requests_says_when_to_retry(self) -> None:
        assert TooManyRequests(retry_after=17).retry_after == 17

    def test_extra_fields_are_kept_for_the_problem_body(self) -> None:
        error = PreconditionFailed("stale", current_version=4)
        assert error.extra == {"current_version": 4}


class TestInvalidInput:
    def test_it_names_the_field_and_the_reason(self) -> None:
        error = InvalidInput("assigned_agent_id", "No such agent.", reason="unknown-agent")
        assert error.field == "assigned_agent_id"
        assert error.detail == "No such agent."
        assert error.extra == {
            "errors": [{"field": "assigned_agent_id", "message": "No such agent.", "type": "unknown-agent"}]
        }

    def test_the_reason_defaults_to_invalid(self) -> None:
        error = InvalidInput("title", "Bad title.")
        assert error.extra["errors"][0]["type"] == "invalid"
