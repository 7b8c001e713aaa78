"""The one e-mail address validator, used by the API, the CLI and inbound mail.

Structural problems get precise reason codes from our own checks; the RFC details (allowed characters,
label lengths, internationalised names) are left to the ``email-validator`` package.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254
_LOCAL_ONLY_DOMAINS = frozenset({"localhost"})
# RFC 5322's dot-atom: unquoted ASCII words joined by single dots. Such a local part of at most 64
# characters is valid without more ado (email-validator accepts it on its first check, and
# tests/unit/core/test_emails.py holds the two to agreement); nearly every address is of this kind.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_MAX_LOCAL_LENGTH = 64


class EmailError(StrEnum):
    empty = "empty"
    whitespace = "whitespace"
    missing_at = "missing-at"
    multiple_at = "multiple-at"
    no_user = "no-user"
    no_domain = "no-domain"
    invalid_user = "invalid-user"
    invalid_domain = "invalid-domain"
    too_long = "too-long"


_MESSAGES: dict[EmailError, str] = {
    EmailError.empty: "The e-mail address is empty.",
    EmailError.whitespace: "An e-mail address cannot contain spaces.",
    EmailError.missing_at: "An e-mail address needs an @-sign.",
    EmailError.multiple_at: "An e-mail address has exactly one @-sign.",
    EmailError.no_user: "There is nothing before the @-sign.",
    EmailError.no_domain: "There is nothing after the @-sign.",
    EmailError.invalid_user: "The part before the @-sign is not valid.",
    EmailError.invalid_domain: "The part after the @-sign is not a valid domain.",
    EmailError.too_long: f"An e-mail address has at most {MAX_EMAIL_LENGTH} characters.",
}


@dataclass(frozen=True, slots=True)
class EmailValidation:
    """The outcome of validating one address: the normalised form, or a reason code and message."""

    is_valid: bool
    normalized: str | None = None
    error_code: EmailError | None = None
    message: str | None = None


def _invalid(code: EmailError, message: str | None = None) -> EmailValidation:
    return EmailValidation(is_valid=False, error_code=code, message=message or _MESSAGES[code])


def validate_email_detailed(email: str) -> EmailValidation:
    """Validate ``email``, returning the normalised address (domain lower-cased) or why it is wrong."""
    if email == "":
        return _invalid(EmailError.empty)
    if any(char.isspace() for char in email):
        return _invalid(EmailError.whitespace)
    if len(email) > MAX_EMAIL_LENGTH:
        return _invalid(EmailError.too_long)
    at_signs = email.count("@")
    if at_signs == 0:
        return _invalid(EmailError.missing_at)
    if at_signs > 1:
        return _invalid(EmailError.multiple_at)
    local, domain = email.split("@")
    if not local:
        return _invalid(EmailError.no_user)
    if not domain:
        return _invalid(EmailError.no_domain)
    domain = domain.lower()
    # Each half is checked beside a known-good other half, so the reason names the half at fault.
    problem = _local_problem(local)
    if problem is not None:
        return _invalid(EmailError.invalid_user, problem)
    problem = _domain_problem(domain)
    if problem is not None:
        return _invalid(EmailError.invalid_domain, problem)
    return EmailValidation(is_valid=True, normalized=f"{local}@{domain}")


def _local_problem(local: str) -> str | None:
    """What is wrong with the part before the @-sign, or ``None``."""
    if len(local) <= _MAX_LOCAL_LENGTH and _PLAIN_LOCAL.match(local):
        return None
    return _problem(f"{local}@example.com")


# A desk hears from the same few thousand domains over and over; their verdict never changes.
@functools.lru_cache(maxsize=4096)
def _domain_problem(domain: str) -> str | None:
    """What is wrong with the (lower-cased) part after the @-sign, or ``None``."""
    if domain in _LOCAL_ONLY_DOMAINS:
        # email-validator refuses special-use names; a self-hosted desk legitimately mails user@localhost.
        return None
    return _problem(f"a@{domain}")


def _problem(address: str) -> str | None:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return str(error)
    return None


def is_valid_email(email: str) -> bool:
    """Whether ``email`` is a usable address."""
    return validate_email_detailed(email).is_valid


def normalize_email(email: str) -> str:
    """Return the normalised address or raise ``ValueError`` with the reason code first."""
    result = validate_email_detailed(email)
    if not result.is_valid or result.normalized is None:
        raise ValueError(f"{result.error_code}: {result.message}")
    return result.normalized
