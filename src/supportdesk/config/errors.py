"""How a refused setting reads: one line that names the environment variable and says what is wrong.

pydantic reports a refusal over several lines, by field name; an operator sets variables, so the
report is turned into one line naming the variable (and the item of a JSON list it is about), without
ever repeating a value that may be a secret. This is apart from ``Settings`` because it depends only on
how pydantic and pydantic-settings report, not on which settings there are.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from pydantic_settings import SettingsError as SourceError

# Variables that replaced another; the old name is still read, and errors name both.
FORMER_NAMES = {"SUPPORTDESK_BACKGROUND": "SUPPORTDESK_SCHEDULER"}


class SettingsError(Exception):
    """A setting is invalid; the message is one line naming it."""


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line that names the environment variable."""
    first = error.errors()[0]
    location = [part for part in first.get("loc", ()) if part != "__root__"]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if location:
        # A field with aliases is located by its first alias, which is the variable's whole name.
        name = _variable(str(location[0]))
        if name in FORMER_NAMES:
            return f"{name}: {message} (also read as {FORMER_NAMES[name]}, its former name)"
        if len(location) > 1:
            # Inside a JSON value (a list of mail providers): say which item and which field is wrong.
            inside = ", ".join(f"item {part + 1}" if isinstance(part, int) else part for part in location[1:])
            return f"{name}: {inside}: {message}"
        return f"{name}: {message}"
    return message


def describe_source_error(error: SourceError) -> str:
    """One line for a value pydantic-settings could not decode as JSON (a list of mail providers).

    The decoder's own message says where the JSON breaks, never what it holds, so no secret is shown.
    """
    field = re.search(r'field "([^"]+)"', str(error))
    cause = error.__cause__
    detail = f"not valid JSON ({cause})" if cause is not None else "not valid JSON"
    return f"{_variable(field.group(1))}: {detail}" if field else str(error)


def _variable(field: str) -> str:
    name = field.upper()
    return name if name.startswith("SUPPORTDESK_") else f"SUPPORTDESK_{name}"
