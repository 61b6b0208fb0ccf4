"""``CloseRequest``: the validated input of one cancellation."""

from __future__ import annotations

import json

import attrs

from ._errors import Identity, OPayValidationError
from ._repr import SafeRepr
from ._validation import country_field, optional_identifier_field

__all__ = ["CloseRequest"]


@attrs.frozen(kw_only=True, repr=False)
class CloseRequest(SafeRepr):
    """What to close: a payment named by ``reference`` and/or ``order_no``, in ``country``.

    Validated on construction, so a bad request fails before anything is sent.

    Attributes:
        reference: The merchant's order number (``reference`` in OPay's API), printable
            text of 1 to 128 characters.
        order_no: OPay's order number (``orderNo`` in OPay's API), the same.
        country: ISO 3166-1 alpha-2 code; lower case is accepted and upper-cased.

    Raises:
        OPayValidationError: Neither identifier given, an empty one, one that is not
            printable or longer than 128 characters, or a bad country.

    Examples:
        >>> CloseRequest(reference="65316571001", country="eg")
        CloseRequest(reference='65316571001', order_no=None, country='EG')
        >>> CloseRequest(reference="65316571001", country="EG").body()
        b'{"country":"EG","reference":"65316571001"}'
    """

    reference: str | None = attrs.field(default=None, validator=optional_identifier_field)
    order_no: str | None = attrs.field(default=None, validator=optional_identifier_field)
    country: str = attrs.field(converter=country_field)

    def __attrs_post_init__(self) -> None:
        if self.reference is None and self.order_no is None:
            raise OPayValidationError(
                "reference", "give a reference or an order_no (OPay needs one of the two)"
            )

    def identity(self) -> Identity:
        """The identifiers errors about this request carry."""
        return {"reference": self.reference, "order_no": self.order_no}

    def body(self) -> bytes:
        """The exact bytes sent, and signed: compact JSON, keys sorted, UTF-8.

        Only the fields that are set appear. ``/`` and non-ASCII characters are not
        escaped, so a server that re-serialises the body gets the same bytes.
        """
        payload = {"country": self.country}
        if self.order_no is not None:
            payload["orderNo"] = self.order_no
        if self.reference is not None:
            payload["reference"] = self.reference
        return json.dumps(
            payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False
        ).encode()
