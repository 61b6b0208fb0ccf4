"""``SecretKey``: the merchant's secret key, held so that no repr, log or traceback shows it."""

from __future__ import annotations

from typing import NoReturn

from ._errors import OPayValidationError

__all__ = ["SecretKey"]


def _stripped(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class SecretKey:
    r"""The merchant's secret key (``OPAYPRV...``), hidden from ``repr``, ``str`` and pickle.

    The SDK wraps a key in it on the first line that touches the key, so a traceback
    rendered with its frames' local variables (rich's ``show_locals``, Sentry, the
    standard library's ``capture_locals``) shows ``SecretKey('***')`` instead of the
    key. Wrapping never fails, whatever it is given, so that no frame is left holding
    the key in plain text while an error is raised;
    [`check()`][opay_async.SecretKey.check] says what is wrong.
    Surrounding whitespace is stripped: the carriage return a CRLF ``.env`` file
    leaves would otherwise make every signature wrong.

    ``OPayClient`` accepts a ``str`` or a ``SecretKey``.

    Args:
        value: The key, or another ``SecretKey``.

    Examples:
        >>> key = SecretKey(" OPAYPRV_example_key\r\n")
        >>> key
        SecretKey('***')
        >>> key.reveal()
        'OPAYPRV_example_key'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | SecretKey) -> None:
        # Anything is held (a wrong type is reported by check()), so wrapping never raises.
        self._value: object = value._value if isinstance(value, SecretKey) else _stripped(value)

    def check(self) -> SecretKey:
        """Return this key if it can sign requests, else raise (never quoting the key).

        Raises:
            OPayValidationError: Not a string, blank, control characters, or OPay's
                *public* key (``OPAYPUB...``), which cannot sign a close.

        Examples:
            >>> SecretKey("OPAYPUB16000000000000000").check()
            Traceback (most recent call last):
            ...
            opay_async._errors.OPayValidationError: secret_key: this is OPay's public key \
(OPAYPUB...); closing a payment is signed with the merchant's secret key (OPAYPRV...)
        """
        if not isinstance(self._value, str):
            raise OPayValidationError(
                "secret_key", f"must be a string, got {type(self._value).__name__}"
            )
        if not self._value:
            raise OPayValidationError("secret_key", "must be a non-empty string")
        if self._value.startswith("OPAYPUB"):
            raise OPayValidationError(
                "secret_key",
                "this is OPay's public key (OPAYPUB...); closing a payment is signed "
                "with the merchant's secret key (OPAYPRV...)",
            )
        if not self._value.isprintable():
            raise OPayValidationError("secret_key", "must not contain control characters")
        return self

    def reveal(self) -> str:
        """The key itself, for signing. Keep what it returns out of logs and messages.

        Raises:
            OPayValidationError: As [`check()`][opay_async.SecretKey.check].
        """
        self.check()
        assert isinstance(self._value, str)
        return self._value

    def __repr__(self) -> str:
        return "SecretKey('***')"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a SecretKey is not pickled: give each process its key another way")
