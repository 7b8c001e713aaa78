"""What the condition and action models share: reporting an error at the key it is about, and reading
the literals a model is tagged with. No I/O."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError


def field_error(loc: tuple[str | int, ...], kind: str, message: str, value: Any) -> ValidationError:
    """An error at ``loc`` (relative to the value being validated), of type ``kind``."""
    # Raised inside a validator, a ValidationError's errors keep their locations (relative to the value
    # being validated), which is how the dispatchers name `field`, `operator` or `type` precisely.
    error = PydanticCustomError(kind, "{message}", {"message": message})
    return ValidationError.from_exception_data(
        "automation", [InitErrorDetails(type=error, loc=loc, input=value)]
    )


def literals(model: type[BaseModel], name: str) -> tuple[str, ...]:
    """The values of the ``Literal`` that field ``name`` of ``model`` is declared as."""
    return get_args(model.model_fields[name].annotation)
