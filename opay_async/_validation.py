"""attrs validators and converters shared by the value types; they raise OPayValidationError."""

from __future__ import annotations

from typing import Any

from ._errors import OPayValidationError

__all__ = ["country_code", "non_empty_text", "optional_non_empty_text"]


def country_code(value: object, *, field: str = "country") -> str:
    """Return ``value`` as an upper-case ISO 3166-1 alpha-2 code, or raise.

    Example:
        >>> country_code("eg")
        'EG'
    """
    if isinstance(value, str) and len(value) == 2 and value.isascii() and value.isalpha():
        return value.upper()
    raise OPayValidationError(
        field, f"must be two ASCII letters (ISO 3166-1 alpha-2, e.g. 'EG'), got {value!r}"
    )


def non_empty_text(_instance: Any, attribute: Any, value: object) -> None:
    """Check, as an attrs validator, that ``value`` is a string that is not blank."""
    if not isinstance(value, str):
        raise OPayValidationError(attribute.alias, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise OPayValidationError(attribute.alias, "must not be empty")


def optional_non_empty_text(instance: Any, attribute: Any, value: object) -> None:
    """Check like :func:`non_empty_text`, but ``None`` is allowed."""
    if value is not None:
        non_empty_text(instance, attribute, value)
