"""One error hierarchy; every subclass maps to one HTTP status and a stable machine-readable code."""

from __future__ import annotations

from typing import Any, ClassVar


class SupportdeskError(Exception):
    """Base for every error a client may see. ``code`` is stable and documented; ``detail`` is for people."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class NotAuthenticated(SupportdeskError):
    status_code = 401
    code = "not-authenticated"
    title = "Authentication required"


class InvalidCredentials(SupportdeskError):
    status_code = 401
    code = "invalid-credentials"
    title = "The e-mail address or password is wrong"


class PermissionDenied(SupportdeskError):
    status_code = 403
    code = "permission-denied"
    title = "Your role does not allow this action"


class NotFound(SupportdeskError):
    status_code = 404
    code = "not-found"
    title = "Not found"


class Conflict(SupportdeskError):
    status_code = 409
    code = "conflict"
    title = "Conflict"


class PreconditionFailed(SupportdeskError):
    status_code = 412
    code = "precondition-failed"
    title = "The resource changed since you read it"


class InvalidInput(SupportdeskError):
    """Input that passed schema validation but breaks a rule; names the offending field."""

    status_code = 422
    code = "invalid-input"
    title = "Invalid input"

    def __init__(self, field: str, detail: str, *, reason: str = "invalid") -> None:
        super().__init__(detail, errors=[{"field": field, "message": detail, "type": reason}])
        self.field = field


class IdempotencyKeyReused(SupportdeskError):
    status_code = 422
    code = "idempotency-key-reused"
    title = "The Idempotency-Key was already used with a different request"


class IdempotencyKeyInFlight(SupportdeskError):
    status_code = 409
    code = "idempotency-key-in-flight"
    title = "A request with this Idempotency-Key is still being processed"


class NotASession(SupportdeskError):
    """Logout was called with a personal API token, which logout never revokes."""

    status_code = 400
    code = "not-a-session"
    title = "The request is not authenticated with a login session"


class TooManyRequests(SupportdeskError):
    """A rate limit is exhausted; ``retry_after`` is the number of seconds until it is not."""

    status_code = 429
    code = "too-many-requests"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int = 60) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
